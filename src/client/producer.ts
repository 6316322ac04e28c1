/**
 * The Producer: batches records per partition, encodes each batch once as a
 * RecordBatch v2 on the client and sends it with Produce's `record_batch`
 * fast path, so the broker only checks and stamps it.
 *
 * Batching (like Kafka's RecordAccumulator): records for one partition
 * collect in an open batch, encoded as they arrive. The batch closes when
 * its size reaches `batchMaxBytes`, or on `flush()`/`close()`, or:
 * - when the partition has a request in flight: once none is, or
 *   `lingerMs` after the batch's first record, whichever comes first;
 * - when it has none: at the end of the event-loop turn (records sent
 *   together still share a batch).
 * So a partition under load sends what arrived during its previous request
 * (batches grow with the load, with no timer in the way), and an idle one
 * sends at once. Measured with default options, one send() awaited at a
 * time (flush.policy=always): p50 8.2 ms with a fixed 5 ms linger, 1.9 ms
 * with this rule. Under load it batches like a fixed linger: at 20,000
 * records/s (W4 of the comparison harness) both send ~80–150 records per
 * request, while linger 0 (a request per event-loop turn, ~1000/s) fell
 * behind (p99 0.4–0.6 s). Closed batches wait in their partition's queue.
 *
 * Idempotence (default; Kafka's enable.idempotence): before its first batch
 * the producer asks the broker for a producer id and epoch (InitProducerId).
 * Each partition numbers its records from 0; a batch carries the sequence of
 * its first record, fixed when it is first sent and kept, with its bytes,
 * across retries. The broker remembers each producer's last 5 batches per
 * partition, so a retry after a lost reply is answered with the offsets the
 * first copy got and is never written twice, and a batch that overtakes an
 * earlier one is refused (OUT_OF_ORDER_SEQUENCE) instead of reordering the
 * log. That lets up to 5 requests per partition be in flight. A batch
 * refused for its sequence while an earlier batch of its partition is
 * unsettled waits for that one: if it was written, the batch is sent again
 * with the same sequence; if not, the batch goes back to its place in the
 * queue. A batch that fails for good leaves the partition's sequence
 * unknown: once nothing is in flight the producer bumps its epoch
 * (InitProducerId with its id) and numbers every partition from 0 again.
 * PRODUCER_FENCED and UNKNOWN_PRODUCER_ID end the producer: every record
 * not yet acknowledged rejects with the error, and so do later sends.
 *
 * Without idempotence (or with acks 'none') one request per partition is in
 * flight, so a retried batch can never overtake a later one; a retry after a
 * lost reply may then store a record twice.
 *
 * Sending: at most `maxInFlightRequests` requests across partitions. A failed
 * request is retried with exponential backoff and jitter only when its error
 * is retriable; otherwise every record of the batch rejects with that error
 * (its context names the topic and partition).
 *
 * Delivery: each send() settles exactly once: with the offset where the
 * record is, or with an error.
 *
 * Partitioning: an explicit `partition` wins; a keyed record goes where
 * Kafka's murmur2 partitioner (the broker's own, in src/common) puts its key;
 * keyless records stick to one partition until that partition's batch
 * closes, then move to another (Kafka's sticky partitioner, KIP-480), which
 * fills batches instead of spreading small ones.
 *
 * Concurrency: everything below runs on the event loop; `send` appends
 * synchronously once the topic's partition count is known, so records keep
 * the order of the send() calls.
 */
import { BrookError, type ErrorContext } from '../common/errors';
import { toBrookError } from './errors';
import { partitionForKey } from '../common/partitioner';
import type { pb } from '../protocol';
import { BatchBuilder, BufferPool } from './batch-encoding';
import { Connection, type ProduceTransport } from './connection';
import { PRODUCE_STREAM_PREFIX_ROOM, produceRequestPrefix, produceRequestPrefixRoom, withSerialized, type ProduceRequestWithBytes } from './produce-wire';
import { producerOptions, type ConnectionOptions, type ProducerOptions } from './options';
import { backoffDelayMs, sleep, withRetry } from './retry';
import { normalizeHeaders, toNullableBuffer, type ProducerRecord, type RecordHeader, type RecordMetadata } from './types';

/**
 * A record's metadata as send() resolves it: a class, not an object literal,
 * like every object the SDK makes per record (see DecodedRecord in
 * batch-encoding.ts for why). Named after the type it implements, which is
 * how it prints.
 */
const Delivered = class RecordMetadata {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
  ) {}
};

/**
 * One send() call. It settles once: with every record's metadata when the
 * last of its records is acknowledged, or with the first error. An array of
 * 1000 records is one Delivery and one promise, not 1000.
 */
