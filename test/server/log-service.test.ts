/**
 * createLogService over an in-memory store: broker time comes from the
 * injected clock, and Fetch's min_bytes counts bytes in both response forms.
 */
import { EventEmitter, getEventListeners } from 'events';
import { BrookError } from '../../src/common/errors';
import { ManualClock } from '../../src/common/clock';
import { serviceDefinition } from '../../src/protocol';
import { decodeRecordBatch, encodeRecordBatch, readBatchHeader, stampBaseOffset } from '../../src/record';
import type { BrokerContext } from '../../src/server/broker-context';
import { createLogService } from '../../src/server/log-service';
import { decodeProduceRequest } from '../../src/server/produce-request';
import type { AppendResult, PartitionStore, ReadResult } from '../../src/server/store-interface';
import { DEFAULT_TOPIC_CONFIG } from '../../src/storage';

/** One partition in memory: every appended batch, stamped, back to back. */
class MemoryPartition extends EventEmitter {
  readonly batches: Array<{ baseOffset: number; bytes: Buffer }> = [];
  logStartOffset = 0;
  highWatermark = 0;
  isClosed = false;
  readonly segmentCount = 1;
  readonly config = DEFAULT_TOPIC_CONFIG;

  get logEndOffset(): number {
    return this.highWatermark;
  }

  get sizeBytes(): number {
    return this.batches.reduce((n, b) => n + b.bytes.length, 0);
  }

  async append(batch: Buffer): Promise<AppendResult> {
    const bytes = Buffer.from(batch);
    const baseOffset = this.highWatermark;
    stampBaseOffset(bytes, 0, baseOffset);
    const recordCount = readBatchHeader(bytes, 0).recordCount;
    this.batches.push({ baseOffset, bytes });
    this.highWatermark += recordCount;
    this.emit('highWatermark', this.highWatermark);
    return { baseOffset, lastOffset: this.highWatermark - 1, logAppendTimeMs: -1, recordCount };
  }

  async read(offset: number): Promise<ReadResult> {
    const from = this.batches.filter((b, i) => (this.batches[i + 1]?.baseOffset ?? this.highWatermark) > offset);
    return { data: Buffer.concat(from.map((b) => b.bytes)), highWatermark: this.highWatermark, logStartOffset: 0, firstOffset: from[0]?.baseOffset ?? offset, nextOffset: this.highWatermark };
  }

  offsetForTimestamp(): null {
    return null;
  }

  /** What deleting the topic does to its logs. */
  closeForDeletion(): void {
    this.isClosed = true;
    this.emit('closed');
    this.removeAllListeners();
  }
}

/**
 * Topic 't' over `partitions` (one, or several numbered from 0). `closedMeans`: what a closed partition stands
 * for — its topic deleted, or the broker shutting down (the store still hands it out).
 */
function serviceOver(partitions: MemoryPartition | MemoryPartition[], clock = new ManualClock(), closedMeans: 'deleted' | 'shutdown' = 'deleted') {
  const all = Array.isArray(partitions) ? partitions : [partitions];
  const store = {
    partition: (topic: string, p: number): PartitionStore => {
      const partition = all[p];
      if (topic !== 't' || partition === undefined || (partition.isClosed && closedMeans === 'deleted')) throw new BrookError('UNKNOWN_TOPIC', `no ${topic}/${p}`);
      return partition;
    },
    describeTopic: async () => ({ partitionCount: all.length }),
  };
  const counter = { inc: () => undefined };
  const shutdown = new AbortController();
  const context = {
    store,
    config: { limits: { maxRecordsPerRequest: 1000, maxWaitMs: 30_000 } },
    metrics: { produceBytes: counter, produceRecords: counter, fetchBytes: counter },
    logger: { warn: () => undefined },
    shutdown: shutdown.signal,
    clock,
  } as unknown as BrokerContext;
  const handlers = createLogService(context) as Record<string, (call: object, callback: (e: unknown, v?: unknown) => void) => void>;
  /** The fake grpc-js calls made so far, newest last. */
  const calls: EventEmitter[] = [];
  const call = <T>(method: string, request: object): Promise<T> =>
    new Promise((resolve, reject) => {
      const fake = Object.assign(new EventEmitter(), { request });
      calls.push(fake);
      handlers[method](fake, (e, v) => (e ? reject(e) : resolve(v as T)));
    });
  /** A Subscribe on a fake server stream: every written message goes to `written`; `cancel` is what a client cancel does. */
  const subscribe = (request: object) => {
    const written: Array<{ storedRecords?: { count: number }; nextOffset: number }> = [];
    const stream = Object.assign(new EventEmitter(), {
      request,
      writableEnded: false,
      write: (message: (typeof written)[number]) => written.push(message) > 0,
      end: () => {
        stream.writableEnded = true;
        stream.emit('finish');
      },
    });
    const ended = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', reject);
    });
    (handlers.Subscribe as unknown as (call: object) => void)(stream);
    return { written, ended, cancel: () => stream.emit('cancelled') };
  };
  return { call, calls, subscribe, shutdown: shutdown.signal };
}

