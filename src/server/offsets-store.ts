/**
 * The coordinator's storage seams, implemented on the broker's log manager.
 *
 * `ConsumerOffsetsStore` keeps the coordinator's `GroupRecord`s in the
 * internal topic `__consumer_offsets` (one partition; created at start-up).
 * Each record of that partition is:
 *
 *   key   = the group id, UTF-8 (so a future key-compaction keeps the latest
 *           state per group)
 *   value = msgpack of one of
 *             { v: 1, type: 'offsets', group, offsets: [[topic, partition, offset, metadata, commitTimestampMs], …] }
 *             { v: 1, type: 'group-deleted', group }            (a tombstone)
 *
 * Offsets travel as tuples, not maps: a snapshot record of 2000 offsets is
 * about 90 KB instead of 160 KB, and it decodes faster.
 *
 * A snapshot is a run of `offsets` records restating every live offset,
 * appended (in chunks of at most SNAPSHOT_RECORDS_PER_BATCH records per
 * batch) after everything else; once all of it is durable the log start
 * offset moves to the snapshot's first offset (`deleteRecordsBefore`), and
 * whole segments below it are deleted. Load reads from the log start offset,
 * so start-up replays one snapshot plus what came after it. The topic's
 * segments are small (SEGMENT_BYTES) so that old ones are actually deleted,
 * and retention is off: only snapshots remove offsets.
 *
 * Concurrency: the coordinator's writer never overlaps calls (see
 * OffsetStore), and nothing else writes to the topic (clients cannot produce
 * to internal topics).
 */
import { Packr } from 'msgpackr';
import { BrookError } from '../common/errors';
import type { CommittedOffsetRecord, GroupRecord, OffsetStore, PartitionOffsets, TopicMetadata } from '../coordinator';
import { encodeRecordBatch, forEachRecord, splitBatches, type RecordInput } from '../record';

export const CONSUMER_OFFSETS_TOPIC = '__consumer_offsets';
const FORMAT_VERSION = 1;
/** 8 MiB segments: a snapshot of 100,000 offsets is ~5 MB, so older segments fall wholly below the next snapshot and are deleted. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
/** Records per appended batch in a snapshot: 16 × ~90 KB stays under 2 MiB. */
const SNAPSHOT_RECORDS_PER_BATCH = 16;
/** Bytes per read at start-up: few reads for a whole snapshot. */
const LOAD_READ_BYTES = 8 * 1024 * 1024;

/** What this store needs of one partition's log (PartitionLog satisfies it). */
export interface OffsetsPartitionLog {
  readonly logStartOffset: number;
  readonly highWatermark: number;
  append(batch: Buffer): Promise<{ baseOffset: number }>;
  read(offset: number, maxBytes: number): Promise<{ data: Buffer; nextOffset: number }>;
  deleteRecordsBefore(offset: number): Promise<void>;
}

/** What the adapters need of the log manager (LogManager satisfies it). */
export interface OffsetsLogManager {
  hasTopic(name: string): boolean;
  createTopic(name: string, partitions: number, config?: Record<string, string>, options?: { internal?: boolean }): Promise<unknown>;
  describeTopic(name: string): { partitionCount: number };
  partition(topic: string, partition: number): unknown;
}

type StoredValue =
  | { v: number; type: 'offsets'; group: string; offsets: [string, number, number, string, number][] }
  | { v: number; type: 'group-deleted'; group: string };

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

export function encodeGroupRecord(record: GroupRecord): RecordInput {
  const value: StoredValue =
    record.type === 'offsets'
      ? { v: FORMAT_VERSION, type: 'offsets', group: record.groupId, offsets: record.offsets.map((o) => [o.topic, o.partition, o.offset, o.metadata, o.commitTimestampMs]) }
      : { v: FORMAT_VERSION, type: 'group-deleted', group: record.groupId };
  return { key: Buffer.from(record.groupId, 'utf8'), value: packr.pack(value) };
}