class Delivery {
  /** Per record of an array send() call; a single record's metadata is resolved as it comes. */
  private readonly results: RecordMetadata[] | undefined;
  private remaining: number;
  private settled = false;
  constructor(
    count: number,
    single: boolean,
    private readonly resolve: (value: RecordMetadata | RecordMetadata[]) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.results = single ? undefined : new Array<RecordMetadata>(count);
    this.remaining = count;
  }

  /** Records [first, first + count) are at consecutive offsets from `baseOffset` (-1: unknown, acks 'none'). */
  deliver(first: number, count: number, topic: string, partition: number, baseOffset: number): void {
    const results = this.results;
    this.remaining -= count;
    if (results === undefined) {
      if (this.remaining === 0 && !this.settled) {
        this.settled = true;
        this.resolve(new Delivered(topic, partition, baseOffset < 0 ? -1 : baseOffset));
      }
      return;
    }
    for (let i = 0; i < count; i++) results[first + i] = new Delivered(topic, partition, baseOffset < 0 ? -1 : baseOffset + i);
    if (this.remaining === 0 && !this.settled) {
      this.settled = true;
      this.resolve(results);
    }
  }

  fail(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(error);
  }
}

/**
 * send()'s promise executor: one function for every call, which leaves the
 * settling functions here for send() to pick up at once (an executor runs
 * synchronously), instead of a new closure per call (~120 bytes per send:
 * W4 makes 20,000 sends a second).
 */
const forget = (): void => undefined;
let capturedResolve: (value: RecordMetadata | RecordMetadata[]) => void = forget;
let capturedReject: (error: unknown) => void = forget;
function captureSettlers(resolve: (value: RecordMetadata | RecordMetadata[]) => void, reject: (error: unknown) => void): void {
  capturedResolve = resolve;
  capturedReject = reject;
}

/** Consecutive records of one batch that came from one send() call (a class: see Delivered). */
class Run {
  constructor(
    readonly delivery: Delivery,
    /** Index of the run's first record in its send() call. */
    readonly first: number,
    public count: number,
  ) {}
}

interface Batch {
  readonly builder: BatchBuilder;
  readonly runs: Run[];
  /** Made by flush() when it has to wait for the batch (see whenSettled): most batches never need one. */
  settled: Promise<void> | undefined;
  markSettled: (() => void) | undefined;
  /** When the batch closed, among all batches: puts a batch sent back to its queue in its place. */
  order: number;
  /** Idempotent: the sequence of its first record, fixed on first send and kept across retries; -1 before. */
  baseSequence: number;
  /** The current send (all its attempts): acked, failed for good, or requeued (not written; send again later). */
  sending: Promise<SendOutcome> | undefined;
  /** The current send has settled. */
  done: boolean;
}

type SendOutcome = 'acked' | 'failed' | 'requeued';

class PartitionQueue {
  open: Batch | undefined;
  /** Bytes of the partition's latest closed batch: the next batch's buffer starts about this big (capped, see newBatch). */
  lastBatchBytes = 0;
  lingerTimer: NodeJS.Timeout | undefined;
  readonly closed: Batch[] = [];
  /**
   * The send window, in sequence order: from the oldest unsettled batch on,
   * including later batches already settled. Its length never exceeds the
   * per-partition limit, so a batch still being retried is always among the
   * last 5 batches the broker remembers for this producer.
   */
  readonly inFlight: Batch[] = [];
  /** Idempotent: the sequence the next batch starts at. */
  nextSequence = 0;
  /** The latest request's bytes are still going out: the next one waits (see Connection.produceInOrder). */
  wireBusy: Promise<void> | undefined;
  /** Batches refused for their sequence and waiting for a predecessor: no new batch starts meanwhile. */
  recovering = 0;
  /** Room each batch buffer keeps for the rest of its Produce request and the ProduceStream message around it (see produce-wire.ts). */
  readonly headroom: number;
  constructor(readonly topic: string, readonly partition: number) {
    this.headroom = produceRequestPrefixRoom(Buffer.byteLength(topic)) + PRODUCE_STREAM_PREFIX_ROOM;
  }
}

/** Requests in flight per partition with idempotence: the broker remembers 5 batches per producer (Kafka's limit). */
const MAX_IN_FLIGHT_PER_PARTITION_IDEMPOTENT = 5;
/**
 * A request this small goes out as a plain unary call with no wait for the
 * previous one to be written: it fits in one HTTP/2 DATA frame (16 KiB), so
 * it cannot interleave with another request's frames, and the unary path
 * costs less than a one-message stream (see bench/README.md, "Performance
 * log — client", for W3).
 */
