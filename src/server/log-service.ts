/**
 * brook.v1.Log: Produce, ProduceStream, Fetch, Subscribe, ListOffsets,
 * InitProducerId.
 *
 * Produce validates the whole request, encodes one RecordBatch v2 per target
 * partition and checks each against max.message.bytes before anything is
 * appended, so a bad request writes nothing. ProduceStream runs the same
 * handler for each request of a stream (see produceStream). Fetch long polls by waiting for
 * the partition's 'highWatermark' event (no timers polling the log).
 * Subscribe runs one read loop per partition over a shared call and writes
 * only while grpc-js accepts more (`write()` true) — otherwise it waits for
 * 'drain' — so a reader that stops reading stops the loops: the broker holds
 * at most the stream's high-water mark of messages per subscription.
 */
import type * as grpc from '@grpc/grpc-js';
import { BrookError } from '../common/errors';
import { limitReadBuffer } from '../common/streams';
import { partitionForKey } from '../common/partitioner';
import { serviceDefinition, type pb } from '../protocol';
import { readBatchHeader } from '../record';
import type { BrokerContext } from './broker-context';
import { fetchResponseSerializer, rawHeadroomFor, ReadBufferPool, StoredRecords, type FetchReply } from './fetch-response';
import { decodeProduceRequest, decodeProduceStreamRequest, type ProduceRequestView, type ProduceStreamRequestView } from './produce-request';
import { serverStream, statusName, unary } from './grpc-server';
import { failureOf, shuttingDownError } from './status';
import type { PartitionStore, TopicStore } from './store-interface';
import { fieldError, requireInt, requireOffset, requirePartition, requireTopic } from './validate';

/**
 * ProduceStream stops reading its stream while this many requests, or this
 * many bytes of them, wait for their replies (see log.proto), and reads again
 * once they are down to half.
 */
export const PRODUCE_STREAM_MAX_WAITING = 64;
export const PRODUCE_STREAM_MAX_WAITING_BYTES = 64 * 1024 * 1024;

/** The empty `record_batches` of decoded and empty responses, shared rather than allocated per fetch. */
const NO_BYTES = Buffer.alloc(0);

/** Default and hard cap of a Fetch/Subscribe max_bytes. */
const DEFAULT_MAX_BYTES = 1024 * 1024;
const MAX_MAX_BYTES = 64 * 1024 * 1024;

type FetchResponse = FetchReply;

function outOfRange(topic: string, partition: number, offset: number, log: PartitionStore): BrookError {
  return new BrookError(
    'OFFSET_OUT_OF_RANGE',
    `offset ${offset} is out of range for ${topic}/${partition}: valid offsets are [${log.logStartOffset}, ${log.highWatermark}] (log start offset ${log.logStartOffset}, high watermark ${log.highWatermark})`,
    { topic, partition, offset },
  );
}

function checkInRange(topic: string, partition: number, offset: number, log: PartitionStore): void {
  if (offset < log.logStartOffset || offset > log.highWatermark) throw outOfRange(topic, partition, offset, log);
}

/**
 * Resolves once the partition's high watermark passes `offset`, or when
 * `signal` aborts, or when the log closes (the caller checks `isClosed`), or
 * after `timeoutMs` (if given). Event-driven: it listens to the log's
 * 'highWatermark' and 'closed' events, it does not poll.
 */
export function waitForHighWatermark(log: PartitionStore, offset: number, signal: AbortSignal, timeoutMs?: number): Promise<void> {
  if (log.highWatermark > offset || signal.aborted || timeoutMs === 0 || log.isClosed) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      log.off('highWatermark', onAdvance);
      log.off('closed', done);
      signal.removeEventListener('abort', done);
      if (timer) clearTimeout(timer);
      resolve();
    };
    const onAdvance = (hw: number): void => {
      if (hw > offset) done();
    };
    // Every waiting Fetch and Subscribe adds one listener; there may be thousands.
    if (log.getMaxListeners() !== 0) log.setMaxListeners(0);
    log.on('highWatermark', onAdvance);
    log.once('closed', done);
    signal.addEventListener('abort', done, { once: true });
    if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
  });
}

