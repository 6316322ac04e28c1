import { ManualClock } from '../../src/common/clock';
import { BrookError } from '../../src/common/errors';
import { GroupCoordinator, type CoordinatorConfig, type GroupRecord, type OffsetStore, type TopicMetadata } from '../../src/coordinator';

/** An OffsetStore in memory, with the same snapshot semantics as the real one. */
export class MemoryOffsetStore implements OffsetStore {
  records: GroupRecord[] = [];
  appends = 0;
  failNextAppend = false;
  /** Fails every snapshot while set, after storing the first half of it (as a real store may leave it). */
  failSnapshots = false;
  snapshotAttempts = 0;
  /** Here a record's "bytes" are its entries (one per offset or tombstone); an append over the limit fails as a real log would. */
  maxAppendBytes = Number.MAX_SAFE_INTEGER;
  appendSizes: number[] = [];

  encodedBytes(record: GroupRecord): number {
    return record.type === 'offsets' ? record.offsets.length : 1;
  }

  async load(apply: (record: GroupRecord) => void): Promise<number> {
    for (const r of this.records) apply(structuredClone(r));
    return this.records.length;
  }

  async append(records: readonly GroupRecord[]): Promise<void> {
    await Promise.resolve();
    if (this.failNextAppend) {
      this.failNextAppend = false;
      throw new BrookError('STORAGE_ERROR', 'append failed (test)');
    }
    const size = records.reduce((sum, r) => sum + this.encodedBytes(r), 0);
    if (size > this.maxAppendBytes) throw new BrookError('RECORD_TOO_LARGE', `append of ${size} exceeds ${this.maxAppendBytes} (test)`);
    this.appends++;
    this.appendSizes.push(size);
    this.records.push(...structuredClone(records));
  }

  async writeSnapshot(records: readonly GroupRecord[]): Promise<void> {
    await Promise.resolve();
    this.snapshotAttempts++;
    if (this.failSnapshots) {
      // A partial snapshot is a restatement of part of the state: harmless to replay after what it restates.
      this.records.push(...structuredClone(records.slice(0, Math.floor(records.length / 2))));
      throw new BrookError('STORAGE_ERROR', 'snapshot failed (test)');
    }
    this.records = structuredClone([...records]);
  }
}

/** Topics as a map of partition counts; every partition's log runs [0, highWatermark). */
export class MemoryTopics implements TopicMetadata {
  readonly counts = new Map<string, number>();
  readonly highWatermarks = new Map<string, number>();
  readonly logStartOffsets = new Map<string, number>();

  partitionCount(topic: string): number | undefined {
    return this.counts.get(topic);
  }

  partitionOffsets(topic: string, partition: number) {
    const count = this.counts.get(topic);
    if (count === undefined || partition >= count) return undefined;
    return { logStartOffset: this.logStartOffsets.get(`${topic}#${partition}`) ?? 0, highWatermark: this.highWatermarks.get(`${topic}#${partition}`) ?? 0 };
  }

  /** One record per millisecond from t=1000 at offset 0. */
  async offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number> {
    const hw = this.partitionOffsets(topic, partition)!.highWatermark;
    return Math.min(hw, Math.max(0, timestampMs - 1000));
  }
}

export interface Harness {
  clock: ManualClock;
  store: MemoryOffsetStore;
  topics: MemoryTopics;
  coordinator: GroupCoordinator;
}

export async function harness(config: Partial<CoordinatorConfig> = {}, store = new MemoryOffsetStore(), topics = new MemoryTopics()): Promise<Harness> {
  const clock = new ManualClock();
  let n = 0;
  const coordinator = new GroupCoordinator({ store, metadata: topics, clock, config, newMemberId: () => `member-${++n}` });
  await coordinator.start({ expireSessions: false });
  return { clock, store, topics, coordinator };
}
