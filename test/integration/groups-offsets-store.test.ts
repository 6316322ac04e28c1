/**
 * The coordinator's offsets on real storage: `ConsumerOffsetsStore` over a
 * LogManager in a scratch directory (no broker process).
 */
import { Packr } from 'msgpackr';
import { ManualClock } from '../../src/common/clock';
import { GroupCoordinator, type GroupRecord } from '../../src/coordinator';
import { encodeRecordBatch } from '../../src/record';
import { CONSUMER_OFFSETS_TOPIC, ConsumerOffsetsStore, decodeGroupRecord, encodeGroupRecord, topicMetadataOver, type OffsetsPartitionLog } from '../../src/server/offsets-store';
import { LogManager } from '../../src/storage';
import { makeTempDir, removeDir } from '../helpers/storage';

const TIMERS_OFF = { retentionCheckIntervalMs: 0, recoveryCheckpointIntervalMs: 0, flushCheckIntervalMs: 0 };

describe('ConsumerOffsetsStore', () => {
  let dir: string;
  let logs: LogManager | undefined;
  beforeEach(async () => {
    dir = await makeTempDir('brook-offsets-');
  });
  afterEach(async () => {
    await logs?.close();
    logs = undefined;
    await removeDir(dir);
  });

  interface Opened {
    coordinator: GroupCoordinator;
    store: ConsumerOffsetsStore;
    logs: LogManager;
    loadMs: number;
    /** Offset entries (and tombstones) replayed by start(). */
    replayed: number;
    errors: string[];
  }

  /** Opens storage and a coordinator over it; `wrap` may put a seam around the offsets partition. */
  async function open(config = {}, wrap?: (log: OffsetsPartitionLog) => OffsetsPartitionLog): Promise<Opened> {
    await logs?.close();
    logs = await LogManager.open({ dataDir: dir, ...TIMERS_OFF });
    if (!logs.hasTopic('t')) await logs.createTopic('t', 4);
    let store = await ConsumerOffsetsStore.open(logs);
    if (wrap) store = ConsumerOffsetsStore.over(wrap(logs.partition(CONSUMER_OFFSETS_TOPIC, 0)));
    const errors: string[] = [];
    const logger = { info: () => undefined, warn: (_o: object, m: string) => void errors.push(m), error: (_o: object, m: string) => void errors.push(m) };
    const coordinator = new GroupCoordinator({ store, metadata: topicMetadataOver(logs), clock: new ManualClock(), config, logger });
    const started = performance.now();
    const { entries } = await coordinator.start({ expireSessions: false });
    return { coordinator, store, logs, loadMs: performance.now() - started, replayed: entries, errors };
  }

  /** A topic name of the longest allowed length, 249 characters. */
  const longTopic = (i: number): string => `${'t'.repeat(240)}-${String(i).padStart(8, '0')}`;

  function offsetsLog(): { logStartOffset: number; highWatermark: number; sizeBytes: number } {
    return logs!.partition(CONSUMER_OFFSETS_TOPIC, 0);
  }

  it('encodes records as versioned msgpack and decodes them back', () => {
    const record = { type: 'offsets' as const, groupId: 'g', offsets: [{ topic: 't', partition: 3, offset: 42, metadata: 'm', commitTimestampMs: 1700000000000 }] };
    const encoded = encodeGroupRecord(record);
    expect(encoded.key!.toString()).toBe('g');
    expect(decodeGroupRecord(encoded.value!, 0)).toEqual(record);
    expect(decodeGroupRecord(encodeGroupRecord({ type: 'group-deleted', groupId: 'g' }).value!, 0)).toEqual({ type: 'group-deleted', groupId: 'g' });
  });

  it('creates the internal topic and keeps commits, resets and deletions across a reopen', async () => {
    let { coordinator } = await open();
    expect(logs!.describeTopic(CONSUMER_OFFSETS_TOPIC).internal).toBe(true);
    await coordinator.commitOffsets('a', '', 0, [{ topic: 't', partition: 0, offset: 5, metadata: 'x' }]);
    await coordinator.commitOffsets('a', '', 0, [{ topic: 't', partition: 0, offset: 6 }]);
    await coordinator.commitOffsets('b', '', 0, [{ topic: 't', partition: 1, offset: 1 }]);
    await coordinator.deleteGroup('b');
    await coordinator.resetOffsets({ groupId: 'c', topic: 't', partitions: [2], to: 'latest', dryRun: false });
    await coordinator.stop();
    ({ coordinator } = await open());
    expect(coordinator.fetchOffsets('a')).toMatchObject([{ topic: 't', partition: 0, offset: 6, metadata: '' }]);
    expect(coordinator.fetchOffsets('b')).toEqual([]);
    expect(coordinator.fetchOffsets('c')).toMatchObject([{ partition: 2, offset: 0 }]);
  });

  it('snapshots move the log start offset so start-up replays only the snapshot and what follows', async () => {
    let { coordinator } = await open({ snapshotMinRecords: 20 });
    for (let i = 0; i < 100; i++) await coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: i % 4, offset: i }]);
    expect(coordinator.snapshotsWritten).toBeGreaterThan(0);
    const offsetsLog = logs!.partition(CONSUMER_OFFSETS_TOPIC, 0);
    expect(offsetsLog.highWatermark - offsetsLog.logStartOffset).toBeLessThan(25);
    await coordinator.stop();
    ({ coordinator } = await open({ snapshotMinRecords: 20 }));
    expect(coordinator.fetchOffsets('g').map((o) => o.offset)).toEqual([96, 97, 98, 99]);
  });

  it('loads 100,000 committed offsets from one snapshot, replaying about that many entries', async () => {
    let { coordinator, store } = await open();
    // 100 groups × 1000 partitions, each committed twice, written straight to the store as 200 commit records.
    for (const round of [0, 1]) {
      for (let g = 0; g < 100; g++) {
        const offsets = Array.from({ length: 1000 }, (_, p) => ({ topic: `topic-${p % 10}`, partition: Math.floor(p / 10), offset: round * (g * 1000 + p), metadata: '', commitTimestampMs: 1700000000000 }));
        await store.append([{ type: 'offsets', groupId: `group-${g}`, offsets }]);
      }
    }
    await coordinator.stop();
    // The first start-up replays 200,000 entries and writes a snapshot of the 100,000 live ones; later ones load only that.
    ({ coordinator } = await open());
    expect(coordinator.snapshotsWritten).toBe(1);
    await coordinator.stop();
    ({ coordinator } = await open());
    expect(coordinator.snapshotsWritten).toBe(0); // loading a fresh snapshot does not write another
    await coordinator.stop();
    const second = await open();
    coordinator = second.coordinator;
    process.stdout.write(`loaded 100,000 committed offsets in ${second.loadMs.toFixed(0)} ms (${second.replayed} entries replayed)\n`);
    // The snapshot keeps start-up to about the live state: never more than twice it plus the garbage a snapshot tolerates.
    expect(second.replayed).toBeGreaterThanOrEqual(100_000);
    expect(second.replayed).toBeLessThanOrEqual(2 * 100_000 + coordinator.config.snapshotMinRecords);
    expect(coordinator.listGroups()).toHaveLength(100);
    const g42 = coordinator.fetchOffsets('group-42');
    expect(g42).toHaveLength(1000);
    expect(g42.find((o) => o.topic === 'topic-7' && o.partition === 99)!.offset).toBe(42 * 1000 + 997);
    let total = 0;
    for (const g of coordinator.listGroups()) total += coordinator.fetchOffsets(g.groupId).length;
    expect(total).toBe(100_000);
  });

  it('snapshots and reloads 20,000 live offsets with 249-character topic names (records far over what one batch may hold)', async () => {
    let { coordinator, errors } = await open();
    const commitAll = async (round: number): Promise<void> => {
      // 10 commits of 2,000 offsets: each ~540 KB of msgpack, more than half of max.message.bytes.
      for (let c = 0; c < 10; c++) {
        const offsets = Array.from({ length: 2000 }, (_, i) => ({ topic: longTopic(c * 2000 + i), partition: i % 3, offset: round * 1_000_000 + c * 2000 + i }));
        await coordinator.commitOffsets('g', '', 0, offsets);
      }
    };
    await commitAll(0);
    await commitAll(1); // 20,000 superseded entries: a snapshot is due
    await coordinator.stop();
    expect(errors).toEqual([]);
    expect(coordinator.snapshotsWritten).toBe(1);
    // Only the snapshot remains (its markers included), well under the two rounds written.
    const log = offsetsLog();
    expect(log.sizeBytes).toBeLessThan(8 * 1024 * 1024);

    const reopened = await open();
    coordinator = reopened.coordinator;
    expect(reopened.errors).toEqual([]);
    expect(reopened.replayed).toBe(20_000);
    expect(coordinator.snapshotsWritten).toBe(0);
    const loaded = coordinator.fetchOffsets('g');
    expect(loaded).toHaveLength(20_000);
    for (const o of loaded) {
      const n = Number(o.topic.slice(241));
      expect(o.topic).toHaveLength(249);
      expect(o).toMatchObject({ partition: n % 2000 % 3, offset: 1_000_000 + n });
    }
  });

  it('many concurrent large commits all succeed and survive a reopen', async () => {
    let { coordinator, errors } = await open();
    // 24 commits of 2,000 offsets (~540 KB each) in flight at once: merged into one append they would be ~13 MB.
    const commits = Array.from({ length: 24 }, (_, g) =>
      coordinator.commitOffsets(`group-${g}`, '', 0, Array.from({ length: 2000 }, (_, i) => ({ topic: longTopic(i), partition: g, offset: g * 10_000 + i }))),
    );
    const results = await Promise.allSettled(commits);
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    await coordinator.stop();
    expect(errors).toEqual([]);
    ({ coordinator } = await open());
    for (let g = 0; g < 24; g++) {
      const loaded = coordinator.fetchOffsets(`group-${g}`);
      expect(loaded).toHaveLength(2000);
      expect(loaded.every((o) => o.partition === g && o.offset === g * 10_000 + Number(o.topic.slice(241)))).toBe(true);
    }
  });

  it('a snapshot that fails part-way leaves the log start where it was and the state intact, and is not retried on every commit', async () => {
    let appendsLeft = Number.POSITIVE_INFINITY;
    let deletes = 0;
    // A seam that fails appends once `appendsLeft` runs out, and counts deleteRecordsBefore calls.
    const failing = (log: OffsetsPartitionLog): OffsetsPartitionLog => ({
      get logStartOffset() {
        return log.logStartOffset;
      },
      get highWatermark() {
        return log.highWatermark;
      },
      get config() {
        return log.config;
      },
      append: (batch) => (appendsLeft-- <= 0 ? Promise.reject(new Error('disk gone (test)')) : log.append(batch)),
      read: (offset, maxBytes) => log.read(offset, maxBytes),
      deleteRecordsBefore: (offset) => {
        deletes++;
        return log.deleteRecordsBefore(offset);
      },
    });
    let { coordinator, errors } = await open({ snapshotMinRecords: 10 }, failing);
    const commit = (i: number): Promise<void> =>
      coordinator.commitOffsets('g', '', 0, Array.from({ length: 2000 }, (_, p) => ({ topic: longTopic(p), partition: 0, offset: i })));
    await commit(0);
    // The next commit makes a snapshot due. Each commit and the snapshot are two appends of ~270 KB (2,000 offsets
    // of 249-character topics are split by bytes): let the commit through and fail the snapshot after its first batch.
    const before = offsetsLog().logStartOffset;
    appendsLeft = 3;
    await commit(1);
    await coordinator.stop();
    expect(errors).toEqual([expect.stringMatching(/snapshot/)]);
    expect(deletes).toBe(0);
    expect(offsetsLog().logStartOffset).toBe(before);
    appendsLeft = Number.POSITIVE_INFINITY;
    for (let i = 2; i < 6; i++) await commit(i);
    await coordinator.stop();
    expect(errors).toHaveLength(1); // backing off: no snapshot tried on these commits
    expect(deletes).toBe(0);

    // Reopen as after a crash: the partial snapshot is skipped, the commits before and after it count.
    ({ coordinator, errors } = await open({ snapshotMinRecords: 1_000_000 }));
    const loaded = coordinator.fetchOffsets('g');
    expect(loaded).toHaveLength(2000);
    expect(loaded.every((o) => o.offset === 5)).toBe(true);
  });

  it('load skips the records of a snapshot whose end marker never made it to the log', async () => {
    let { coordinator, store } = await open();
    await coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: 0, offset: 7 }]);
    await coordinator.stop();
    // What a broker that died mid-snapshot leaves: a start marker and tagged records, no end marker.
    const packr = new Packr({ useRecords: false, mapsAsObjects: true });
    const stale: GroupRecord = { type: 'offsets', groupId: 'g', offsets: [{ topic: 't', partition: 0, offset: 3, metadata: '', commitTimestampMs: 0 }] };
    const log = logs!.partition(CONSUMER_OFFSETS_TOPIC, 0);
    await log.append(encodeRecordBatch([{ key: null, value: packr.pack({ v: 2, type: 'snapshot-start', snapshot: 'cut-short' }) }, encodeGroupRecord(stale, 'cut-short')]));
    let loaded: GroupRecord[] = [];
    await store.load((r) => loaded.push(r));
    expect(loaded).toEqual([{ type: 'offsets', groupId: 'g', offsets: [expect.objectContaining({ offset: 7 })] }]);
    // With its end marker the same records are a snapshot and are applied.
    await log.append(encodeRecordBatch([{ key: null, value: packr.pack({ v: 2, type: 'snapshot-end', snapshot: 'cut-short', entries: 1 }) }]));
    loaded = [];
    await store.load((r) => loaded.push(r));
    expect(loaded.map((r) => (r.type === 'offsets' ? r.offsets[0].offset : -1))).toEqual([7, 3]);
    ({ coordinator } = await open());
    expect(coordinator.fetchOffsets('g')[0].offset).toBe(3);
  });
});
