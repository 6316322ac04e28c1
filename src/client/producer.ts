/**
 * The Producer: batches records per partition, encodes each batch once as a
 * RecordBatch v2 on the client and sends it with Produce's `record_batch`
 * fast path, so the broker only checks and stamps it.
 *
 * Batching (like Kafka's RecordAccumulator): records for one partition
 * collect in an open batch. The batch closes when its estimated encoded size
 * reaches `batchMaxBytes`, or `lingerMs` after its first record, or on
 * `flush()`/`close()`. Closed batches wait in their partition's queue.
 *
 * Sending: at most one request per partition is in flight — a retried batch
 * can then never overtake a later one, so records keep their send() order
 * within a partition — and at most `maxInFlightRequests` across partitions.
 * A failed request is retried with exponential backoff and jitter only when
 * its error is retriable; otherwise every record of the batch rejects with
 * that error (its context names the topic and partition).
 *
 * Delivery: each send() settles exactly once: with the offset the broker
 * assigned, or with an error. A retry after a reply was lost (the broker
 * restarted after writing) may store a record twice; the offset returned is
 * the one of the copy written by the acknowledged request.
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
import { partitionForKey } from '../common/partitioner';
import type { pb } from '../protocol';
import { encodeBatch, estimateRecordBytes, BATCH_OVERHEAD_BYTES, type OutgoingRecord } from './batch-encoding';
import { Connection, type ProduceTransport } from './connection';
import { producerOptions, type ConnectionOptions, type ProducerOptions } from './options';
import { withRetry } from './retry';
import { normalizeHeaders, partitionKey, toNullableBuffer, type ProducerRecord, type RecordMetadata } from './types';

interface PendingRecord {
  readonly record: OutgoingRecord;
  readonly bytes: number;
  readonly resolve: (metadata: RecordMetadata) => void;
  readonly reject: (error: unknown) => void;
}

interface Batch {
  readonly records: PendingRecord[];
  bytes: number;
  /** Resolves (never rejects) once every record of the batch has settled. */
  readonly settled: Promise<void>;
  readonly markSettled: () => void;
}

class PartitionQueue {
  open: Batch | undefined;
  lingerTimer: NodeJS.Timeout | undefined;
  readonly closed: Batch[] = [];
  inFlight = false;
  constructor(readonly topic: string, readonly partition: number) {}
}

interface TopicMetadata {
  partitionCount: number;
  fetchedAtMs: number;
  stickyPartition: number;
}

const ACKS: Record<ProducerOptions['acks'], pb.Acks> = { leader: 'ACKS_LEADER', all: 'ACKS_ALL', none: 'ACKS_NONE' };

function newBatch(): Batch {
  let markSettled!: () => void;
  const settled = new Promise<void>((resolve) => (markSettled = resolve));
  return { records: [], bytes: BATCH_OVERHEAD_BYTES, settled, markSettled };
}

