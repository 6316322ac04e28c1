/**
 * What the broker's services need from storage, as interfaces, so the
 * services depend on a contract rather than on `LogManager` itself (unit tests
 * pass an in-memory double; the broker passes the real `LogManager`, which
 * satisfies these structurally).
 *
 * Concurrency: every method may be called while others are in flight;
 * ordering within one partition is the partition log's business (appends are
 * serialized there and offsets handed out in call order).
 */
import type { EventEmitter } from 'events';
import type { AppendResult, PartitionDescription, ReadResult, TopicConfig, TopicDescription } from '../storage';

export type { AppendResult, ReadResult };
/** One partition as the services see it: storage's own description. */
export type PartitionState = PartitionDescription;
/** One topic as the services see it: storage's own description. */
export type TopicState = TopicDescription;

/**
 * One partition's log. Emits 'highWatermark' (hw: number) whenever the high
 * watermark advances, and 'closed' once when it is closed (broker shutdown,
 * or its topic deleted): after that it never advances again.
 */
export interface PartitionStore extends EventEmitter {
  /** True once closing has begun; the store no longer serves this instance. */
  readonly isClosed: boolean;
  readonly logStartOffset: number;
  readonly highWatermark: number;
  readonly logEndOffset: number;
  readonly sizeBytes: number;
  readonly segmentCount: number;
  readonly config: TopicConfig;
  /** Validates one RecordBatch v2, stamps its base offset and appends it; resolves once durable under flush.policy. */
  append(batch: Buffer): Promise<AppendResult>;
  /** Reads whole batches from `offset` up to about `maxBytes` (at least one batch) below the high watermark. */
  /**
   * `headroom`: ask for that many spare bytes before the data (the result's
   * `headroom` says what was given); `allocate`: where buffers read into come from.
   */
  read(offset: number, maxBytes: number, headroom?: number, allocate?: (size: number) => Buffer): Promise<ReadResult>;
  /** First offset whose timestamp ≥ ts, with that record's timestamp; null when none. */
  offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestampMs: number } | null> | { offset: number; timestampMs: number } | null;
}

/** Allocates idempotent-producer ids and bumps their epochs (storage's ProducerIdManager). */
export interface ProducerIdAllocator {
  /** No id: a new id at epoch 0. An id and the epoch its producer holds: the same id at epoch + 1. */
  initProducerId(producerId?: number, producerEpoch?: number): Promise<{ producerId: number; producerEpoch: number }>;
}

export interface TopicStore {
  createTopic(name: string, partitions: number, config?: Record<string, string>, options?: { internal?: boolean }): Promise<TopicState>;
  deleteTopic(name: string): Promise<void>;
  listTopics(options?: { includeInternal?: boolean }): TopicState[] | Promise<TopicState[]>;
  describeTopic(name: string): TopicState | Promise<TopicState>;
  alterTopicConfig(name: string, set: Record<string, string>, remove?: string[]): Promise<TopicState>;
  createPartitions(name: string, total: number): Promise<TopicState>;
  /** Throws UNKNOWN_TOPIC / UNKNOWN_PARTITION. */
  partition(topic: string, partition: number): PartitionStore;
  hasTopic(name: string): boolean;
  close(): Promise<void>;
}
