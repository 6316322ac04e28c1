/**
 * The coordinator's storage seams, implemented on the broker's log manager.
 *
 * `ConsumerOffsetsStore` keeps the coordinator's `GroupRecord`s in the
 * internal topic `__consumer_offsets` (one partition; created at start-up).
 * Each record of that partition is:
 *
 *   key   = the group id, UTF-8 (so a future key-compaction keeps the latest
 *           state per group); none for snapshot markers
 *   value = msgpack of one of
 *             { v, type: 'offsets', group, offsets: [[topic, partition, offset, metadata, commitTimestampMs], …], snapshot? }
 *             { v, type: 'group-deleted', group }                 (a tombstone)
 *             { v: 2, type: 'snapshot-start', snapshot }          (snapshot markers)
 *             { v: 2, type: 'snapshot-end', snapshot, entries }
 *           v is 2 for records written now; 1 (no markers, no `snapshot`
 *           field) is still read.
 *
 * Offsets travel as tuples, not maps: a snapshot record of 2000 offsets is
 * about 90 KB instead of 160 KB with 40-character topic names, and it decodes
 * faster. Topic names may be 249 characters, though, which makes the same
 * record ~540 KB: so nothing here counts records to size an append. Every
 * append is cut by encoded bytes at `maxAppendBytes` — 512 KiB, or half the
 * topic's max.message.bytes if that is smaller — and a record bigger than
 * that is split into several records of the same group (the fold of
 * `offsets` records is per partition, so the pieces mean the same).
 *
 * A snapshot is `snapshot-start`, `offsets` records restating every live
 * offset (each tagged with the snapshot's id), then `snapshot-end`, appended
 * after everything else in as many batches as the byte cap needs. Only once
 * the end marker is durable does the log start offset move to the start
 * marker (`deleteRecordsBefore`), deleting whole segments below it. Load
 * reads from the log start offset and applies a snapshot's records only when
 * it reaches that snapshot's end marker; the records of a snapshot that
 * never ended (an append failed, or the broker died mid-way) are skipped —
 * they only restated what the records before them, still in the log, say.
 * So start-up replays one snapshot plus what came after it, and a partial
 * snapshot never changes what is loaded. The topic's segments are small
 * (SEGMENT_BYTES) so that old ones are actually deleted, and retention is
 * off: only snapshots remove offsets.
 *
 * Concurrency: the coordinator's writer never overlaps calls (see
 * OffsetStore), and nothing else writes to the topic (clients cannot produce
 * to internal topics).
 */
import { randomBytes } from 'crypto';
import { Packr } from 'msgpackr';
import { BrookError } from '../common/errors';
import { entryCount, type CommittedOffsetRecord, type GroupRecord, type OffsetStore, type PartitionOffsets, type TopicMetadata } from '../coordinator';
import { BATCH_HEADER_SIZE, encodeRecordBatch, forEachRecord, splitBatches, type RecordInput } from '../record';

export const CONSUMER_OFFSETS_TOPIC = '__consumer_offsets';
const FORMAT_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];
/** 8 MiB segments: a snapshot of 100,000 offsets is ~5 MB, so older segments fall wholly below the next snapshot and are deleted. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
/**
 * Most bytes per append: a quarter-to-half of the default max.message.bytes
 * (1,048,588), so an append never meets RECORD_TOO_LARGE, while a snapshot of
 * 100,000 offsets still takes only about ten appends (one fsync each).
 */
const TARGET_APPEND_BYTES = 512 * 1024;
/** Bytes per read at start-up: few reads for a whole snapshot. */
const LOAD_READ_BYTES = 8 * 1024 * 1024;
/**
 * Upper bounds behind `encodedBytes`: a record's framing in the batch (length,
 * attributes, timestamp and offset deltas, key and value lengths, header
 * count: ≤ 32 bytes) plus the msgpack map around the offsets (keys, version,
 * type, snapshot id: < 96), and per offset the tuple around its topic and
 * metadata (array and string headers, partition, offset, timestamp: ≤ 34).
 */
const RECORD_OVERHEAD_BYTES = 128;
const OFFSET_OVERHEAD_BYTES = 40;