const SMALL_REQUEST_BYTES = 16 * 1024 - 128;
/** Partitions are int32 on the wire. */
const MAX_PARTITION = 2 ** 31 - 1;
/** Sequences are int32 and wrap from 2^31-1 to 0. */
const SEQUENCE_MODULUS = 2 ** 31;
const SEQUENCE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE', 'UNKNOWN_PRODUCER_ID']);

interface TopicMetadata {
  partitionCount: number;
  fetchedAtMs: number;
  stickyPartition: number;
}

const ACKS: Record<ProducerOptions['acks'], pb.Acks> = { leader: 'ACKS_LEADER', all: 'ACKS_ALL', none: 'ACKS_NONE' };

/**
 * A batch's buffer starts a little above the size of its partition's
 * previous batch (at least MIN_BATCH_BUFFER_BYTES, at most
 * MAX_BATCH_START_BYTES) and doubles when records outgrow it, so a steady
 * stream of small batches allocates one buffer per batch, and a batch of a
 * record or a few comes from Node's shared 8 KiB Buffer pool instead of an
 * ArrayBuffer of its own. With a fixed 16 KiB start, W3 (one single-record
 * send() at a time) allocated 16 KiB of external memory per record, which
 * V8 counts towards its limits: 7 mark-compacts in 3,000 sends against 3 for
 * the plain grpc-js call. The cap keeps a partition whose previous batch
 * was full from starting its next one (perhaps of one record) at
 * batchMaxBytes: a producer writing to many partitions would hold that
 * much per partition. A batch that grows past the cap doubles its way up
 * (4 copies from 64 KiB to 1 MiB, at most one extra copy per byte).
 */
const MIN_BATCH_BUFFER_BYTES = 256;
const MAX_BATCH_START_BYTES = 64 * 1024;

function newBatch(batchMaxBytes: number, queue: PartitionQueue, pool: BufferPool): Batch {
  const previous = queue.lastBatchBytes;
  const wanted = Math.min(batchMaxBytes + 64, previous + (previous >>> 3));
  const headroom = queue.headroom;
  const initial = headroom + Math.min(MAX_BATCH_START_BYTES, Math.max(MIN_BATCH_BUFFER_BYTES, wanted));
  // After a batch past the cap, a pooled buffer for one like it, if there is one: no growing, no new memory.
  const buffer = wanted > MAX_BATCH_START_BYTES ? pool.take(headroom + wanted) : undefined;
  return {
    builder: new BatchBuilder(initial, { headroom, pool, buffer }),
    runs: [],
    settled: undefined,
    markSettled: undefined,
    order: 0,
    baseSequence: -1,
    sending: undefined,
    done: false,
  };
}

/** For flush(): resolves once the batch (still unsettled) has settled. */
function whenSettled(batch: Batch): Promise<void> {
  batch.settled ??= new Promise<void>((resolve) => (batch.markSettled = resolve));
  return batch.settled;
}

function failRuns(batch: Batch, error: unknown): void {
  for (const run of batch.runs) run.delivery.fail(error);
}

export class Producer {
  readonly options: Readonly<ProducerOptions>;
  private readonly transport: ProduceTransport;
  private readonly ownsTransport: Connection | undefined;
  /** Per topic, per partition. */
  private readonly queues = new Map<string, PartitionQueue[]>();
  /** Queues that have a closed batch and no request in flight, in arrival order. */
  private readonly sendable = new Set<PartitionQueue>();
  private readonly unsettled = new Set<Batch>();
  private readonly metadata = new Map<string, TopicMetadata>();
  private readonly metadataLoads = new Map<string, Promise<TopicMetadata>>();
  private readonly pendingAppends = new Set<Promise<unknown>>();
  private inFlight = 0;
  private closing = false;
  /** Idempotent produce is on (the option, and a transport that has InitProducerId). */
  readonly idempotent: boolean;
  private identity: { producerId: number; producerEpoch: number } | undefined;
  private identityLoad: Promise<void> | undefined;
  /** A batch failed for good: bump the epoch (and renumber) once nothing is in flight. */
  private bumpNeeded = false;
  /** PRODUCER_FENCED / UNKNOWN_PRODUCER_ID: the producer cannot send any more. */
  private fatalError: BrookError | undefined;
  private closedBatches = 0;
  private readonly abort = new AbortController();
  /** Buffers of settled large batches, for the next ones: a few more than a partition's send window. */
  private readonly bufferPool = new BufferPool(MAX_IN_FLIGHT_PER_PARTITION_IDEMPOTENT + 3);