/**
 * For a waiter whose partition log closed under it: the error that ends its
 * call. The topic (or partition) was deleted — perhaps already re-created,
 * which is another log with its own offsets — or the broker is shutting down.
 */
function closedLogError(store: TopicStore, topic: string, partition: number, log: PartitionStore): BrookError {
  let current: PartitionStore;
  try {
    current = store.partition(topic, partition);
  } catch (e) {
    if (e instanceof BrookError) return e; // UNKNOWN_TOPIC / UNKNOWN_PARTITION
    throw e;
  }
  if (current !== log) return new BrookError('UNKNOWN_TOPIC', `topic ${JSON.stringify(topic)} was deleted while this call waited on it (a topic of that name exists again; start over from its offsets)`, { topic, partition });
  return shuttingDownError({ topic, partition });
}

/**
 * The reason every call signal aborts with. `abort()` without one builds a
 * DOMException, stack trace included — on every long poll, since grpc-js
 * 1.14 emits 'cancelled' after every call's status, not only on cancellation:
 * 7% of the broker's CPU in W4 through the SDK reader.
 */
const CALL_ENDED = Object.freeze({ name: 'CallEnded', message: 'the call ended or the broker is shutting down' });

interface CallSignal {
  readonly signal: AbortSignal;
  /** Aborts the signal (and lets go of the call and the shutdown signal). */
  abort(): void;
  /** Lets go of the call and the shutdown signal without aborting: the call is done with the signal. */
  dispose(): void;
}

/** An AbortSignal that fires on broker shutdown or when the call is cancelled. */
function callSignal(shutdown: AbortSignal, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): CallSignal {
  const controller = new AbortController();
  const dispose = (): void => {
    shutdown.removeEventListener('abort', abort);
    call.off('cancelled', abort);
  };
  const abort = (): void => {
    dispose();
    controller.abort(CALL_ENDED);
  };
  if (shutdown.aborted) controller.abort(CALL_ENDED);
  else {
    shutdown.addEventListener('abort', abort, { once: true });
    call.once('cancelled', abort);
  }
  return { signal: controller.signal, abort, dispose };
}

/**
 * brook.v1.Log as grpc-js serves it, with Produce requests decoded by
 * decodeProduceRequest instead of protobufjs (the records stay in the wire
 * bytes; see produce-request.ts for the figures), and FetchResponses written
 * from the stored batches (see fetch-response.ts).
 */
export function logServiceDefinition(): grpc.ServiceDefinition {
  const definition = serviceDefinition('Log');
  const { Produce, ProduceStream, Fetch, Subscribe } = definition;
  return {
    ...definition,
    Produce: { ...Produce, requestDeserialize: decodeProduceRequest },
    ProduceStream: { ...ProduceStream, requestDeserialize: decodeProduceStreamRequest },
    Fetch: { ...Fetch, responseSerialize: fetchResponseSerializer(Fetch.responseSerialize) },
    Subscribe: { ...Subscribe, responseSerialize: fetchResponseSerializer(Subscribe.responseSerialize) },
  };
}