export class Producer {
  readonly options: Readonly<ProducerOptions>;
  private readonly transport: ProduceTransport;
  private readonly ownsTransport: Connection | undefined;
  private readonly queues = new Map<string, PartitionQueue>();
  /** Queues that have a closed batch and no request in flight, in arrival order. */
  private readonly sendable = new Set<PartitionQueue>();
  private readonly unsettled = new Set<Batch>();
  private readonly metadata = new Map<string, TopicMetadata>();
  private readonly metadataLoads = new Map<string, Promise<TopicMetadata>>();
  private readonly pendingAppends = new Set<Promise<unknown>>();
  private inFlight = 0;
  private closing = false;
  private readonly abort = new AbortController();

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
  }

  /** Sends one record; resolves with where it was written. */
  send(record: ProducerRecord): Promise<RecordMetadata>;
  /** Sends records in order; resolves with where each was written, in the same order. */
  send(records: ProducerRecord[]): Promise<RecordMetadata[]>;
  send(input: ProducerRecord | ProducerRecord[]): Promise<RecordMetadata | RecordMetadata[]> {
    if (Array.isArray(input)) return Promise.all(input.map((r) => this.sendOne(r)));
    return this.sendOne(input);
  }

  private sendOne(record: ProducerRecord): Promise<RecordMetadata> {
    if (this.closing) return Promise.reject(new BrookError('CLIENT_CLOSED', 'the producer is closed', { topic: record?.topic }));
    let outgoing: OutgoingRecord;
    try {
      outgoing = normalize(record);
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<RecordMetadata>((resolve, reject) => {
      const pending: PendingRecord = { record: outgoing, bytes: estimateRecordBytes(outgoing), resolve, reject };
      const { topic } = record;
      if (record.partition !== undefined) return this.append(topic, record.partition, pending);
      const meta = this.freshMetadata(topic);
      if (meta && !this.metadataLoads.has(topic)) return this.append(topic, this.choosePartition(meta, outgoing.key), pending);
      // Wait for the partition count; appends queued behind the same load keep their order.
      const load = this.loadMetadata(topic).then(
        (loaded) => this.append(topic, this.choosePartition(loaded, outgoing.key), pending),
        (e) => reject(e),
      );
      this.pendingAppends.add(load);
      void load.finally(() => this.pendingAppends.delete(load));
    });
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
    const k = partitionKey(topic, partition);
    let queue = this.queues.get(k);
    if (!queue) {
      queue = new PartitionQueue(topic, partition);
      this.queues.set(k, queue);
    }
    return queue;
  }

  private append(topic: string, partition: number, pending: PendingRecord): void {
    const queue = this.queueFor(topic, partition);
    if (queue.open && queue.open.records.length > 0 && queue.open.bytes + pending.bytes > this.options.batchMaxBytes) {
      this.closeBatch(queue);
    }
    if (!queue.open) {
      queue.open = newBatch();
      this.unsettled.add(queue.open);
    }
    queue.open.records.push(pending);
    queue.open.bytes += pending.bytes;
    if (queue.open.bytes >= this.options.batchMaxBytes) {
      this.closeBatch(queue);
    } else if (!queue.lingerTimer) {
      if (this.options.lingerMs === 0) {
        // Close at the end of this tick, so records sent together still share a batch.
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
    queue.closed.push(batch);
    // Sticky partitioner: once a keyless partition's batch closes, move on.
    const meta = this.metadata.get(queue.topic);
    if (meta && meta.stickyPartition === queue.partition && meta.partitionCount > 1) {
      const next = Math.floor(Math.random() * (meta.partitionCount - 1));
      meta.stickyPartition = next >= queue.partition ? next + 1 : next;
    }
    if (!queue.inFlight) this.sendable.add(queue);
    this.drain();
  }

  private drain(): void {
    for (const queue of this.sendable) {
      if (this.inFlight >= this.options.maxInFlightRequests) return;
      this.sendable.delete(queue);
      const batch = queue.closed.shift();
      if (!batch) continue;
      queue.inFlight = true;
      this.inFlight++;
      void this.sendBatch(queue, batch).finally(() => {
        queue.inFlight = false;
        this.inFlight--;
        this.unsettled.delete(batch);
        batch.markSettled();
        if (queue.closed.length > 0) this.sendable.add(queue);
        this.drain();
      });
    }
  }

  private async sendBatch(queue: PartitionQueue, batch: Batch): Promise<void> {
    const { topic, partition } = queue;
    const context: ErrorContext = { topic, partition };
    try {
      const recordBatch = encodeBatch(batch.records.map((p) => p.record));
      const request: pb.ProduceRequest = { topic, partition, recordBatch, acks: ACKS[this.options.acks] };
      const response = await withRetry(() => this.transport.produce(request, this.options.requestTimeoutMs), this.options.retry, this.abort.signal);
      const result = response.results.find((r) => r.partition === partition) ?? response.results[0];
      if (this.options.acks === 'none') {
        for (const p of batch.records) p.resolve({ topic, partition, offset: -1 });
        return;
      }
      if (!result || result.recordCount !== batch.records.length) {
        throw new BrookError('INVARIANT_VIOLATION', `produce reply for ${topic}/${partition} covers ${result?.recordCount ?? 0} records, ${batch.records.length} were sent`, context);
      }
      const base = Number(result.baseOffset);
      batch.records.forEach((p, i) => p.resolve({ topic, partition, offset: base + i }));
    } catch (e) {
      const error = e instanceof BrookError ? e : new BrookError('INTERNAL', e instanceof Error ? e.message : String(e), context, { cause: e });
      if (error.code === 'UNKNOWN_PARTITION' || error.code === 'UNKNOWN_TOPIC') this.metadata.delete(topic);
      for (const p of batch.records) p.reject(error);
    }
  }

  /** Sends every record given to send() so far and waits until each has settled. */
  async flush(): Promise<void> {
    while (this.pendingAppends.size > 0) await Promise.allSettled([...this.pendingAppends]);
    for (const queue of this.queues.values()) if (queue.open) this.closeBatch(queue);
    await Promise.all([...this.unsettled].map((b) => b.settled));
  }

  /** Flushes, refuses further sends, and closes the connection if the producer made it. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    try {
      await this.flush();
    } finally {
      this.abort.abort();
      this.ownsTransport?.close();
    }
  }
}

function isTransport(x: unknown): x is ProduceTransport {
  return typeof (x as ProduceTransport)?.produce === 'function' && typeof (x as ProduceTransport)?.partitionCount === 'function';
}

function normalize(record: ProducerRecord): OutgoingRecord {
  if (typeof record !== 'object' || record === null) throw new BrookError('INVALID_ARGUMENT', 'send() takes a record object');
  if (typeof record.topic !== 'string' || record.topic.length === 0) throw new BrookError('INVALID_ARGUMENT', 'record.topic must be a non-empty string');
  const context = { topic: record.topic };
  if (record.partition !== undefined && (!Number.isInteger(record.partition) || record.partition < 0)) {
    throw new BrookError('INVALID_ARGUMENT', `record.partition must be an integer >= 0, got ${record.partition}`, context);
  }
  if (record.value === undefined) throw new BrookError('INVALID_ARGUMENT', 'record.value is required (null for a tombstone)', context);
  const timestampMs = record.timestampMs ?? Date.now();
  if (!Number.isSafeInteger(timestampMs) || timestampMs < 0) throw new BrookError('INVALID_ARGUMENT', `record.timestampMs must be ms since the epoch, got ${timestampMs}`, context);
  return { key: toNullableBuffer(record.key), value: toNullableBuffer(record.value), headers: normalizeHeaders(record.headers), timestampMs };
}