export function decodeGroupRecord(value: Buffer, offset: number): GroupRecord {
  const stored = packr.unpack(value) as StoredValue;
  if (stored?.v !== FORMAT_VERSION) {
    throw new BrookError('CORRUPT_DATA', `record at offset ${offset} of ${CONSUMER_OFFSETS_TOPIC} has format version ${String(stored?.v)}, expected ${FORMAT_VERSION}`, { topic: CONSUMER_OFFSETS_TOPIC, partition: 0, offset });
  }
  if (stored.type === 'group-deleted') return { type: 'group-deleted', groupId: stored.group };
  const offsets: CommittedOffsetRecord[] = stored.offsets.map(([topic, partition, committed, metadata, commitTimestampMs]) => ({ topic, partition, offset: committed, metadata, commitTimestampMs }));
  return { type: 'offsets', groupId: stored.group, offsets };
}

export class ConsumerOffsetsStore implements OffsetStore {
  private constructor(private readonly log: OffsetsPartitionLog) {}

  /** Opens `__consumer_offsets`, creating it on first start. */
  static async open(logs: OffsetsLogManager): Promise<ConsumerOffsetsStore> {
    if (!logs.hasTopic(CONSUMER_OFFSETS_TOPIC)) {
      await logs.createTopic(
        CONSUMER_OFFSETS_TOPIC,
        1,
        { 'retention.ms': '-1', 'segment.bytes': String(SEGMENT_BYTES), 'flush.policy': 'always' },
        { internal: true },
      );
    }
    return new ConsumerOffsetsStore(logs.partition(CONSUMER_OFFSETS_TOPIC, 0) as OffsetsPartitionLog);
  }

  /** For tests: a store over any partition log. */
  static over(log: OffsetsPartitionLog): ConsumerOffsetsStore {
    return new ConsumerOffsetsStore(log);
  }

  async load(apply: (record: GroupRecord) => void): Promise<number> {
    const start = this.log.logStartOffset;
    const end = this.log.highWatermark;
    let offset = start;
    let count = 0;
    while (offset < end) {
      const { data, nextOffset } = await this.log.read(offset, LOAD_READ_BYTES);
      if (nextOffset <= offset) break;
      for (const { position } of splitBatches(data).batches) {
        forEachRecord(data, position, (record) => {
          // Reads return whole batches: skip what lies before the log start offset or was already seen.
          if (record.offset < offset || record.value === null) return;
          apply(decodeGroupRecord(record.value, record.offset));
          count++;
        }, { verifyCrc: true });
      }
      offset = nextOffset;
    }
    return count;
  }

  async append(records: readonly GroupRecord[]): Promise<void> {
    if (records.length === 0) return;
    await this.log.append(encodeRecordBatch(records.map(encodeGroupRecord)));
  }

  async writeSnapshot(records: readonly GroupRecord[]): Promise<void> {
    let first: number | undefined;
    for (let i = 0; i < records.length; i += SNAPSHOT_RECORDS_PER_BATCH) {
      const { baseOffset } = await this.log.append(encodeRecordBatch(records.slice(i, i + SNAPSHOT_RECORDS_PER_BATCH).map(encodeGroupRecord)));
      first ??= baseOffset;
    }
    // An empty state needs no restatement: everything so far can go.
    await this.log.deleteRecordsBefore(first ?? this.log.highWatermark);
  }
}

/** The coordinator's view of topics, over the log manager. */
export function topicMetadataOver(logs: OffsetsLogManager): TopicMetadata {
  const partitionLog = (topic: string, partition: number) => {
    if (!logs.hasTopic(topic) || partition < 0 || partition >= logs.describeTopic(topic).partitionCount) return undefined;
    return logs.partition(topic, partition) as { logStartOffset: number; highWatermark: number; offsetForTimestamp(ts: number): Promise<{ offset: number } | null> | { offset: number } | null };
  };
  return {
    partitionCount: (topic) => (logs.hasTopic(topic) ? logs.describeTopic(topic).partitionCount : undefined),
    partitionOffsets: (topic, partition): PartitionOffsets | undefined => {
      const log = partitionLog(topic, partition);
      return log && { logStartOffset: log.logStartOffset, highWatermark: log.highWatermark };
    },
    offsetForTimestamp: async (topic, partition, timestampMs) => {
      const log = partitionLog(topic, partition);
      if (!log) throw new BrookError('UNKNOWN_PARTITION', `topic ${topic} has no partition ${partition}`, { topic, partition });
      const found = await log.offsetForTimestamp(timestampMs);
      return found ? found.offset : log.highWatermark;
    },
  };
}