  /**
   * `transport` is a `Connection` (or connection options, and the producer
   * makes and closes its own connection). Tests pass a fake transport.
   */
  constructor(transport: ProduceTransport | Partial<ConnectionOptions> = {}, options: Partial<ProducerOptions> = {}) {
    this.options = producerOptions(options);
    if (isTransport(transport)) {
      this.transport = transport;
    } else {
      this.ownsTransport = new Connection(transport);
      this.transport = this.ownsTransport;
    }
    this.idempotent = this.options.idempotent && typeof this.transport.initProducerId === 'function';
  }

  /** The producer id and epoch in use (idempotent producers, after the first send). */
  get producerIdentity(): { producerId: number; producerEpoch: number } | undefined {
    return this.identity;
  }

  /** Sends one record; resolves with where it was written. */
  send(record: ProducerRecord): Promise<RecordMetadata>;
  /**
   * Sends records in order; resolves with where each was written, in the same
   * order, once all are acknowledged, or rejects with the first error. Every
   * record is checked before any is queued: a bad one rejects the call and
   * none of its records is sent.
   */
  send(records: ProducerRecord[]): Promise<RecordMetadata[]>;
  send(input: ProducerRecord | ProducerRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    const single = !Array.isArray(input);
    const records: ProducerRecord[] = single ? [input as ProducerRecord] : (input as ProducerRecord[]);
    if (this.closing) return Promise.reject(new BrookError('CLIENT_CLOSED', 'the producer is closed', { topic: records[0]?.topic }));
    if (this.fatalError) return Promise.reject(this.fatalError);
    if (records.length === 0) return Promise.resolve([]);
    try {
      for (let i = 0; i < records.length; i++) check(records[i], single ? undefined : i);
    } catch (e) {
      return Promise.reject(e);
    }
    const promise = new Promise<RecordMetadata | RecordMetadata[]>(captureSettlers);
    const delivery = new Delivery(records.length, single, capturedResolve, capturedReject);
    capturedResolve = capturedReject = forget;
    try {
      this.appendFrom(records, 0, delivery, Date.now());
    } catch (e) {
      delivery.fail(e); // as a throw inside the executor would have
    }
    return promise;
  }

  /**
   * Appends records[from..] in order. A record whose partition needs the
   * topic's partition count, not known yet, waits for it, and so do the
   * records after it, so the call's order is kept.
   */
  private appendFrom(records: readonly ProducerRecord[], from: number, delivery: Delivery, nowMs: number): void {
    if (this.fatalError) return delivery.fail(this.fatalError);
    let queue: PartitionQueue | undefined;
    for (let i = from; i < records.length; i++) {
      const record = records[i];
      const topic = record.topic;
      const key = toNullableBuffer(record.key);
      let partition = record.partition;
      if (partition === undefined) {
        const meta = this.freshMetadata(topic);
        if (!meta || this.metadataLoads.has(topic)) {
          // Wait for the partition count; appends queued behind the same load keep their order.
          const load = this.loadMetadata(topic).then(
            () => this.appendFrom(records, i, delivery, nowMs),
            (e) => delivery.fail(e),
          );
          this.pendingAppends.add(load);
          void load.finally(() => this.pendingAppends.delete(load));
          return;
        }
        partition = this.choosePartition(meta, key);
      }
      if (queue === undefined || queue.partition !== partition || queue.topic !== topic) queue = this.queueFor(topic, partition);
      const headers = record.headers === undefined ? null : normalizeHeaders(record.headers);
      this.append(queue, delivery, i, key, toNullableBuffer(record.value), headers, record.timestampMs ?? nowMs);
    }
  }

  private freshMetadata(topic: string): TopicMetadata | undefined {
    const meta = this.metadata.get(topic);
    if (!meta) return undefined;
    if (Date.now() - meta.fetchedAtMs > this.options.metadataMaxAgeMs) {
      void this.loadMetadata(topic).catch(() => undefined); // refresh in the background; keep using what we have
    }
    return meta;
  }

  private loadMetadata(topic: string): Promise<TopicMetadata> {
    const existing = this.metadataLoads.get(topic);
    if (existing) return existing;
    const load = withRetry(() => this.transport.partitionCount(topic), this.options.retry, this.abort.signal)
      .then((partitionCount) => {
        if (partitionCount < 1) throw new BrookError('UNKNOWN_TOPIC', `topic ${topic} has no partitions`, { topic });
        const previous = this.metadata.get(topic);
        const sticky = previous && previous.stickyPartition < partitionCount ? previous.stickyPartition : Math.floor(Math.random() * partitionCount);
        const meta: TopicMetadata = { partitionCount, fetchedAtMs: Date.now(), stickyPartition: sticky };
        this.metadata.set(topic, meta);
        return meta;
      })
      .finally(() => this.metadataLoads.delete(topic));
    this.metadataLoads.set(topic, load);
    return load;
  }

