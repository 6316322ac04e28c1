/**
 * The SDK's PartitionReader against a real broker, in both modes ('stream':
 * one Log.Subscribe stream; 'fetch': one Log.Fetch per call): every record
 * once and in order, tailing, seeks, OFFSET_OUT_OF_RANGE with and without
 * offsetReset, a deleted topic, close() during a waiting fetch or during
 * ListOffsets retries against an unreachable address, a SIGKILLed and
 * restarted broker (also while nobody fetched, until the stream gave up);
 * a stream reader that stops fetching holds a bounded buffer, and leaving a
 * `for await` loop closes its stream.
 */
import { Admin, BrookError, Connection, PartitionReader, Producer, type ConsumedRecord, type ReaderMode } from '../../src/client';
import { freePort, randomTopicName, useBroker, useFixedPortBroker } from '../helpers/broker';

const fixture = useBroker();
// Quick to notice a broker that is back, patient with one that takes long to
// come back (a slow CI machine): 50 ms doubling to 500 ms, then 500 ms
// (+-20%) up to 80 times, at least ~30 s of connection refused in all.
const QUICK_RETRY = { retries: 80, initialBackoffMs: 50, maxBackoffMs: 500, multiplier: 2, jitter: 0.2 };

async function createTopic(connection: Connection, prefix: string): Promise<string> {
  const topic = randomTopicName(prefix);
  await new Admin(connection).createTopic(topic, { partitions: 1 });
  return topic;
}

/** Writes values `${prefix}${from}` .. `${prefix}${to - 1}` to partition 0, in sends of `per` records. */
async function produce(connection: Connection, topic: string, from: number, to: number, per = 1000, producerOptions = {}): Promise<void> {
  const producer = new Producer(connection, producerOptions);
  try {
    const sends: Promise<unknown>[] = [];
    for (let i = from; i < to; i += per) {
      const n = Math.min(per, to - i);
      sends.push(producer.send(Array.from({ length: n }, (_, j) => ({ topic, partition: 0, value: `v${i + j}`.padEnd(100, '.') }))));
    }
    await Promise.all(sends);
  } finally {
    await producer.close();
  }
}

