import { BrookError } from '../../src/common/errors';
import { partitionForKey } from '../../src/common/partitioner';
import type { pb } from '../../src/protocol';
import type { ProduceTransport } from '../../src/client/connection';
import { Producer } from '../../src/client/producer';
import { decodeFetchedBatches } from '../../src/client/batch-encoding';
import { readBatchHeader } from '../../src/record/record-batch';

/** A broker stand-in that keeps every partition's log in memory. */
class FakeTransport implements ProduceTransport {
  /** Copies: the producer reuses a batch's buffer once its request is answered. */
  readonly requests: pb.ProduceRequest[] = [];
  /** The buffer each request's batch was a view of, as sent. */
  readonly batchBuffers: ArrayBufferLike[] = [];
  readonly logs = new Map<number, number>();
  inFlight = new Map<number, number>();
  maxInFlightPerPartition = 0;
  maxInFlightTotal = 0;
  private totalInFlight = 0;
  failures: BrookError[] = [];
  delayMs = 1;

  constructor(readonly partitions = 4) {}

  async partitionCount(): Promise<number> {
    return this.partitions;
  }

  async produce(request: pb.ProduceRequest): Promise<pb.ProduceResponse__Output> {
    const partition = request.partition!;
    const batch = request.recordBatch as Buffer;
    this.batchBuffers.push(batch.buffer);
    this.requests.push({ ...request, recordBatch: Buffer.from(batch) });
    const now = (this.inFlight.get(partition) ?? 0) + 1;
    this.inFlight.set(partition, now);
    this.totalInFlight++;
    this.maxInFlightPerPartition = Math.max(this.maxInFlightPerPartition, now);
    this.maxInFlightTotal = Math.max(this.maxInFlightTotal, this.totalInFlight);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      const failure = this.failures.shift();
      if (failure) throw failure;
      const records = decodeFetchedBatches(request.recordBatch as Buffer, request.topic!, partition, 0);
      const base = this.logs.get(partition) ?? 0;
      this.logs.set(partition, base + records.length);
      return { results: [{ partition, baseOffset: base, recordCount: records.length, recordIndexes: [], logAppendTimeMs: -1 }] };
    } finally {
      this.inFlight.set(partition, this.inFlight.get(partition)! - 1);
      this.totalInFlight--;
    }
  }

  recordsIn(request: pb.ProduceRequest) {
    return decodeFetchedBatches(request.recordBatch as Buffer, request.topic!, request.partition!, 0);
  }
}

const fastRetry = { retries: 3, initialBackoffMs: 1, maxBackoffMs: 5, multiplier: 2, jitter: 0 };