  private choosePartition(meta: TopicMetadata, key: Buffer | null): number {
    if (key !== null) return partitionForKey(key, meta.partitionCount);
    return meta.stickyPartition;
  }

  private queueFor(topic: string, partition: number): PartitionQueue {
    let partitions = this.queues.get(topic);
    if (!partitions) {
      partitions = [];
      this.queues.set(topic, partitions);
    }
    let queue = partitions[partition];
    if (!queue) {
      queue = new PartitionQueue(topic, partition);
      partitions[partition] = queue;
    }
    return queue;
  }

  private allQueues(): PartitionQueue[] {
    const all: PartitionQueue[] = [];
    for (const partitions of this.queues.values()) for (const queue of partitions) if (queue) all.push(queue);
    return all;
  }

  private append(queue: PartitionQueue, delivery: Delivery, index: number, key: Buffer | null, value: Buffer | null, headers: RecordHeader[] | null, timestampMs: number): void {
    const limit = this.options.batchMaxBytes;
    let batch = queue.open;
    if (batch && batch.builder.count > 0) {
      const builder = batch.builder;
      // The exact size only near the limit: 32 bytes bound the framing of a record without headers.
      const rough = 32 + (key === null ? 0 : key.length) + (value === null ? 0 : value.length);
      if (builder.size + rough > limit || headers !== null) {
        if (builder.size + BatchBuilder.sizeOf(key, value, headers, builder.deltaOf(timestampMs), builder.count) > limit) {
          this.closeBatch(queue);
          batch = undefined;
        }
      }
    }
    if (!batch) {
      batch = queue.open = newBatch(limit, queue, this.bufferPool);
      this.unsettled.add(batch);
    }
    batch.builder.append(key, value, headers, timestampMs);
    const runs = batch.runs;
    const last = runs.length > 0 ? runs[runs.length - 1] : undefined;
    if (last !== undefined && last.delivery === delivery && last.first + last.count === index) last.count++;
    else runs.push(new Run(delivery, index, 1));
    if (batch.builder.size >= limit) {
      this.closeBatch(queue);
    } else if (!queue.lingerTimer) {
      if (this.options.lingerMs === 0 || (queue.inFlight.length === 0 && queue.closed.length === 0)) {
        // Close at the end of this tick, so records sent together still share a batch.
        // A partition with nothing in flight does not linger: waiting would
        // only add latency (see the class comment).
        queue.lingerTimer = setImmediate(() => this.closeBatch(queue)) as unknown as NodeJS.Timeout;
      } else {
        queue.lingerTimer = setTimeout(() => this.closeBatch(queue), this.options.lingerMs);
      }
    }
  }

  private closeBatch(queue: PartitionQueue): void {
    if (queue.lingerTimer) {
      clearTimeout(queue.lingerTimer);
      clearImmediate(queue.lingerTimer as unknown as NodeJS.Immediate);
      queue.lingerTimer = undefined;
    }
    const batch = queue.open;
    if (!batch) return;
    queue.open = undefined;
    queue.lastBatchBytes = batch.builder.size;
    batch.order = this.closedBatches++;
    queue.closed.push(batch);
    // Sticky partitioner: once a keyless partition's batch closes, move on.
    const meta = this.metadata.get(queue.topic);
    if (meta && meta.stickyPartition === queue.partition && meta.partitionCount > 1) {
      const next = Math.floor(Math.random() * (meta.partitionCount - 1));
      meta.stickyPartition = next >= queue.partition ? next + 1 : next;
    }
    this.sendable.add(queue);
    this.drain();
  }

  private drain(): void {
    if (this.fatalError) return;
    if (this.idempotent && (this.identityLoad || !this.identity || this.bumpNeeded)) {
      if (!this.identityLoad && this.sendable.size > 0 && (!this.bumpNeeded || this.inFlight === 0)) this.loadIdentity();
      return;
    }
    const perPartition = this.idempotent ? MAX_IN_FLIGHT_PER_PARTITION_IDEMPOTENT : 1;
    for (const queue of this.sendable) {
      // A queue blocked on its wire or its recovery stays sendable; it drains again when that ends.
      while (queue.closed.length > 0 && queue.inFlight.length < perPartition && !queue.wireBusy && queue.recovering === 0) {
        if (this.inFlight >= this.options.maxInFlightRequests) return;
        this.startBatch(queue, queue.closed.shift() as Batch);
      }
      if (queue.closed.length === 0) this.sendable.delete(queue);
    }
  }