/** Fetches until `count` records have come (or a fetch fails); checks each is the next offset, with its value. */
async function readExactly(reader: PartitionReader, count: number, firstOffset: number, seen: ConsumedRecord[] = []): Promise<ConsumedRecord[]> {
  let next = firstOffset + seen.length;
  while (seen.length < count) {
    const { records } = await reader.fetch(undefined, 2000);
    for (const r of records) {
      if (r.offset !== next) throw new Error(`expected offset ${next}, got ${r.offset}`);
      if (r.value!.toString().trimEnd().replace(/\.+$/, '') !== `v${r.offset}`) throw new Error(`offset ${r.offset} holds ${r.value!.toString()}`);
      next++;
      seen.push(r);
    }
  }
  return seen;
}

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each<ReaderMode>(['stream', 'fetch'])('PartitionReader, %s mode', (mode) => {
  it('reads a large partition from offset 0: every record once, in order, then an empty fetch at the high watermark', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'read-all');
    const total = 200_000;
    await produce(connection, topic, 0, total);
    const reader = new PartitionReader(connection, topic, 0, 0, { mode, maxWaitMs: 0 });
    try {
      await readExactly(reader, total, 0);
      expect(reader.position).toBe(total);
      const after = await reader.fetch();
      expect(after.records).toEqual([]);
      expect(after.highWatermark).toBe(total);
      expect(reader.highWatermark).toBe(total);
      expect(reader.logStartOffset).toBe(0);
    } finally {
      reader.close();
    }
  }, 60_000);

  it('tails: records produced after it started arrive, and a wait with nothing new returns no records', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'tail');
    await produce(connection, topic, 0, 10);
    const reader = new PartitionReader(connection, topic, 0, 'latest', { mode, maxWaitMs: 100 });
    try {
      const idle = await reader.fetch();
      expect(idle.records).toEqual([]);
      expect(idle.highWatermark).toBe(10);
      expect(reader.position).toBe(10);
      const seen: ConsumedRecord[] = [];
      const reading = readExactly(reader, 30, 10, seen);
      for (let round = 0; round < 3; round++) {
        await produce(connection, topic, 10 + round * 10, 20 + round * 10, 1);
        await new Promise((r) => setTimeout(r, 50));
      }
      await reading;
      expect(seen.map((r) => r.offset)).toEqual(Array.from({ length: 30 }, (_, i) => 10 + i));
    } finally {
      reader.close();
    }
  });

  it('seeks backwards, forwards, to its own position and to earliest/latest', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'seek');
    await produce(connection, topic, 0, 5000, 100);
    const reader = new PartitionReader(connection, topic, 0, 4000, { mode, maxWaitMs: 0, maxBytes: 16 * 1024 });
    try {
      const first = await reader.fetch();
      expect(first.records[0].offset).toBe(4000);
      reader.seek(100); // backwards
      await readExactly(reader, 50, 100);
      reader.seek(4990); // forwards
      await readExactly(reader, 10, 4990);
      reader.seek(4995); // backwards to where it had been
      await readExactly(reader, 5, 4995);
      reader.seek(reader.position!); // where it is
      expect((await reader.fetch()).records).toEqual([]);
      reader.seek('earliest');
      await readExactly(reader, 3, 0);
      reader.seek('latest');
      expect((await reader.fetch()).records).toEqual([]);
      expect(reader.position).toBe(5000);
    } finally {
      reader.close();
    }
  });

  it('an offset past the high watermark fails with OFFSET_OUT_OF_RANGE, or moves to offsetReset', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'range');
    await produce(connection, topic, 0, 10, 10);

    const strict = new PartitionReader(connection, topic, 0, 1000, { mode });
    const error = await strict.fetch().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BrookError);
    expect((error as BrookError).code).toBe('OFFSET_OUT_OF_RANGE');
    expect((error as BrookError).retriable).toBe(false);
    expect((error as BrookError).message).toMatch(/\[0, 10\]/);
    // The next fetch asks again, and fails again.
    await expect(strict.fetch()).rejects.toMatchObject({ code: 'OFFSET_OUT_OF_RANGE' });
    strict.close();

    const earliest = new PartitionReader(connection, topic, 0, 1000, { mode, offsetReset: 'earliest' });
    await readExactly(earliest, 10, 0);
    earliest.close();

    const latest = new PartitionReader(connection, topic, 0, 1000, { mode, offsetReset: 'latest', maxWaitMs: 100 });
    expect((await latest.fetch()).records).toEqual([]);
    expect(latest.position).toBe(10);
    await produce(connection, topic, 10, 12, 1);
    await readExactly(latest, 2, 10);
    latest.close();
  });

  it('close() ends a waiting fetch with CLIENT_CLOSED, and every later one; the iterator just ends', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'close');
    const reader = new PartitionReader(connection, topic, 0, 0, { mode, maxWaitMs: 25_000 });
    const waiting = reader.fetch();
    await new Promise((r) => setTimeout(r, 300));
    reader.close();
    await expect(waiting).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await expect(reader.fetch()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(reader.bufferedBytes).toBe(0);

    const iterated = new PartitionReader(connection, topic, 0, 0, { mode, maxWaitMs: 25_000 });
    const loop = (async () => {
      let n = 0;
      for await (const _ of iterated) n++;
      return n;
    })();
    await new Promise((r) => setTimeout(r, 300));
    iterated.close();
    await expect(loop).resolves.toBe(0);
  });

  it('close() ends a fetch that is retrying ListOffsets against an unreachable broker with CLIENT_CLOSED', async () => {
    // Nobody listens on the port: every call fails with connection refused and
    // is retried (for ~29 s with the default retry options).
    const connection = new Connection({ addr: `127.0.0.1:${await freePort()}` });
    try {
      const starts: Array<{ start: 'earliest' | number; maxWaitMs: number }> = [
        { start: 'earliest', maxWaitMs: 0 }, // resolving the start position
        { start: 0, maxWaitMs: 0 }, // stream mode: asking the high watermark at once
      ];
      for (const { start, maxWaitMs } of starts) {
        const reader = new PartitionReader(connection, 'nowhere', 0, start, { mode, maxWaitMs });
        const waiting = reader.fetch().then(
          () => undefined,
          (e: unknown) => e,
        );
        await new Promise((r) => setTimeout(r, 300));
        reader.close();
        expect(await waiting).toMatchObject({ code: 'CLIENT_CLOSED' });
      }
    } finally {
      connection.close();
    }
  });

  it('a fetch waiting on a topic that is deleted fails with UNKNOWN_TOPIC', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'deleted');
    await produce(connection, topic, 0, 3, 3);
    const reader = new PartitionReader(connection, topic, 0, 0, { mode, maxWaitMs: 25_000 });
    await readExactly(reader, 3, 0);
    const waiting = reader.fetch().then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 300));
    await new Admin(connection).deleteTopic(topic);
    expect(await waiting).toMatchObject({ code: 'UNKNOWN_TOPIC' });
    reader.close();
  });
});

describe('PartitionReader, stream mode, leaving a for await loop', () => {
  it('closes the stream, and a later fetch opens another where the reader is', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'break');
    await produce(connection, topic, 0, 10, 10);
    const reader = new PartitionReader(connection, topic, 0, 0, { maxWaitMs: 25_000 });
    try {
      for await (const record of reader) {
        expect(record.offset).toBe(0);
        break;
      }
      expect(reader.hasStream).toBe(false);
      expect(reader.isClosed).toBe(false);
      const position = reader.position!;
      await produce(connection, topic, 10, 12, 2);
      const { records } = await reader.fetch();
      expect(reader.hasStream).toBe(true);
      expect(records[0].offset).toBe(position);
      expect(records[records.length - 1].offset).toBe(11);
    } finally {
      reader.close();
    }
  });
});

