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
import { MethodCounters } from '../../src/server/metrics';
import { decodeProduceRequest, decodeProduceStreamRequest } from '../../src/server/produce-request';
import { PRODUCE_STREAM_MAX_WAITING, PRODUCE_STREAM_MAX_WAITING_BYTES } from '../../src/server/log-service';
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
    metrics: {
      produceBytes: counter,
      produceRecords: counter,
      fetchBytes: counter,
      rpcDuration: { observe: () => undefined },
      methodCounters: (service: string, method: string) => new MethodCounters({ service, method }),
    },
    logger: { warn: () => undefined, error: () => undefined },
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
  /**
   * A ProduceStream on a fake duplex call: `send` hands the handler one
   * message (encoded, then decoded as grpc-js would with the broker's
   * deserializer), `replies` collects what it writes, `paused` follows
   * pause()/resume(), `endInput` is the client ending its side; `ended`
   * settles when the handler ends the stream (rejects with its error).
   */
  const produceStream = () => {
    const replies: Array<{ requestId: number; response?: { results: Array<{ baseOffset: number }> }; error?: { status: number; code: string; message: string } }> = [];
    const state = { paused: false, ended: false };
    const stream = Object.assign(new EventEmitter(), {
      _readableState: { highWaterMark: 16 },
      cancelled: false,
      write: (message: (typeof replies)[number]) => replies.push(message) > 0,
      end: () => {
        state.ended = true;
        stream.emit('finish');
      },
      pause: () => (state.paused = true),
      resume: () => (state.paused = false),
    });
    const ended = new Promise<void>((resolve, reject) => {
      stream.once('finish', resolve);
      stream.once('error', (e) => {
        state.ended = true;
        reject(e);
      });
    });
    ended.catch(() => undefined); // observed by the tests that expect it
    (handlers.ProduceStream as unknown as (call: object) => void)(stream);
    const send = (requestId: number, request: object): void => {
      stream.emit('data', decodeProduceStreamRequest(serviceDefinition('Log').ProduceStream.requestSerialize({ requestId, request })));
    };
    const readBuffer = () => stream._readableState.highWaterMark;
    return { send, sendBytes: (bytes: Buffer) => stream.emit('data', decodeProduceStreamRequest(bytes)), replies, state, ended, endInput: () => stream.emit('end'), readBuffer };
  };
  return { call, calls, subscribe, produceStream, shutdown: shutdown.signal, startShutdown: () => shutdown.abort() };
}

/** A partition whose appends wait: `release(n)` lets the next n through, `open()` all of them, then and after. */
class GatedPartition extends MemoryPartition {
  private readonly held: Array<() => void> = [];
  private opened = false;
  override config = { ...DEFAULT_TOPIC_CONFIG, maxMessageBytes: 64 * 1024 * 1024 };
  release(n: number): void {
    for (const go of this.held.splice(0, n)) go();
  }
  open(): void {
    this.opened = true;
    this.release(this.held.length);
  }
  override async append(batch: Buffer): Promise<AppendResult> {
    if (!this.opened) await new Promise<void>((resolve) => this.held.push(resolve));
    return super.append(batch);
  }
}