  private startBatch(queue: PartitionQueue, batch: Batch): void {
    if (this.idempotent && batch.baseSequence < 0) {
      batch.baseSequence = queue.nextSequence;
      queue.nextSequence = (queue.nextSequence + batch.builder.count) % SEQUENCE_MODULUS;
    }
    batch.done = false;
    queue.inFlight.push(batch);
    this.inFlight++;
    const sending = this.sendBatch(queue, batch);
    batch.sending = sending;
    void sending.then((outcome) => {
      batch.done = true;
      if (outcome === 'requeued') queue.inFlight.splice(queue.inFlight.indexOf(batch), 1);
      while (queue.inFlight.length > 0 && queue.inFlight[0].done) queue.inFlight.shift();
      this.inFlight--;
      // The partition has nothing in flight any more: its lingering batch goes now.
      if (queue.open && queue.inFlight.length === 0 && queue.closed.length === 0 && outcome !== 'requeued') this.closeBatch(queue);
      if (outcome === 'requeued' && this.fatalError) {
        // Not written, and the producer has ended meanwhile (fail() has emptied the queues): it fails with the rest.
        failRuns(batch, withPartition(this.fatalError, queue));
        this.settle(batch);
      } else if (outcome === 'requeued') {
        // Not written: back to its place in the queue, renumbered when sent again.
        batch.baseSequence = -1;
        let at = 0;
        while (at < queue.closed.length && queue.closed[at].order < batch.order) at++;
        queue.closed.splice(at, 0, batch);
      } else {
        this.settle(batch);
      }
      if (queue.closed.length > 0) this.sendable.add(queue);
      this.drain();
    });
  }

  /** InitProducerId: a new id on first use, or the same id at the next epoch after a batch failed for good. */
  private loadIdentity(): void {
    const initProducerId = this.transport.initProducerId as NonNullable<ProduceTransport['initProducerId']>;
    const previous = this.identity;
    const request: pb.InitProducerIdRequest = previous ? { producerId: previous.producerId, producerEpoch: previous.producerEpoch } : {};
    const load = withRetry(() => initProducerId.call(this.transport, request, this.options.requestTimeoutMs), this.options.retry, this.abort.signal).then(
      (reply) => {
        this.identity = { producerId: Number(reply.producerId), producerEpoch: reply.producerEpoch };
        this.bumpNeeded = false;
        if (previous) {
          for (const queue of this.allQueues()) {
            queue.nextSequence = 0;
            queue.inFlight.length = 0; // nothing is in flight during a bump; the window starts afresh
          }
        }
      },
      (e: unknown) => {
        const error = toBrookError(e, {});
        if (error.code === 'PRODUCER_FENCED' || error.code === 'UNKNOWN_PRODUCER_ID') {
          this.fail(error);
          return;
        }
        // Could not get an id (broker unreachable past the retries): the batches waiting for one fail; later sends try again.
        const cause = new BrookError(error.code, `could not get a producer id from the broker: ${error.message}`, {}, { cause: error });
        for (const queue of this.allQueues()) this.rejectQueued(queue, cause);
      },
    );
    this.identityLoad = load.finally(() => {
      this.identityLoad = undefined;
      this.drain();
    });
  }

  /** Ends the producer: every record not yet sent rejects with `error`, and so does every later send(). */
  private fail(error: BrookError): void {
    this.fatalError ??= new BrookError(error.code, `${error.message}; this producer can send no more records: create a new Producer`, error.context, { cause: error });
    for (const queue of this.allQueues()) {
      if (queue.lingerTimer) {
        clearTimeout(queue.lingerTimer);
        clearImmediate(queue.lingerTimer as unknown as NodeJS.Immediate);
        queue.lingerTimer = undefined;
      }
      if (queue.open) {
        queue.closed.push(queue.open);
        queue.open = undefined;
      }
      this.rejectQueued(queue, this.fatalError);
    }
  }

  /** Every record of `batch` has settled: it leaves `unsettled` (waking a flush() waiting on it), and its buffer goes back to the pool (no request views it any more). */
  private settle(batch: Batch): void {
    this.unsettled.delete(batch);
    batch.markSettled?.();
    batch.builder.release();
  }