describe('PartitionReader, stream mode, backpressure', () => {
  it('a reader that stops fetching stops its stream at maxBufferedBytes, and then reads on without a gap', async () => {
    const { connection } = fixture;
    const topic = await createTopic(connection, 'backpressure');
    const total = 300_000; // ~33 MiB of batches
    await produce(connection, topic, 0, total, 1000, { batchMaxBytes: 64 * 1024 });
    const maxBytes = 256 * 1024;
    const maxBufferedBytes = 2 * 1024 * 1024;
    const reader = new PartitionReader(connection, topic, 0, 0, { maxBytes, maxBufferedBytes, maxWaitMs: 0 });
    try {
      const seen = await readExactly(reader, 1, 0);
      await waitUntil(() => reader.isStreamPaused, 'the stream is paused');
      const held = reader.bufferedBytes;
      // The buffer passes the bound by at most the message that filled it.
      expect(held).toBeGreaterThanOrEqual(maxBufferedBytes);
      expect(held).toBeLessThan(maxBufferedBytes + maxBytes + 64 * 1024);
      // Nothing more arrives while nobody fetches.
      await new Promise((r) => setTimeout(r, 1000));
      expect(reader.bufferedBytes).toBe(held);
      expect(reader.isStreamPaused).toBe(true);
      // Nor does it pile up in the paused grpc-js stream's own buffer (an
      // object-mode Readable: its length counts messages), which holds one
      // message at most instead of Node's default 16.
      const call = (reader as unknown as { stream: { call: { _readableState: { length: number; highWaterMark: number } } } }).stream.call;
      expect(call._readableState.highWaterMark).toBe(1);
      expect(call._readableState.length).toBeLessThanOrEqual(1);
      await readExactly(reader, total, 0, seen);
      expect(reader.bufferedBytes).toBeLessThan(maxBufferedBytes + maxBytes + 64 * 1024);
    } finally {
      reader.close();
    }
  }, 60_000);
});

describe('PartitionReader, stream mode, a stream that gave up while nobody fetched', () => {
  const broker = useFixedPortBroker('reader-stale');

  it('is reopened by the next fetch, which reads on once the broker is back', async () => {
    await broker.start();
    const connection = new Connection({ addr: broker.addr });
    const topic = await createTopic(connection, 'stale');
    await produce(connection, topic, 0, 10, 10);
    // Two quick retries: the stream gives up within a second of the kill.
    const reader = new PartitionReader(connection, topic, 0, 0, { maxWaitMs: 200, retry: { retries: 2, initialBackoffMs: 50, maxBackoffMs: 100, multiplier: 2, jitter: 0 } });
    try {
      await readExactly(reader, 10, 0);
      await broker.kill();
      await waitUntil(() => reader.streamFailure !== undefined, 'the stream gives up');
      expect(reader.streamFailure!.retriable).toBe(true);
      await broker.start();
      // The connection is back (this producer's retries wait for it), and so is the record.
      await produce(connection, topic, 10, 11, 1, { retry: QUICK_RETRY });
      const seen = await readExactly(reader, 1, 10);
      expect(seen.map((r) => r.offset)).toEqual([10]);
      expect(reader.streamFailure).toBeUndefined();
    } finally {
      reader.close();
      connection.close();
    }
  }, 60_000);
});

describe.each<ReaderMode>(['stream', 'fetch'])('PartitionReader, %s mode, across a broker restart', (mode) => {
  const broker = useFixedPortBroker(`reader-${mode}`);

  it('reads on after a SIGKILL and restart mid-read, then tails, without loss or duplicates', async () => {
    await broker.start();
    const connection = new Connection({ addr: broker.addr });
    const topic = await createTopic(connection, 'restart');
    await produce(connection, topic, 0, 100_000);
    const reader = new PartitionReader(connection, topic, 0, 0, { mode, maxWaitMs: 200, maxBufferedBytes: 1024 * 1024, retry: QUICK_RETRY });
    try {
      const seen = await readExactly(reader, 20_000, 0);
      await broker.kill();
      const restarted = new Promise((r) => setTimeout(r, 500)).then(() => broker.start());
      await readExactly(reader, 100_000, 0, seen); // what the reader held, then what it reads after the restart
      await restarted;
      await produce(connection, topic, 100_000, 100_100, 10, { retry: QUICK_RETRY });
      await readExactly(reader, 100_100, 0, seen);
      // Killed again while tailing an idle partition.
      const waiting = readExactly(reader, 100_110, 0, seen);
      await broker.kill();
      await new Promise((r) => setTimeout(r, 500));
      await broker.start();
      await produce(connection, topic, 100_100, 100_110, 1, { retry: QUICK_RETRY });
      await waiting;
      expect(seen.length).toBe(100_110);
    } finally {
      reader.close();
      connection.close();
    }
  }, 120_000);
});
