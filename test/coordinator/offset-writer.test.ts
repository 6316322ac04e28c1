/**
 * The coordinator's OffsetWriter and its background paths: appends cut at the
 * store's byte limit, a failing apply or snapshot that is reported instead of
 * escaping, the back-off after a failed snapshot, and the session timer.
 */
import { ManualClock } from '../../src/common/clock';
import { GroupCoordinator, type GroupRecord } from '../../src/coordinator';
import type { CoordinatorLogger } from '../../src/coordinator/group-coordinator';
import { OffsetWriter, type SnapshotPolicy } from '../../src/coordinator/offset-writer';
import { MemoryOffsetStore, MemoryTopics } from './fakes';

function offsets(groupId: string, count: number, offset = 0): GroupRecord {
  return { type: 'offsets', groupId, offsets: Array.from({ length: count }, (_, p) => ({ topic: 't', partition: p, offset, metadata: '', commitTimestampMs: 0 })) };
}

function recordingLogger(): CoordinatorLogger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info: () => undefined, warn: () => undefined, error: (_o, m) => void errors.push(m) };
}

function policy(overrides: Partial<SnapshotPolicy> = {}): SnapshotPolicy & { errors: unknown[] } {
  const errors: unknown[] = [];
  return {
    errors,
    minRecords: 1_000_000,
    retryBackoffMs: 1000,
    retryBackoffMaxMs: 8000,
    monotonicMs: () => 0,
    liveOffsets: () => 0,
    snapshot: () => [],
    onError: (e) => void errors.push(e),
    ...overrides,
  };
}

describe('OffsetWriter', () => {
  it('splits queued writes into appends within the store byte limit, so every commit succeeds', async () => {
    const store = new MemoryOffsetStore();
    store.maxAppendBytes = 10;
    const writer = new OffsetWriter(store, policy());
    let applied = 0;
    // 40 writes of 3 entries queued at once: merged into one append they would be 120 "bytes", twelve times the limit.
    await Promise.all(Array.from({ length: 40 }, (_, i) => writer.write([offsets(`g${i}`, 3)], () => void applied++)));
    expect(applied).toBe(40);
    expect(store.records).toHaveLength(40);
    expect(Math.max(...store.appendSizes)).toBeLessThanOrEqual(10);
    expect(store.appends).toBeLessThan(40); // still grouped: three writes per append
  });

  it('a failed append fails only the writes in it', async () => {
    const store = new MemoryOffsetStore();
    store.maxAppendBytes = 6;
    const writer = new OffsetWriter(store, policy());
    const first = writer.write([offsets('a', 3)], () => undefined); // starts the loop alone
    store.failNextAppend = true;
    const results = await Promise.allSettled([first, ...Array.from({ length: 4 }, (_, i) => writer.write([offsets(`g${i}`, 3)], () => undefined))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });

  it('a throw while applying a durable record is reported and fails that write only; the loop goes on', async () => {
    const p = policy();
    const writer = new OffsetWriter(new MemoryOffsetStore(), p);
    const bad = writer.write([offsets('a', 1)], () => {
      throw new Error('invariant broken (test)');
    });
    const good = writer.write([offsets('b', 1)], () => undefined);
    await expect(bad).rejects.toThrow('invariant broken (test)');
    await expect(good).resolves.toBeUndefined();
    expect(p.errors).toHaveLength(1);
    await expect(writer.write([offsets('c', 1)], () => undefined)).resolves.toBeUndefined();
  });

  it('backs off after a failed snapshot instead of retrying on every commit', async () => {
    const store = new MemoryOffsetStore();
    store.failSnapshots = true;
    let now = 0;
    const p = policy({ minRecords: 1, monotonicMs: () => now, liveOffsets: () => 1, snapshot: () => [offsets('g', 1)] });
    const writer = new OffsetWriter(store, p);
    // A snapshot runs after the write it follows has resolved: wait for the writer to be idle.
    const commit = async (): Promise<void> => {
      await writer.write([offsets('g', 1, now)], () => undefined);
      await writer.idle();
    };
    for (let i = 0; i < 50; i++) await commit();
    expect(store.snapshotAttempts).toBe(1);
    now = 999;
    for (let i = 0; i < 10; i++) await commit();
    expect(store.snapshotAttempts).toBe(1);
    now = 1000;
    await commit();
    expect(store.snapshotAttempts).toBe(2); // then 2 s, 4 s, 8 s (the cap), 8 s …
    now = 2999;
    await commit();
    expect(store.snapshotAttempts).toBe(2);
    now = 3000;
    await commit();
    expect(store.snapshotAttempts).toBe(3);
    expect(p.errors).toHaveLength(3);
    store.failSnapshots = false;
    now = 100_000;
    await commit();
    expect(store.snapshotAttempts).toBe(4);
    expect(writer.snapshotsWritten).toBe(1);
  });
});

describe('GroupCoordinator background paths', () => {
  it('a throw in the session-expiry timer is logged, not uncaught', async () => {
    const logger = recordingLogger();
    const coordinator = new GroupCoordinator({ store: new MemoryOffsetStore(), metadata: new MemoryTopics(), clock: new ManualClock(), config: { sessionCheckIntervalMs: 5 }, logger });
    const expire = jest.spyOn(coordinator, 'expireSessions').mockImplementation(() => {
      throw new Error('invariant broken (test)');
    });
    await coordinator.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 60));
    } finally {
      await coordinator.stop();
    }
    expect(expire.mock.calls.length).toBeGreaterThan(1); // the timer kept running
    expect(logger.errors.length).toBe(expire.mock.calls.length);
    expect(logger.errors[0]).toMatch(/expiring group member sessions failed/);
  });

  it('a failed snapshot is logged through the coordinator logger and retried only after the back-off', async () => {
    const logger = recordingLogger();
    const store = new MemoryOffsetStore();
    const topics = new MemoryTopics();
    topics.counts.set('t', 4);
    const clock = new ManualClock();
    const coordinator = new GroupCoordinator({ store, metadata: topics, clock, config: { snapshotMinRecords: 5 }, logger });
    await coordinator.start({ expireSessions: false });
    store.failSnapshots = true;
    for (let i = 0; i < 100; i++) await coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: i % 4, offset: i }]);
    await coordinator.stop();
    expect(store.snapshotAttempts).toBe(1);
    expect(logger.errors).toEqual([expect.stringMatching(/snapshot/)]);
    store.failSnapshots = false;
    clock.advance(1000);
    await coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: 0, offset: 100 }]);
    await coordinator.stop(); // waits for the snapshot that follows the commit
    expect(store.snapshotAttempts).toBe(2);
    expect(coordinator.snapshotsWritten).toBe(1);
    const again = new GroupCoordinator({ store, metadata: topics, clock, logger });
    await again.start({ expireSessions: false });
    expect(again.fetchOffsets('g').map((o) => o.offset)).toEqual([100, 97, 98, 99]);
  });
});