  private rejectQueued(queue: PartitionQueue, error: BrookError): void {
    for (const batch of queue.closed.splice(0)) {
      failRuns(batch, withPartition(error, queue));
      this.settle(batch);
    }
    this.sendable.delete(queue);
  }

  /**
   * Starts one Produce for `queue`'s partition once its previous request is
   * on the wire, so the broker receives a partition's requests in the order
   * they were started. Synchronous when the wire is free.
   */
  private async produceOnWire(queue: PartitionQueue, request: pb.ProduceRequest, started: () => void): Promise<pb.ProduceResponse__Output> {
    const inOrder = this.transport.produceInOrder;
    if (!inOrder || (request.recordBatch as Buffer).length <= SMALL_REQUEST_BYTES) {
      started();
      return this.transport.produce(request, this.options.requestTimeoutMs);
    }
    while (queue.wireBusy) await queue.wireBusy;
    const call = inOrder.call(this.transport, request, this.options.requestTimeoutMs);
    started();
    const written: Promise<void> = call.written.then(() => {
      if (queue.wireBusy !== written) return;
      queue.wireBusy = undefined;
      if (queue.closed.length > 0) this.sendable.add(queue);
      this.drain();
    });
    queue.wireBusy = written;
    return call.reply;
  }

  private async sendBatch(queue: PartitionQueue, batch: Batch): Promise<SendOutcome> {
    const { topic, partition } = queue;
    const context: ErrorContext = { topic, partition };
    const identity = this.identity;
    const fail = (error: BrookError): SendOutcome => {
      failRuns(batch, error);
      return 'failed';
    };
    const request: ProduceRequestWithBytes = { topic, partition, acks: ACKS[this.options.acks] };
    try {
      const stamp = this.idempotent && identity ? { producerId: identity.producerId, producerEpoch: identity.producerEpoch, baseSequence: batch.baseSequence } : undefined;
      const recordBatch = batch.builder.seal(stamp);
      request.recordBatch = recordBatch;
      // The request's wire bytes around the batch's, so the connection does not copy the batch to serialize it.
      const prefix = produceRequestPrefix(topic, partition, request.acks, recordBatch.length);
      withSerialized(request, batch.builder.withPrefix(prefix), queue.headroom - prefix.length);
    } catch (e) {
      if (this.idempotent) this.bumpNeeded = true; // its sequence is taken but will never be written
      return fail(toBrookError(e, context));
    }
    let recovering = false;
    const endRecovery = (): void => {
      if (!recovering) return;
      recovering = false;
      queue.recovering--;
      if (queue.recovering === 0 && queue.closed.length > 0) {
        this.sendable.add(queue);
        queueMicrotask(() => this.drain());
      }
    };
    for (let attempt = 0; ; attempt++) {
      let response: pb.ProduceResponse__Output;
      // The batch just ahead of this one as it goes out. Requests can overtake
      // each other on the way (HTTP/2 streams are not delivered in order), so a
      // refusal for sequence may be answered only after that batch's ack was.
      const sentAt = queue.inFlight.indexOf(batch);
      const aheadWhenSent = sentAt > 0 ? queue.inFlight[sentAt - 1].sending : undefined;
      try {
        // Once a resend has its place on the wire, later batches may follow it.
        response = await this.produceOnWire(queue, request, endRecovery);
      } catch (e) {
        endRecovery(); // also when the call could not start: the partition must not stay blocked
        const error = toBrookError(e, context);
        if (error.code === 'UNKNOWN_PARTITION' || error.code === 'UNKNOWN_TOPIC') this.metadata.delete(topic);
        if (!this.idempotent) {
          if (error.retriable && attempt < this.options.retry.retries && !this.abort.signal.aborted) {
            await sleep(backoffDelayMs(attempt, this.options.retry), this.abort.signal);
            continue;
          }
          return fail(error);
        }
        if (SEQUENCE_ERRORS.has(error.code)) {
          // Refused for its sequence, so not written. An earlier batch not yet
          // written when this one arrived explains it: the one still ahead of
          // it, or, if that has settled and left the window since, the one
          // that was ahead when it was sent (that attempt's outcome).
          const at = queue.inFlight.indexOf(batch);
          const previous = at > 0 ? queue.inFlight[at - 1].sending : aheadWhenSent;
          if (previous) {
            // New batches wait meanwhile: sent now, they would only be refused in turn.
            if (!recovering) {
              recovering = true;
              queue.recovering++;
            }
            if ((await previous) === 'acked' && !this.fatalError) continue; // its predecessor is in: same sequence again
            endRecovery();
            return 'requeued';
          }
          if (this.bumpNeeded) return 'requeued'; // renumbered after the epoch bump
          if (error.code === 'UNKNOWN_PRODUCER_ID') {
            this.fail(error);
            return fail(this.fatalError as BrookError);
          }
          this.bumpNeeded = true;
          return fail(error);
        }
        if (error.code === 'PRODUCER_FENCED') {
          this.fail(error);
          return fail(this.fatalError as BrookError);
        }
        if (error.retriable && attempt < this.options.retry.retries && !this.abort.signal.aborted) {
          await sleep(backoffDelayMs(attempt, this.options.retry), this.abort.signal);
          continue;
        }
        // Whether it was written is unknown: the partition's sequence is too, so renumber after an epoch bump.
        this.bumpNeeded = true;
        return fail(error);
      }
      const result = response.results.find((r) => r.partition === partition) ?? response.results[0];
      if (this.options.acks === 'none') {
        for (const run of batch.runs) run.delivery.deliver(run.first, run.count, topic, partition, -1);
        return 'acked';
      }
      const count = batch.builder.count;
      if (!result || result.recordCount !== count) {
        if (this.idempotent) this.bumpNeeded = true;
        return fail(new BrookError('INVARIANT_VIOLATION', `produce reply for ${topic}/${partition} covers ${result?.recordCount ?? 0} records, ${count} were sent`, context));
      }
      // Answered for good: the buffer can take the next batch, which the callers' continuations may start at once.
      batch.builder.release();
      let offset = Number(result.baseOffset);
      for (const run of batch.runs) {
        run.delivery.deliver(run.first, run.count, topic, partition, offset);
        offset += run.count;
      }
      return 'acked';
    }
  }