export function createLogService(context: BrokerContext): grpc.UntypedServiceImplementation {
  const { store, producerIds, config, metrics, logger, shutdown, clock } = context;
  /** Round-robin cursor per topic for keyless records. */
  const nextKeylessPartition = new Map<string, number>();

  const partitionCount = async (topic: string): Promise<number> => (await store.describeTopic(topic)).partitionCount;

  /** `request` comes from decodeProduceRequest (see produce-request.ts), not protobufjs. */
  async function produce(request: ProduceRequestView): Promise<pb.ProduceResponse> {
    if (request.malformed !== undefined) throw new BrookError('INVALID_ARGUMENT', `malformed ProduceRequest: ${request.malformed}`);
    const topic = requireTopic('topic', request.topic, { forWrite: true });
    const acksNone = request.acks === 'ACKS_NONE';
    const explicit = request.partition === undefined || request.partition === null ? undefined : requirePartition(request.partition);
    const limits = config.limits;

    // One partition → one batch to append, with the request indexes of its records.
    const plan: Array<{ partition: number; log: PartitionStore; batch: Buffer; recordCount: number; indexes: number[] | null }> = [];

    if (request.recordBatch.length > 0) {
      if (request.records.count > 0) throw new BrookError('INVALID_ARGUMENT', 'set either records or record_batch, not both', { topic });
      if (explicit === undefined) throw new BrookError('INVALID_ARGUMENT', 'record_batch needs partition: a client-built batch goes to the partition it names', { topic });
      const log = store.partition(topic, explicit);
      const batch = request.recordBatch;
      if (batch.length > log.config.maxMessageBytes) throw tooLarge(topic, explicit, batch.length, log.config.maxMessageBytes);
      // Only the header here, for the limits; the partition log validates the
      // whole batch (framing, CRC-32C, record count) before writing a byte.
      const header = readBatchHeader(batch, 0);
      if (header.recordCount === 0) throw new BrookError('CORRUPT_RECORD_BATCH', 'record_batch holds no records', { topic, partition: explicit });
      if (header.recordCount > limits.maxRecordsPerRequest) throw tooMany(topic, header.recordCount);
      plan.push({ partition: explicit, log, batch, recordCount: header.recordCount, indexes: null });
    } else {
      const records = request.records;
      const count = records.count;
      if (count === 0) throw new BrookError('INVALID_ARGUMENT', 'a produce request needs at least one record (or a record_batch)', { topic });
      if (count > limits.maxRecordsPerRequest) throw tooMany(topic, count);
      for (let i = 0; i < count; i++) {
        const timestampMs = records.timestampMs(i);
        if (timestampMs < 0 || !Number.isSafeInteger(timestampMs)) throw fieldError(`records[${i}].timestamp_ms`, timestampMs, 'milliseconds since the epoch, or 0 for broker time');
      }
      // Record indexes per partition; null: every record, in order.
      const groups = new Map<number, number[] | null>();
      if (explicit !== undefined) {
        store.partition(topic, explicit); // UNKNOWN_TOPIC / UNKNOWN_PARTITION before any work
        groups.set(explicit, null);
      } else {
        const partitions = await partitionCount(topic);
        let keyless: number | undefined;
        for (let i = 0; i < count; i++) {
          const key = records.key(i);
          let p: number;
          if (key !== null) {
            p = partitionForKey(key, partitions);
          } else {
            if (keyless === undefined) {
              const cursor = nextKeylessPartition.get(topic) ?? Math.floor(Math.random() * partitions);
              keyless = cursor % partitions;
              nextKeylessPartition.set(topic, (keyless + 1) % partitions);
            }
            p = keyless;
          }
          const list = groups.get(p);
          if (list) list.push(i);
          else groups.set(p, [i]);
        }
        if (groups.size === 1) groups.set(groups.keys().next().value as number, null);
      }
      const now = clock.nowMs();
      for (const [partition, indexes] of [...groups].sort((a, b) => a[0] - b[0])) {
        const log = store.partition(topic, partition);
        const batch = records.encodeBatch(indexes, now, log.config.messageTimestampType);
        if (batch.length > log.config.maxMessageBytes) throw tooLarge(topic, partition, batch.length, log.config.maxMessageBytes);
        plan.push({ partition, log, batch, recordCount: indexes === null ? count : indexes.length, indexes });
      }
    }

    const appends = plan.map(async (entry) => {
      const result = await entry.log.append(entry.batch);
      metrics.produceBytes.inc({ topic }, entry.batch.length);
      metrics.produceRecords.inc({ topic }, entry.recordCount);
      return { entry, result };
    });
    if (acksNone) {
      for (const append of appends) append.catch((e: unknown) => logger.warn({ err: e, topic }, 'produce with ACKS_NONE failed'));
      return { results: plan.map((e) => ({ partition: e.partition, baseOffset: -1, recordCount: e.recordCount, recordIndexes: e.indexes ?? [], logAppendTimeMs: -1 })) };
    }
    const done = await Promise.all(appends);
    return {
      results: done.map(({ entry, result }) => ({
        partition: entry.partition,
        baseOffset: result.baseOffset,
        recordCount: entry.recordCount,
        recordIndexes: entry.indexes ?? [],
        logAppendTimeMs: entry.log.config.messageTimestampType === 'LogAppendTime' ? result.logAppendTimeMs : -1,
      })),
    };
  }

  function tooLarge(topic: string, partition: number, size: number, limit: number): BrookError {
    return new BrookError(
      'RECORD_TOO_LARGE',
      `the record batch for ${topic}/${partition} is ${size} bytes, over the topic's max.message.bytes of ${limit}; send fewer or smaller records, or raise max.message.bytes`,
      { topic, partition },
    );
  }

  function tooMany(topic: string, count: number): BrookError {
    return new BrookError('REQUEST_TOO_LARGE', `the request carries ${count} records, over the broker's limits.max_records_per_request of ${config.limits.maxRecordsPerRequest}`, { topic });
  }

  function maxBytesOf(value: unknown): number {
    const n = requireInt('max_bytes', value, 0, MAX_MAX_BYTES);
    return n === 0 ? DEFAULT_MAX_BYTES : n;
  }

  /** Buffers raw Fetch replies are read into; each goes back when its reply is written (see ReadBufferPool). */
  const rawFetchBuffers = new ReadBufferPool();

  /** `pooled`: a raw reply read into `rawFetchBuffers` (a unary Fetch, whose reply is written once and then dropped). */
  async function readAt(topic: string, partition: number, log: PartitionStore, offset: number, maxBytes: number, raw: boolean, pooled = false): Promise<FetchResponse> {
    if (offset >= log.highWatermark) {
      return { topic, partition, records: [], recordBatches: NO_BYTES, highWatermark: log.highWatermark, logStartOffset: log.logStartOffset, nextOffset: offset };
    }
    // Raw: room before the batches for the rest of the reply, written there by fetchResponseSerializer.
    const pool = raw && pooled ? rawFetchBuffers : undefined;
    const read = await log.read(offset, maxBytes, raw ? rawHeadroomFor(topic) : 0, pool?.allocate);
    metrics.fetchBytes.inc({ topic }, read.data.length);
    return {
      topic,
      partition,
      records: [],
      // Decoded form: located now (a malformed record fails this call), written by fetchResponseSerializer.
      storedRecords: raw ? undefined : new StoredRecords(read.data, offset),
      recordBatches: raw ? read.data : NO_BYTES,
      rawHeadroom: raw ? read.headroom : undefined,
      pooledBuffers: pool,
      highWatermark: read.highWatermark,
      logStartOffset: read.logStartOffset,
      nextOffset: Math.max(read.nextOffset, offset),
    };
  }

  async function fetch(request: pb.FetchRequest__Output, call: grpc.ServerUnaryCall<unknown, unknown>): Promise<FetchResponse> {
    const topic = requireTopic('topic', request.topic);
    const partition = requirePartition(request.partition);
    const offset = requireOffset('offset', request.offset);
    const maxBytes = maxBytesOf(request.maxBytes);
    const maxWaitMs = Math.min(requireInt('max_wait_ms', request.maxWaitMs, 0), config.limits.maxWaitMs);
    const minBytes = Math.max(1, requireInt('min_bytes', request.minBytes, 0));
    const log = store.partition(topic, partition);
    checkInRange(topic, partition, offset, log);
    // A log closed by shutdown is still what the store hands out until it stops: never read from it.
    if (log.isClosed) throw closedLogError(store, topic, partition, log);

    if (maxWaitMs === 0 || log.highWatermark > offset && minBytes <= 1) return readAt(topic, partition, log, offset, maxBytes, request.raw, true);

    const controller = callSignal(shutdown, call);
    const deadline = Date.now() + maxWaitMs;
    try {
      for (;;) {
        const remaining = deadline - Date.now();
        await waitForHighWatermark(log, offset, controller.signal, Math.max(0, remaining));
        if (log.isClosed) throw closedLogError(store, topic, partition, log);
        const response = await readAt(topic, partition, log, offset, maxBytes, request.raw, true);
        // Stored batch bytes at `offset`, in both forms: what min_bytes counts.
        const available = request.raw ? response.recordBatches.length : response.storedRecords?.data.length ?? 0;
        if (available >= minBytes || Date.now() >= deadline || controller.signal.aborted) return response;
        // Not enough yet: this read goes back to the pool, and we wait for the high watermark to move past what we saw.
        if (response.pooledBuffers && response.recordBatches.length > 0) response.pooledBuffers.release(response.recordBatches);
        await waitForHighWatermark(log, response.highWatermark, controller.signal, Math.max(0, deadline - Date.now()));
        if (log.isClosed) throw closedLogError(store, topic, partition, log);
        if (Date.now() >= deadline || controller.signal.aborted) return readAt(topic, partition, log, offset, maxBytes, request.raw, true);
      }
    } finally {
      controller.dispose();
    }
  }

  async function subscribe(request: pb.SubscribeRequest__Output, call: grpc.ServerWritableStream<unknown, unknown>): Promise<void> {
    const topic = requireTopic('topic', request.topic);
    const maxBytes = maxBytesOf(request.maxBytes);
    const count = await partitionCount(topic);
    const partitions = request.partitions.length > 0 ? [...new Set(request.partitions.map((p) => requirePartition(p)))] : [...Array(count).keys()];
    const starts = new Map<number, number>();
    for (const partition of partitions) {
      const log = store.partition(topic, partition);
      starts.set(partition, await startOffset(topic, partition, log, request));
    }
    for (const [key, value] of Object.entries(request.partitionOffsets ?? {})) {
      const partition = requirePartition(Number(key));
      if (!starts.has(partition)) throw fieldError('partition_offsets key', key, `one of the subscribed partitions (${partitions.join(', ')})`);
      const offset = requireOffset(`partition_offsets[${partition}]`, value);
      checkInRange(topic, partition, offset, store.partition(topic, partition));
      starts.set(partition, offset);
    }

    const controller = callSignal(shutdown, call);
    const signal = controller.signal;
    // Flow control: one writer at a time; after write() returns false, everyone waits for 'drain'.
    let drained: Promise<void> | null = null;
    const write = async (message: FetchResponse): Promise<void> => {
      while (drained) await drained;
      if (signal.aborted) return;
      if (!call.write(message)) {
        drained = new Promise<void>((resolve) => {
          const release = (): void => {
            call.off('drain', release);
            signal.removeEventListener('abort', release);
            drained = null;
            resolve();
          };
          call.on('drain', release);
          signal.addEventListener('abort', release, { once: true });
        });
      }
    };

    // The call's signal wakes every followed partition through one listener:
    // one each would pass Node's limit of 10 listeners per EventTarget at 11
    // partitions and print a MaxListenersExceededWarning.
    const wakeOnAbort = new Set<() => void>();
    const onAbort = (): void => {
      for (const wake of wakeOnAbort) wake();
    };
    signal.addEventListener('abort', onAbort, { once: true });

    // One set of listeners per followed partition for the subscription's
    // life, not one per wait (waitForHighWatermark's Promise, closures and
    // three listener additions and removals on every pushed response).
    const follow = async (partition: number): Promise<void> => {
      const log = store.partition(topic, partition);
      let position = starts.get(partition)!;
      let wake: (() => void) | undefined;
      const onChange = (): void => {
        const resolve = wake;
        wake = undefined;
        resolve?.();
      };
      const waitForChange = (resolve: () => void): void => {
        wake = resolve;
      };
      if (log.getMaxListeners() !== 0) log.setMaxListeners(0); // one per subscription: there may be thousands
      log.on('highWatermark', onChange);
      log.on('closed', onChange);
      wakeOnAbort.add(onChange);
      try {
        while (!signal.aborted) {
          // Checked and armed in one synchronous step: no advance can slip between.
          if (log.highWatermark <= position && !log.isClosed) await new Promise<void>(waitForChange);
          if (signal.aborted) break;
          if (log.isClosed) throw closedLogError(store, topic, partition, log);
          if (log.highWatermark <= position) continue;
          if (position < log.logStartOffset) throw outOfRange(topic, partition, position, log); // retention passed us
          const response = await readAt(topic, partition, log, position, maxBytes, request.raw);
          if (response.nextOffset === position) continue;
          position = response.nextOffset;
          await write(response);
        }
      } finally {
        log.off('highWatermark', onChange);
        log.off('closed', onChange);
        wakeOnAbort.delete(onChange);
      }
    };
    try {
      await Promise.all(partitions.map(follow));
    } finally {
      controller.abort(); // ends the other partitions' loops when one failed
      signal.removeEventListener('abort', onAbort);
    }
  }

  async function startOffset(topic: string, partition: number, log: PartitionStore, request: pb.SubscribeRequest__Output): Promise<number> {
    switch (request.start) {
      case 'offset': {
        const offset = requireOffset('offset', request.offset);
        checkInRange(topic, partition, offset, log);
        return offset;
      }
      case 'timestampMs': {
        const ts = requireInt('timestamp_ms', request.timestampMs, 0);
        const found = await log.offsetForTimestamp(ts);
        return found ? found.offset : log.highWatermark;
      }
      case 'position':
        return request.position === 'START_POSITION_EARLIEST' ? log.logStartOffset : log.highWatermark;
      default:
        return log.highWatermark;
    }
  }

  const streamRequests = metrics.methodCounters('brook.v1.Log', 'ProduceStream.request');
  const streamRequestLabels = { service: 'brook.v1.Log', method: 'ProduceStream.request' };

  /**
   * Log.ProduceStream: each request goes through produce() as a unary call's
   * would, started in stream order, and is answered on the stream as soon as
   * it completes, with its request_id (replies may overtake each other). Each
   * request is counted as method "ProduceStream.request" in the RPC metrics;
   * the stream itself as "ProduceStream". The stream ends OK once the client
   * has ended its side and every request has its reply; with
   * INVALID_ARGUMENT for a message that is not a ProduceStreamRequest; with
   * UNAVAILABLE (SHUTTING_DOWN) on shutdown, once the requests already
   * started have their replies (requests read after that are answered
   * SHUTTING_DOWN and not written).
   */
  function produceStream(call: grpc.ServerDuplexStream<ProduceStreamRequestView, pb.ProduceStreamResponse>): void {
    // Paused, the call would otherwise go on reading up to 16 more requests.
    limitReadBuffer(call, 1);
    let waiting = 0;
    let waitingBytes = 0;
    let paused = false;
    let inputEnded = false;
    let ended = false;
    const end = (error?: BrookError): void => {
      if (ended) return;
      ended = true;
      shutdown.removeEventListener('abort', onShutdown);
      if (error) call.emit('error', error);
      else call.end();
    };
    const endIfDone = (): void => {
      if (waiting > 0) return;
      if (shutdown.aborted) end(shuttingDownError());
      else if (inputEnded) end();
    };
    const onShutdown = (): void => {
      if (!paused) {
        paused = true;
        call.pause();
      }
      endIfDone();
    };
    const reply = (message: pb.ProduceStreamResponse, bytes: number, startMs: number, code: string): void => {
      waiting--;
      waitingBytes -= bytes;
      streamRequests.finish(code);
      metrics.rpcDuration.observe(streamRequestLabels, (performance.now() - startMs) / 1000);
      if (!ended && !call.cancelled) call.write(message);
      if (paused && !shutdown.aborted && waiting <= PRODUCE_STREAM_MAX_WAITING / 2 && waitingBytes <= PRODUCE_STREAM_MAX_WAITING_BYTES / 2) {
        paused = false;
        call.resume();
      }
      endIfDone();
    };
    call.on('data', (message: ProduceStreamRequestView | undefined) => {
      if (ended) return;
      if (!message?.request || message.malformed !== undefined) {
        const reason = message?.malformed ?? 'undecodable message';
        return end(new BrookError('INVALID_ARGUMENT', `malformed ProduceStreamRequest: ${reason}; the stream ends here, and its requests without a reply may or may not have been written`));
      }
      const { requestId, request } = message;
      const bytes = request.wireBytes;
      const startMs = performance.now();
      waiting++;
      waitingBytes += bytes;
      streamRequests.inFlight++;
      if (!paused && (waiting >= PRODUCE_STREAM_MAX_WAITING || waitingBytes >= PRODUCE_STREAM_MAX_WAITING_BYTES)) {
        paused = true;
        call.pause();
      }
      const failed = (e: unknown): void => {
        const error = failureOf(e, logger, 'brook.v1.Log/ProduceStream');
        reply({ requestId, error }, bytes, startMs, statusName(error.status));
      };
      if (shutdown.aborted) return failed(shuttingDownError());
      produce(request).then((response) => reply({ requestId, response }, bytes, startMs, 'OK'), failed);
    });
    call.on('end', () => {
      inputEnded = true;
      endIfDone();
    });
    call.on('cancelled', () => {
      ended = true;
      shutdown.removeEventListener('abort', onShutdown);
    });
    shutdown.addEventListener('abort', onShutdown, { once: true });
  }

  async function listOffsets(request: pb.ListOffsetsRequest__Output): Promise<pb.ListOffsetsResponse> {
    const topic = requireTopic('topic', request.topic);
    const partition = requirePartition(request.partition);
    const log = store.partition(topic, partition);
    switch (request.spec) {
      case 'OFFSET_SPEC_EARLIEST':
        return { offset: log.logStartOffset, timestampMs: -1 };
      case 'OFFSET_SPEC_LATEST':
        return { offset: log.highWatermark, timestampMs: -1 };
      case 'OFFSET_SPEC_TIMESTAMP': {
        const ts = requireInt('timestamp_ms', request.timestampMs, 0);
        const found = await log.offsetForTimestamp(ts);
        return found ? { offset: found.offset, timestampMs: found.timestampMs } : { offset: log.highWatermark, timestampMs: -1 };
      }
      default:
        throw fieldError('spec', request.spec, 'OFFSET_SPEC_EARLIEST, OFFSET_SPEC_LATEST or OFFSET_SPEC_TIMESTAMP');
    }
  }

  async function initProducerId(request: pb.InitProducerIdRequest__Output): Promise<pb.InitProducerIdResponse> {
    const given = request.producerId === undefined || request.producerId === null ? -1 : Number(request.producerId);
    if (!Number.isSafeInteger(given) || given < -1) throw fieldError('producer_id', request.producerId, 'absent or -1 for a new id, or an id this broker allocated');
    if (given === -1) return producerIds.initProducerId();
    return producerIds.initProducerId(given, requireInt('producer_epoch', request.producerEpoch, 0, 0x7fff));
  }

  return {
    Produce: unary(produce),
    ProduceStream: produceStream,
    InitProducerId: unary(initProducerId),
    Fetch: unary(fetch),
    Subscribe: serverStream(subscribe),
    ListOffsets: unary(listOffsets),
  };
}

export type { TopicStore };
