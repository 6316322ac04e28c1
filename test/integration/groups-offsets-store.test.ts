/**
 * The coordinator's offsets on real storage: `ConsumerOffsetsStore` over a
 * LogManager in a scratch directory (no broker process).
 */
import { ManualClock } from '../../src/common/clock';
import { GroupCoordinator } from '../../src/coordinator';
import { CONSUMER_OFFSETS_TOPIC, ConsumerOffsetsStore, decodeGroupRecord, encodeGroupRecord, topicMetadataOver } from '../../src/server/offsets-store';
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

  async function open(config = {}): Promise<{ coordinator: GroupCoordinator; store: ConsumerOffsetsStore; logs: LogManager; loadMs: number }> {
    await logs?.close();
    logs = await LogManager.open({ dataDir: dir, ...TIMERS_OFF });
    if (!logs.hasTopic('t')) await logs.createTopic('t', 4);
    const store = await ConsumerOffsetsStore.open(logs);
    const coordinator = new GroupCoordinator({ store, metadata: topicMetadataOver(logs), clock: new ManualClock(), config, logger: { info: () => undefined, warn: (o, m) => console.warn(m, o) } });
    const started = performance.now();
    await coordinator.start({ expireSessions: false });
    return { coordinator, store, logs, loadMs: performance.now() - started };
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

  it('loads 100,000 committed offsets well under a second', async () => {
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
    process.stdout.write(`loaded 100,000 committed offsets in ${second.loadMs.toFixed(0)} ms\n`);
    expect(second.loadMs).toBeLessThan(5000); // generous: typically ~150 ms
    expect(coordinator.listGroups()).toHaveLength(100);
    const g42 = coordinator.fetchOffsets('group-42');
    expect(g42).toHaveLength(1000);
    expect(g42.find((o) => o.topic === 'topic-7' && o.partition === 99)!.offset).toBe(42 * 1000 + 997);
    let total = 0;
    for (const g of coordinator.listGroups()) total += coordinator.fetchOffsets(g.groupId).length;
    expect(total).toBe(100_000);
  });
});