const tick = () => new Promise((r) => setTimeout(r, 5));
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

  describe('ProduceStream', () => {
    const one = (value: string) => ({ topic: 't', partition: 0, records: [{ value: Buffer.from(value) }] });

    it('answers each request with its request_id; a failed request gets an error reply and the stream goes on', async () => {
      const partition = new MemoryPartition();
      const { produceStream } = serviceOver(partition);
      const { send, replies, ended, endInput } = produceStream();
      send(7, one('a'));
      send(8, { topic: 'nope', partition: 0, records: [{ value: Buffer.from('b') }] });
      send(9, one('c'));
      await tick();
      // Replies come as requests complete: the failed one, refused before any append, first.
      expect(replies.map((r) => r.requestId)).toEqual([8, 7, 9]);
      expect([...replies].sort((a, b) => a.requestId - b.requestId)).toEqual([
        expect.objectContaining({ requestId: 7, response: expect.objectContaining({ results: [expect.objectContaining({ partition: 0, baseOffset: 0, recordCount: 1 })] }) }),
        { requestId: 8, error: { status: 5, code: 'UNKNOWN_TOPIC', message: expect.stringContaining('nope') } },
        expect.objectContaining({ requestId: 9, response: expect.objectContaining({ results: [expect.objectContaining({ baseOffset: 1 })] }) }),
      ]);
      endInput();
      await ended;
      expect(partition.batches).toHaveLength(2);
    });

    it('starts requests in stream order and ends the stream only once every request has its reply', async () => {
      const partition = new GatedPartition();
      const { produceStream } = serviceOver(partition);
      const { send, replies, state, ended, endInput } = produceStream();
      for (let id = 1; id <= 3; id++) send(id, one(`r${id}`));
      endInput();
      await tick();
      expect(state.ended).toBe(false);
      partition.open();
      await ended;
      expect(replies.map((r) => [r.requestId, r.response?.results[0].baseOffset])).toEqual([
        [1, 0],
        [2, 1],
        [3, 2],
      ]);
      expect(partition.batches.map((b) => decodeRecordBatch(b.bytes, 0).records[0].value?.toString())).toEqual(['r1', 'r2', 'r3']);
    });

    it(`stops reading at ${PRODUCE_STREAM_MAX_WAITING} requests waiting for replies, holding one more read at most, and reads again at half that`, async () => {
      const partition = new GatedPartition();
      const { produceStream } = serviceOver(partition);
      const { send, replies, state, readBuffer } = produceStream();
      expect(readBuffer()).toBe(1); // not grpc-js's 16 messages read ahead while paused
      for (let id = 1; id < PRODUCE_STREAM_MAX_WAITING; id++) send(id, one('x'));
      expect(state.paused).toBe(false);
      send(PRODUCE_STREAM_MAX_WAITING, one('x'));
      expect(state.paused).toBe(true);
      partition.release(PRODUCE_STREAM_MAX_WAITING / 2 - 1);
      await tick();
      expect(replies).toHaveLength(PRODUCE_STREAM_MAX_WAITING / 2 - 1);
      expect(state.paused).toBe(true); // one over half still waits
      partition.release(1);
      await tick();
      expect(state.paused).toBe(false);
      partition.open();
      await tick();
      expect(replies).toHaveLength(PRODUCE_STREAM_MAX_WAITING);
    });

    it(`stops reading at ${PRODUCE_STREAM_MAX_WAITING_BYTES / 1024 / 1024} MiB of requests waiting for replies`, async () => {
      const partition = new GatedPartition();
      const { produceStream } = serviceOver(partition);
      const { send, state } = produceStream();
      const third = Buffer.alloc(PRODUCE_STREAM_MAX_WAITING_BYTES / 3 + 1024);
      send(1, { topic: 't', partition: 0, records: [{ value: third }] });
      send(2, { topic: 't', partition: 0, records: [{ value: third }] });
      expect(state.paused).toBe(false);
      send(3, { topic: 't', partition: 0, records: [{ value: third }] });
      expect(state.paused).toBe(true);
      partition.open();
      await tick();
      expect(state.paused).toBe(false);
    });

    it('a message that is not a ProduceStreamRequest ends the stream with INVALID_ARGUMENT; a malformed inner request fails alone', async () => {
      const partition = new MemoryPartition();
      const { produceStream } = serviceOver(partition);
      const { send, sendBytes, replies, ended } = produceStream();
      // request_id 1, then a request field whose inner bytes are a truncated varint (a malformed ProduceRequest).
      sendBytes(Buffer.from([0x08, 0x01, 0x12, 0x01, 0x10]));
      await tick();
      expect(replies).toEqual([{ requestId: 1, error: { status: 3, code: 'INVALID_ARGUMENT', message: expect.stringContaining('malformed ProduceRequest') } }]);
      send(2, one('ok'));
      sendBytes(Buffer.from([0x08])); // a varint cut short: no request_id to answer
      await expect(ended).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('malformed ProduceStreamRequest') });
      await tick();
      expect(replies.map((r) => r.requestId)).toEqual([1]); // the stream had ended before request 2's reply
      expect(partition.batches).toHaveLength(1); // request 2 was started, and written
    });

    it('on shutdown, started requests get their replies, later ones SHUTTING_DOWN unwritten, then the stream ends SHUTTING_DOWN', async () => {
      const partition = new GatedPartition();
      const { produceStream, startShutdown } = serviceOver(partition);
      const { send, replies, state, ended } = produceStream();
      send(1, one('before'));
      await tick();
      startShutdown();
      expect(state.paused).toBe(true);
      send(2, one('after')); // already read from the connection before the pause
      await tick();
      expect(replies).toEqual([{ requestId: 2, error: expect.objectContaining({ code: 'SHUTTING_DOWN', status: 14 }) }]);
      expect(state.ended).toBe(false);
      partition.open();
      await expect(ended).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
      expect(replies.map((r) => r.requestId)).toEqual([2, 1]);
      expect(partition.batches).toHaveLength(1);
    });
  });
});