/** What this store needs of one partition's log (PartitionLog satisfies it). */
export interface OffsetsPartitionLog {
  readonly logStartOffset: number;
  readonly highWatermark: number;
  readonly config: { readonly maxMessageBytes: number };
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
  | { v: number; type: 'offsets'; group: string; offsets: [string, number, number, string, number][]; snapshot?: string }
  | { v: number; type: 'group-deleted'; group: string }
  | { v: number; type: 'snapshot-start'; snapshot: string }
  | { v: number; type: 'snapshot-end'; snapshot: string; entries: number };

const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Encodes a record; `snapshot` tags it as part of that snapshot. */
export function encodeGroupRecord(record: GroupRecord, snapshot?: string): RecordInput {
  const value: StoredValue =
    record.type === 'offsets'
      ? {
          v: FORMAT_VERSION,
          type: 'offsets',
          group: record.groupId,
          offsets: record.offsets.map((o) => [o.topic, o.partition, o.offset, o.metadata, o.commitTimestampMs]),
          ...(snapshot === undefined ? {} : { snapshot }),
        }
      : { v: FORMAT_VERSION, type: 'group-deleted', group: record.groupId };
  return { key: Buffer.from(record.groupId, 'utf8'), value: packr.pack(value) };
}

function encodeMarker(value: StoredValue): RecordInput {
  return { key: null, value: packr.pack(value) };
}

function decodeStoredValue(value: Buffer, offset: number): StoredValue {
  const stored = packr.unpack(value) as StoredValue;
  if (!READABLE_VERSIONS.includes(stored?.v)) {
    throw new BrookError('CORRUPT_DATA', `record at offset ${offset} of ${CONSUMER_OFFSETS_TOPIC} has format version ${String(stored?.v)}, expected one of ${READABLE_VERSIONS.join(', ')}`, {
      topic: CONSUMER_OFFSETS_TOPIC,
      partition: 0,
      offset,
    });
  }
  return stored;
}

function toGroupRecord(stored: StoredValue & { type: 'offsets' | 'group-deleted' }): GroupRecord {
  if (stored.type === 'group-deleted') return { type: 'group-deleted', groupId: stored.group };
  const offsets: CommittedOffsetRecord[] = stored.offsets.map(([topic, partition, committed, metadata, commitTimestampMs]) => ({ topic, partition, offset: committed, metadata, commitTimestampMs }));
  return { type: 'offsets', groupId: stored.group, offsets };
}

/** Decodes an `offsets` or `group-deleted` record (a snapshot marker is CORRUPT_DATA here). */
export function decodeGroupRecord(value: Buffer, offset: number): GroupRecord {
  const stored = decodeStoredValue(value, offset);
  if (stored.type !== 'offsets' && stored.type !== 'group-deleted') {
    throw new BrookError('CORRUPT_DATA', `record at offset ${offset} of ${CONSUMER_OFFSETS_TOPIC} is a ${stored.type} marker, not a group record`, { topic: CONSUMER_OFFSETS_TOPIC, partition: 0, offset });
  }
  return toGroupRecord(stored);
}

/** An encoded record and (an upper bound on) the bytes it adds to a batch. */
interface SizedRecord {
  readonly input: RecordInput;
  readonly bytes: number;
}

function sized(input: RecordInput): SizedRecord {
  return { input, bytes: (input.key?.length ?? 0) + (input.value?.length ?? 0) + 32 };
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

  /** Read from the topic's config on every call, so an altered max.message.bytes takes effect at once. */
  get maxAppendBytes(): number {
    return Math.min(TARGET_APPEND_BYTES, Math.floor(this.log.config.maxMessageBytes / 2));
  }

  encodedBytes(record: GroupRecord): number {
    let bytes = RECORD_OVERHEAD_BYTES + 2 * Buffer.byteLength(record.groupId, 'utf8');
    if (record.type === 'offsets') {
      for (const o of record.offsets) bytes += OFFSET_OVERHEAD_BYTES + Buffer.byteLength(o.topic, 'utf8') + Buffer.byteLength(o.metadata, 'utf8');
    }
    return bytes;
  }

  async load(apply: (record: GroupRecord) => void): Promise<number> {
    const start = this.log.logStartOffset;
    const end = this.log.highWatermark;
    let offset = start;
    let count = 0;
    // The snapshot being read: its records wait here until its end marker says it is whole.
    let snapshot: { id: string; records: GroupRecord[] } | undefined;
    while (offset < end) {
      const { data, nextOffset } = await this.log.read(offset, LOAD_READ_BYTES);
      if (nextOffset <= offset) break;
      for (const { position } of splitBatches(data).batches) {
        forEachRecord(data, position, (record) => {
          // Reads return whole batches: skip what lies before the log start offset or was already seen.
          if (record.offset < offset || record.value === null) return;
          count++;
          const stored = decodeStoredValue(record.value, record.offset);
          switch (stored.type) {
            case 'snapshot-start':
              snapshot = { id: stored.snapshot, records: [] }; // an unfinished one before it is dropped
              return;
            case 'snapshot-end':
              if (snapshot?.id === stored.snapshot) for (const r of snapshot.records) apply(r);
              snapshot = undefined;
              return;
            case 'offsets':
              if (stored.snapshot !== undefined) {
                // Part of a snapshot: kept until its end marker; a piece of one that never ended is skipped.
                if (snapshot?.id === stored.snapshot) snapshot.records.push(toGroupRecord(stored));
                return;
              }
              break;
            case 'group-deleted':
              break;
          }
          // A plain record: a snapshot still open before it was abandoned.
          snapshot = undefined;
          apply(toGroupRecord(stored));
        }, { verifyCrc: true });
      }
      offset = nextOffset;
    }
    return count;
  }

  async append(records: readonly GroupRecord[]): Promise<void> {
    if (records.length === 0) return;
    for (const batch of this.batches(records.flatMap((r) => this.encodeFitting(r)))) await this.log.append(encodeRecordBatch(batch));
  }

  async writeSnapshot(records: readonly GroupRecord[]): Promise<void> {
    const id = randomBytes(8).toString('hex');
    const entries = entryCount(records);
    const all = [
      sized(encodeMarker({ v: FORMAT_VERSION, type: 'snapshot-start', snapshot: id })),
      ...records.flatMap((r) => this.encodeFitting(r, id)),
      sized(encodeMarker({ v: FORMAT_VERSION, type: 'snapshot-end', snapshot: id, entries })),
    ];
    let start: number | undefined;
    for (const batch of this.batches(all)) {
      const { baseOffset } = await this.log.append(encodeRecordBatch(batch));
      start ??= baseOffset;
    }
    // The end marker is durable: everything before the start marker can go.
    await this.log.deleteRecordsBefore(start!);
  }

  /** Encodes a record, split into records of fewer offsets each while one is bigger than an append may be. */
  private encodeFitting(record: GroupRecord, snapshot?: string): SizedRecord[] {
    const encoded = sized(encodeGroupRecord(record, snapshot));
    if (encoded.bytes + BATCH_HEADER_SIZE <= this.maxAppendBytes || record.type !== 'offsets' || record.offsets.length <= 1) return [encoded];
    const half = Math.ceil(record.offsets.length / 2);
    return [
      ...this.encodeFitting({ ...record, offsets: record.offsets.slice(0, half) }, snapshot),
      ...this.encodeFitting({ ...record, offsets: record.offsets.slice(half) }, snapshot),
    ];
  }

  /** Consecutive runs of records, each run one append of at most maxAppendBytes (a lone bigger record goes alone). */
  private batches(records: readonly SizedRecord[]): RecordInput[][] {
    const limit = this.maxAppendBytes;
    const batches: RecordInput[][] = [];
    let current: RecordInput[] = [];
    let bytes = BATCH_HEADER_SIZE;
    for (const r of records) {
      if (current.length > 0 && bytes + r.bytes > limit) {
        batches.push(current);
        current = [];
        bytes = BATCH_HEADER_SIZE;
      }
      current.push(r.input);
      bytes += r.bytes;
    }
    if (current.length > 0) batches.push(current);
    return batches;
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