describe('Producer batching', () => {
  it('puts records sent within the linger time into one batch per partition', async () => {
    const transport = new FakeTransport(1);
    const producer = new Producer(transport, { lingerMs: 20 });
    const sends = Array.from({ length: 100 }, (_, i) => producer.send({ topic: 't', value: `v${i}` }));
    const results = await Promise.all(sends);
    expect(transport.requests).toHaveLength(1);
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(transport.recordsIn(transport.requests[0]).map((r) => r.value!.toString())).toEqual(results.map((_, i) => `v${i}`));
    await producer.close();
  });

  it('closes a batch when it reaches batchMaxBytes', async () => {
    const transport = new FakeTransport(1);
    const producer = new Producer(transport, { lingerMs: 10_000, batchMaxBytes: 2000 });
    const value = Buffer.alloc(100, 1);
    const results = await producer.send(Array.from({ length: 100 }, () => ({ topic: 't', partition: 0, value })));
    // ~121 estimated bytes per record: 15 records fit in 2000 with the header.
    expect(transport.requests.length).toBeGreaterThanOrEqual(6);
    for (const request of transport.requests) expect((request.recordBatch as Buffer).length).toBeLessThanOrEqual(2000);
    expect(results.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    await producer.close();
  });

  it('sends a record larger than batchMaxBytes alone', async () => {
    const transport = new FakeTransport(1);
    const producer = new Producer(transport, { lingerMs: 5, batchMaxBytes: 100 });
    const [a, b, c] = await producer.send([
      { topic: 't', value: 'small' },
      { topic: 't', value: Buffer.alloc(500) },
      { topic: 't', value: 'small' },
    ]);
    expect([a.offset, b.offset, c.offset]).toEqual([0, 1, 2]);
    expect(transport.requests.map((r) => transport.recordsIn(r).length)).toEqual([1, 1, 1]);
    await producer.close();
  });

  it('encodes batches much bigger or smaller than the partition\'s previous one intact', async () => {
    // Each batch's buffer starts near the size of the previous batch and grows as needed.
    const transport = new FakeTransport(1);
    const producer = new Producer(transport, { lingerMs: 0 });
    const rounds = [1, 300, 1, 2, 500, 3];
    const sent: string[] = [];
    for (const [round, count] of rounds.entries()) {
      const records = Array.from({ length: count }, (_, i) => ({ topic: 't', partition: 0, value: `${round}-${i}-${'x'.repeat((i * 37) % 900)}` }));
      sent.push(...records.map((r) => r.value));
      await producer.send(records);
    }
    expect(transport.requests).toHaveLength(rounds.length);
    const stored = transport.requests.flatMap((r) => transport.recordsIn(r).map((record) => record.value!.toString()));
    expect(stored).toEqual(sent);
    await producer.close();
  });

  it('starts the batch after a full one at no more than 64 KiB of buffer while the full one is in flight', async () => {
    const transport = new FakeTransport(1);
    transport.delayMs = 30;
    const batchMaxBytes = 1024 * 1024;
    const producer = new Producer(transport, { lingerMs: 0, batchMaxBytes });
    // A batch about batchMaxBytes big, still unanswered when the next record comes.
    const full = producer.send({ topic: 't', partition: 0, value: 'x'.repeat(batchMaxBytes - 100) });
    for (let i = 0; i < 50 && transport.requests.length < 1; i++) await new Promise((r) => setTimeout(r, 1));
    const one = producer.send({ topic: 't', partition: 0, value: 'one' });
    await Promise.all([full, one]);
    expect(transport.requests).toHaveLength(2);
    expect((transport.requests[0].recordBatch as Buffer).length).toBeGreaterThan(batchMaxBytes - 100);
    // The sealed batch views its builder's buffer: the buffer's whole capacity is what it allocated.
    expect(transport.batchBuffers[1].byteLength).toBeLessThanOrEqual(64 * 1024 + 64);
    expect(transport.recordsIn(transport.requests[1]).map((r) => r.value!.toString())).toEqual(['one']);
    await producer.close();
  });

  it('writes the next large batch into the buffer of one already answered', async () => {
    const transport = new FakeTransport(1);
    const batchMaxBytes = 256 * 1024;
    const producer = new Producer(transport, { lingerMs: 0, batchMaxBytes });
    const value = Buffer.alloc(1000, 7);
    const records = (n: number) => Array.from({ length: n }, () => ({ topic: 't', partition: 0, value }));
    await producer.send(records(250)); // ~250 KB: grows into a buffer of its own
    await producer.send(records(250));
    await producer.send(records(3));
    await producer.send(records(250));
    expect(transport.requests.map((r) => transport.recordsIn(r).length)).toEqual([250, 250, 3, 250]);
    expect(transport.batchBuffers[1]).toBe(transport.batchBuffers[0]);
    expect(transport.batchBuffers[3]).toBe(transport.batchBuffers[0]);
    await producer.close();
  });

  it('flush() sends what lingers and waits for it', async () => {
    const transport = new FakeTransport(1);
    transport.delayMs = 100;
    const producer = new Producer(transport, { lingerMs: 60_000 });
    const first = producer.send({ topic: 't', value: 'a' }); // nothing in flight: goes at once
    await new Promise((r) => setImmediate(r));
    let done = false;
    const p = producer.send({ topic: 't', value: 'x' }).then((r) => ((done = true), r)); // lingers behind the first
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    await producer.flush();
    expect(done).toBe(true);
    expect((await first).offset).toBe(0);
    expect((await p).offset).toBe(1);
    await producer.close();
  });

  it('does not linger on a partition with nothing in flight, and sends what lingered once its requests are answered', async () => {
    const transport = new FakeTransport(1);
    transport.delayMs = 30;
    const producer = new Producer(transport, { lingerMs: 60_000 });
    const started = performance.now();
    const first = producer.send({ topic: 't', partition: 0, value: 'a' });
    await new Promise((r) => setImmediate(r));
    const rest = producer.send([{ topic: 't', partition: 0, value: 'b' }, { topic: 't', partition: 0, value: 'c' }]);
    expect((await first).offset).toBe(0);
    expect((await rest).map((r) => r.offset)).toEqual([1, 2]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(transport.requests).toHaveLength(2);
    await producer.close();
  });
});

describe('Producer partitioning', () => {
  it('puts keyed records where the broker partitioner does', async () => {
    const transport = new FakeTransport(7);
    const producer = new Producer(transport, { lingerMs: 1 });
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}`);
    const results = await producer.send(keys.map((key) => ({ topic: 't', key, value: 'v' })));
    results.forEach((r, i) => expect(r.partition).toBe(partitionForKey(Buffer.from(keys[i]), 7)));
    await producer.close();
  });

  it('keeps keyless records on one partition until its batch closes (sticky)', async () => {
    const transport = new FakeTransport(8);
    const producer = new Producer(transport, { lingerMs: 50 });
    const first = await producer.send(Array.from({ length: 50 }, () => ({ topic: 't', value: 'v' })));
    expect(new Set(first.map((r) => r.partition)).size).toBe(1);
    const second = await producer.send(Array.from({ length: 50 }, () => ({ topic: 't', value: 'v' })));
    expect(new Set(second.map((r) => r.partition)).size).toBe(1);
    expect(second[0].partition).not.toBe(first[0].partition);
    await producer.close();
  });

  it('honours an explicit partition', async () => {
    const transport = new FakeTransport(4);
    const producer = new Producer(transport);
    const r = await producer.send({ topic: 't', key: 'k', value: 'v', partition: 3 });
    expect(r.partition).toBe(3);
    await producer.close();
  });
});

describe('Producer in-flight limits and retries', () => {
  it('keeps one request in flight per partition and at most maxInFlightRequests overall', async () => {
    const transport = new FakeTransport(8);
    transport.delayMs = 5;
    const producer = new Producer(transport, { lingerMs: 0, batchMaxBytes: 200, maxInFlightRequests: 3 });
    const records = Array.from({ length: 400 }, (_, i) => ({ topic: 't', partition: i % 8, value: Buffer.alloc(50) }));
    const results = await producer.send(records);
    expect(transport.maxInFlightPerPartition).toBe(1);
    expect(transport.maxInFlightTotal).toBeLessThanOrEqual(3);
    for (let p = 0; p < 8; p++) {
      const offsets = results.filter((r) => r.partition === p).map((r) => r.offset);
      expect(offsets).toEqual(offsets.map((_, i) => i));
    }
    await producer.close();
  });

  it('retries retriable errors and then succeeds', async () => {
    const transport = new FakeTransport(1);
    transport.failures = [new BrookError('SHUTTING_DOWN', 'restarting'), new BrookError('CONNECTION_FAILED', 'refused')];
    const producer = new Producer(transport, { retry: fastRetry });
    const r = await producer.send({ topic: 't', value: 'v' });
    expect(r.offset).toBe(0);
    expect(transport.requests).toHaveLength(3);
    await producer.close();
  });

  it('rejects every record of a batch at once on a non-retriable error, with context', async () => {
    const transport = new FakeTransport(1);
    transport.failures = [new BrookError('RECORD_TOO_LARGE', 'batch of 2000000 bytes is over max.message.bytes 1048588')];
    const producer = new Producer(transport, { retry: fastRetry, lingerMs: 10 });
    const results = await Promise.allSettled([producer.send({ topic: 't', value: 'a' }), producer.send({ topic: 't', value: 'b' })]);
    expect(transport.requests).toHaveLength(1);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as BrookError;
      expect(e.code).toBe('RECORD_TOO_LARGE');
      expect(e.retriable).toBe(false);
    }
    await producer.close();
  });

  it('gives up after the configured retries with the last error', async () => {
    const transport = new FakeTransport(1);
    transport.failures = Array.from({ length: 10 }, () => new BrookError('CONNECTION_FAILED', 'refused'));
    const producer = new Producer(transport, { retry: { ...fastRetry, retries: 2 } });
    await expect(producer.send({ topic: 't', value: 'v' })).rejects.toMatchObject({ code: 'CONNECTION_FAILED' });
    expect(transport.requests).toHaveLength(3);
    await producer.close();
  });

  it('refuses sends after close()', async () => {
    const producer = new Producer(new FakeTransport(1));
    await producer.close();
    await expect(producer.send({ topic: 't', value: 'v' })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });

  it('names the bad record and field, with its topic as context', async () => {
    const transport = new FakeTransport(1);
    const producer = new Producer(transport);
    await expect(producer.send([{ topic: 't', value: 'a' }, { topic: 't', value: 5 as never }])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'records[1].value must be a Buffer, Uint8Array, string or null',
      context: { topic: 't' },
    });
    await expect(producer.send({ topic: '', value: 'v' })).rejects.toMatchObject({ message: 'record.topic must be a non-empty string', context: {} });
    await expect(producer.send({ topic: 't', value: 'v', timestampMs: -5 })).rejects.toMatchObject({ message: 'record.timestampMs must be ms since the epoch, got -5' });
    await expect(producer.send([null as never])).rejects.toMatchObject({ message: 'send(): records[0] is not a record object' });
    expect(await producer.send({ topic: 't', partition: 0, value: 'ok' })).toEqual({ topic: 't', partition: 0, offset: 0 });
    expect(await producer.send([{ topic: 't', partition: 0, value: 'a' }, { topic: 't', partition: 0, value: 'b' }])).toEqual([
      { topic: 't', partition: 0, offset: 1 },
      { topic: 't', partition: 0, offset: 2 },
    ]);
    await producer.close();
    expect(transport.requests).toHaveLength(2);
  });

  it('rejects, rather than throws, when a record fails while being encoded, and goes on with later sends', async () => {
    const transport = new FakeTransport(1);
    const producer = new Producer(transport);
    let sent: Promise<unknown> | undefined;
    expect(() => (sent = producer.send({ topic: 't', partition: 0, value: 'v', headers: [{ key: 5 as never, value: null }] }))).not.toThrow();
    await expect(sent).rejects.toThrow();
    expect(await producer.send({ topic: 't', partition: 0, value: 'w' })).toEqual({ topic: 't', partition: 0, offset: 0 });
    await producer.close();
  });

  it('rejects a record without a value or with a bad partition before sending', async () => {
    const transport = new FakeTransport(1);
    const producer = new Producer(transport);
    await expect(producer.send({ topic: 't' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(producer.send({ topic: 't', value: 'v', partition: -1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(producer.send({ topic: 't', value: 'v', partition: 2 ** 31 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: 'record.partition must be an integer from 0 to 2147483647, got 2147483648' });
    await producer.close();
    expect(transport.requests).toHaveLength(0);
  });
});

/**
 * A one-partition broker stand-in that checks idempotent sequences as the
 * real one does, and whose test decides when each request reaches it and
 * when each reply reaches the producer.
 */
class SequencedBroker implements ProduceTransport {
  readonly log: string[] = [];
  readonly arrivals: number[] = [];
  private readonly held: Array<{ request: pb.ProduceRequest; resolve: (r: pb.ProduceResponse__Output) => void; reject: (e: unknown) => void }> = [];
  private nextSequence = 0;
  /** While true, requests wait in `held` for the test; once false, each is answered at once. */
  holding = true;

  async partitionCount(): Promise<number> {
    return 1;
  }

  async initProducerId(): Promise<pb.InitProducerIdResponse__Output> {
    return { producerId: '7', producerEpoch: 0 } as unknown as pb.InitProducerIdResponse__Output;
  }

  produce(request: pb.ProduceRequest): Promise<pb.ProduceResponse__Output> {
    return new Promise((resolve, reject) => {
      this.held.push({ request, resolve, reject });
      if (!this.holding) this.releaseAll();
    });
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** The held request at `index` reaches the broker: returns how to deliver its reply. */
  arrive(index: number): () => void {
    const [{ request, resolve, reject }] = this.held.splice(index, 1);
    const batch = request.recordBatch as Buffer;
    const header = readBatchHeader(batch);
    this.arrivals.push(header.baseSequence);
    if (header.baseSequence !== this.nextSequence) {
      const error = new BrookError('OUT_OF_ORDER_SEQUENCE', `sent sequence ${header.baseSequence}, expected ${this.nextSequence}`);
      return () => reject(error);
    }
    const records = decodeFetchedBatches(batch, request.topic!, 0, 0);
    const baseOffset = this.log.length;
    for (const r of records) this.log.push(r.value!.toString());
    this.nextSequence += records.length;
    const reply = { results: [{ partition: 0, baseOffset, recordCount: records.length, recordIndexes: [], logAppendTimeMs: -1 }] };
    return () => resolve(reply as unknown as pb.ProduceResponse__Output);
  }

  /** The held request at `index` is refused with `error` without reaching the log: returns how to deliver it. */
  refuse(index: number, error: BrookError): () => void {
    const [{ reject }] = this.held.splice(index, 1);
    return () => reject(error);
  }

  releaseAll(): void {
    while (this.held.length > 0) this.arrive(0)();
  }
}

const ticks = (ms = 5): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Two batches for one partition, the second reaching the broker first (and
 * refused for its sequence) before the first is written; the two replies
 * then reach the producer in the order `ackFirst` says.
 */
async function overtaken(firstValues: string[], secondValues: string[], ackFirst: boolean) {
  const broker = new SequencedBroker();
  const producer = new Producer(broker, { lingerMs: 1 });
  expect(producer.idempotent).toBe(true);
  const send = (values: string[]) => producer.send(values.map((value) => ({ topic: 't', partition: 0, value })));
  const first = send(firstValues);
  for (let i = 0; i < 50 && broker.heldCount < 1; i++) await ticks(1);
  const second = send(secondValues);
  for (let i = 0; i < 50 && broker.heldCount < 2; i++) await ticks(1);
  expect(broker.heldCount).toBe(2);
  const refuseSecond = broker.arrive(1);
  const ackFirstBatch = broker.arrive(0);
  const [early, late] = ackFirst ? [ackFirstBatch, refuseSecond] : [refuseSecond, ackFirstBatch];
  early();
  await ticks();
  broker.holding = false;
  late();
  const [a, b] = await Promise.all([first, second]);
  await producer.close();
  return { broker, first: a.map((r) => r.offset), second: b.map((r) => r.offset) };
}

describe('idempotent Producer when requests overtake each other', () => {
  it('sends a batch refused for its sequence again once the batch ahead of it was acknowledged, even when that reply came first', async () => {
    const { broker, first, second } = await overtaken(['a0', 'a1'], ['b0', 'b1', 'b2'], true);
    expect(first).toEqual([0, 1]);
    expect(second).toEqual([2, 3, 4]);
    expect(broker.log).toEqual(['a0', 'a1', 'b0', 'b1', 'b2']);
    expect(broker.arrivals).toEqual([2, 0, 2]);
  });

  it('also when the refusal reaches the producer first', async () => {
    const { broker, first, second } = await overtaken(['a'], ['b'], false);
    expect(first).toEqual([0]);
    expect(second).toEqual([1]);
    expect(broker.log).toEqual(['a', 'b']);
    expect(broker.arrivals).toEqual([1, 0, 1]);
  });

  it('fails a batch waiting on the one ahead of it when that one ends the producer', async () => {
    const broker = new SequencedBroker();
    const producer = new Producer(broker, { lingerMs: 1 });
    const first = producer.send({ topic: 't', partition: 0, value: 'a' });
    for (let i = 0; i < 50 && broker.heldCount < 1; i++) await ticks(1);
    const second = producer.send({ topic: 't', partition: 0, value: 'b' });
    for (let i = 0; i < 50 && broker.heldCount < 2; i++) await ticks(1);
    const refuseSecond = broker.arrive(1); // overtook the first: refused for its sequence
    const fenceFirst = broker.refuse(0, new BrookError('PRODUCER_FENCED', 'a newer producer with this id has written'));
    refuseSecond();
    await ticks();
    fenceFirst();
    const outcomes = await Promise.allSettled([first, second]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(outcomes.map((o) => ((o as PromiseRejectedResult).reason as BrookError).code)).toEqual(['PRODUCER_FENCED', 'PRODUCER_FENCED']);
    await producer.close(); // settles: nothing is left waiting
    expect(broker.log).toEqual([]);
  });
});