const produceWire = (request: object): Buffer => serviceDefinition('Log').Produce.requestSerialize(request);

describe('createLogService', () => {
  it('stamps broker time from the injected clock, not Date.now()', async () => {
    const partition = new MemoryPartition();
    const clock = new ManualClock(1_234_567_000);
    const { call } = serviceOver(partition, clock);
    await call('Produce', decodeProduceRequest(produceWire({ topic: 't', partition: 0, records: [{ value: Buffer.from('v') }] })));
    const { records } = decodeRecordBatch(partition.batches[0].bytes, 0);
    expect(records[0].timestampMs).toBe(1_234_567_000);
  });

  it('a Fetch with min_bytes waits for that many bytes without raw, as with raw', async () => {
    for (const raw of [false, true]) {
      const partition = new MemoryPartition();
      const { call } = serviceOver(partition);
      await partition.append(encodeRecordBatch([{ value: Buffer.from('small') }]));
      const small = partition.sizeBytes;
      let answered = false;
      const fetched = call<{ nextOffset: number }>('Fetch', { topic: 't', partition: 0, offset: 0, maxBytes: 0, maxWaitMs: 5000, minBytes: small + 500, raw }).then((r) => {
        answered = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 100));
      expect(answered).toBe(false);
      await partition.append(encodeRecordBatch([{ value: Buffer.alloc(600, 1) }]));
      expect((await fetched).nextOffset).toBe(2);
    }
  });

  it('a Fetch of a log closed by shutdown answers SHUTTING_DOWN, also on the fast path', async () => {
    const partition = new MemoryPartition();
    const { call } = serviceOver(partition, new ManualClock(), 'shutdown');
    await partition.append(encodeRecordBatch([{ value: Buffer.from('v') }]));
    partition.isClosed = true;
    for (const maxWaitMs of [0, 1000]) {
      await expect(call('Fetch', { topic: 't', partition: 0, offset: 0, maxBytes: 1024, maxWaitMs, minBytes: 0, raw: false })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
    }
  });

  it('a long-poll Fetch answers UNKNOWN_TOPIC as soon as its topic is deleted, and leaves no listener behind', async () => {
    const partition = new MemoryPartition();
    const { call } = serviceOver(partition);
    const started = Date.now();
    const fetched = call('Fetch', { topic: 't', partition: 0, offset: 0, maxBytes: 0, maxWaitMs: 20_000, minBytes: 0, raw: false });
    await new Promise((r) => setTimeout(r, 50));
    expect(partition.listenerCount('highWatermark')).toBe(1);
    partition.closeForDeletion();
    await expect(fetched).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC' });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(partition.listenerCount('highWatermark') + partition.listenerCount('closed')).toBe(0);
  });

  it('a long-poll Fetch that got its records lets go of its call and the shutdown signal; a cancelled one ends at once', async () => {
    const partition = new MemoryPartition();
    const { call, calls, shutdown } = serviceOver(partition);
    const request = { topic: 't', partition: 0, offset: 0, maxBytes: 0, maxWaitMs: 20_000, minBytes: 0, raw: false };
    const fetched = call<{ storedRecords?: { count: number } }>('Fetch', request);
    await new Promise((r) => setTimeout(r, 20));
    expect(getEventListeners(shutdown, 'abort')).toHaveLength(1);
    expect(calls[0].listenerCount('cancelled')).toBe(1);
    await partition.append(encodeRecordBatch([{ key: null, value: Buffer.from('x'), headers: [] }]));
    expect((await fetched).storedRecords?.count).toBe(1);
    expect(getEventListeners(shutdown, 'abort')).toHaveLength(0);
    expect(calls[0].listenerCount('cancelled')).toBe(0);
    // grpc-js emits 'cancelled' after every call's status: harmless once the call is done.
    calls[0].emit('cancelled');

    const started = Date.now();
    const waiting = call<{ storedRecords?: unknown; nextOffset: number }>('Fetch', { ...request, offset: 1 });
    await new Promise((r) => setTimeout(r, 20));
    calls[1].emit('cancelled');
    const empty = await waiting;
    expect([empty.storedRecords, empty.nextOffset]).toEqual([undefined, 1]);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(getEventListeners(shutdown, 'abort')).toHaveLength(0);
    expect(partition.listenerCount('highWatermark') + partition.listenerCount('closed')).toBe(0);
  });

  it('a Subscribe pushes each advance, keeping one listener per partition for its life and none after it', async () => {
    const partition = new MemoryPartition();
    const { subscribe } = serviceOver(partition);
    const tick = () => new Promise((r) => setTimeout(r, 5));
    const one = (tag: string) => encodeRecordBatch([{ key: null, value: Buffer.from(tag), headers: [] }]);
    await partition.append(one('before'));
    const { written, ended, cancel } = subscribe({ topic: 't', partitions: [0], start: 'position', position: 'START_POSITION_EARLIEST', maxBytes: 0, raw: false });
    await tick();
    expect(written.map((m) => m.nextOffset)).toEqual([1]);
    for (let i = 0; i < 5; i++) {
      expect(partition.listenerCount('highWatermark')).toBe(1);
      await partition.append(one(`r${i}`));
      await tick();
    }
    expect(written.map((m) => m.nextOffset)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(written.every((m) => m.storedRecords?.count === 1)).toBe(true);
    cancel();
    await ended;
    expect(partition.listenerCount('highWatermark') + partition.listenerCount('closed')).toBe(0);
  });

  it('a Subscribe to 12 partitions keeps one listener on its call signal, not one per partition (11 print a MaxListenersExceededWarning)', async () => {
    const partitions = Array.from({ length: 12 }, () => new MemoryPartition());
    const { subscribe } = serviceOver(partitions);
    const tick = () => new Promise((r) => setTimeout(r, 5));
    // The call's own AbortController, to look at its signal's listeners.
    const RealAbortController = AbortController;
    const controllers: AbortController[] = [];
    const spy = jest.spyOn(globalThis, 'AbortController').mockImplementation(() => {
      const controller = new RealAbortController();
      controllers.push(controller);
      return controller;
    });
    let subscription: ReturnType<typeof subscribe>;
    try {
      subscription = subscribe({ topic: 't', partitions: [], start: 'position', position: 'START_POSITION_EARLIEST', maxBytes: 0, raw: false });
      await tick();
    } finally {
      spy.mockRestore();
    }
    const { written, ended, cancel } = subscription;
    expect(controllers).toHaveLength(1);
    const signal = controllers[0].signal;
    for (const [i, partition] of partitions.entries()) {
      expect(partition.listenerCount('highWatermark')).toBe(1);
      await partition.append(encodeRecordBatch([{ key: null, value: Buffer.from(`p${i}`), headers: [] }]));
    }
    await tick();
    expect(written).toHaveLength(12);
    expect(getEventListeners(signal, 'abort').length).toBeLessThanOrEqual(1);
    // Cancelling still wakes and ends every partition's loop.
    cancel();
    await ended;
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
    for (const partition of partitions) expect(partition.listenerCount('highWatermark') + partition.listenerCount('closed')).toBe(0);
  });
});