  /** Sends every record given to send() so far and waits until each has settled. */
  async flush(): Promise<void> {
    while (this.pendingAppends.size > 0) await Promise.allSettled([...this.pendingAppends]);
    for (const queue of this.allQueues()) if (queue.open) this.closeBatch(queue);
    await Promise.all([...this.unsettled].map(whenSettled));
  }

  /** Flushes, refuses further sends, and closes the connection if the producer made it. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    try {
      await this.flush();
    } finally {
      this.abort.abort();
      this.bufferPool.clear();
      this.ownsTransport?.close();
    }
  }
}


function withPartition(error: BrookError, queue: PartitionQueue): BrookError {
  if (error.context.topic === queue.topic && error.context.partition === queue.partition) return error;
  return new BrookError(error.code, error.message, { ...error.context, topic: queue.topic, partition: queue.partition }, { cause: error });
}

function isTransport(x: unknown): x is ProduceTransport {
  return typeof (x as ProduceTransport)?.produce === 'function' && typeof (x as ProduceTransport)?.partitionCount === 'function';
}

/**
 * Checks one record of a send() call (`index` in an array) without copying
 * anything, and without allocating unless it throws (it runs per record).
 */
function check(record: ProducerRecord, index: number | undefined): void {
  if (typeof record !== 'object' || record === null) {
    throw new BrookError('INVALID_ARGUMENT', index === undefined ? 'send() takes a record object' : `send(): records[${index}] is not a record object`);
  }
  if (typeof record.topic !== 'string' || record.topic.length === 0) throw invalid(record, index, 'topic must be a non-empty string');
  const partition = record.partition;
  if (partition !== undefined && (!Number.isInteger(partition) || partition < 0 || partition > MAX_PARTITION)) {
    throw invalid(record, index, `partition must be an integer from 0 to ${MAX_PARTITION}, got ${partition}`);
  }
  if (record.value === undefined) throw invalid(record, index, 'value is required (null for a tombstone)');
  if (!isBytes(record.value, true)) throw invalid(record, index, 'value must be a Buffer, Uint8Array, string or null');
  if (!isBytes(record.key, true) && record.key !== undefined) throw invalid(record, index, 'key must be a Buffer, Uint8Array, string or null');
  const timestampMs = record.timestampMs;
  if (timestampMs !== undefined && (!Number.isSafeInteger(timestampMs) || timestampMs < 0)) {
    throw invalid(record, index, `timestampMs must be ms since the epoch, got ${timestampMs}`);
  }
}

function invalid(record: ProducerRecord, index: number | undefined, what: string): BrookError {
  const which = index === undefined ? 'record' : `records[${index}]`;
  const context = typeof record.topic === 'string' && record.topic.length > 0 ? { topic: record.topic } : {};
  return new BrookError('INVALID_ARGUMENT', `${which}.${what}`, context);
}

function isBytes(value: unknown, nullable: boolean): boolean {
  return (nullable && value === null) || typeof value === 'string' || value instanceof Uint8Array;
}
