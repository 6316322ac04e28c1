import { isBrookError, type ErrorCode } from '../../src/common/errors';
import { harness, type Harness } from './fakes';
import { keys, ownership, settle, SimMember } from './sim-member';

function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    if (!isBrookError(e)) throw e;
    expect(e.code).toBe(code);
    if (message) expect(e.message).toMatch(message);
    return;
  }
  throw new Error(`expected ${code}`);
}

async function expectRejects(p: Promise<unknown>, code: ErrorCode): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

describe('GroupCoordinator membership', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
    h.topics.counts.set('t', 12);
  });

  const join = (n: number, opts = {}) => Array.from({ length: n }, () => new SimMember(h.coordinator, 'g', ['t'], opts));

  it('N members joining end with every partition owned by exactly one member', () => {
    const members = join(4);
    settle(members);
    const owner = ownership(members);
    expect(owner.size).toBe(12);
    for (const m of members) expect(m.owned.size).toBe(3);
    expect(h.coordinator.describeGroup('g').state).toBe('Stable');
    h.coordinator.checkInvariants();
  });

  it('moves partitions cooperatively: the newcomer waits until the previous owner lets go', () => {
    const [a] = join(1);
    a.heartbeat();
    expect(a.assignment()).toHaveLength(12);
    a.slow = true;
    const b = new SimMember(h.coordinator, 'g', ['t']);
    b.heartbeat();
    expect(b.assignment()).toEqual([]); // all still owned by a
    expect(b.last!.heartbeatIntervalMs).toBeLessThanOrEqual(250);
    a.heartbeat(); // a learns it must give up six, still owns them
    expect(a.assignment()).toHaveLength(6);
    expect(a.owned.size).toBe(12);
    b.heartbeat();
    expect(b.assignment()).toEqual([]);
    ownership([a, b]);
    a.releaseRevoked();
    a.heartbeat(); // reports the release
    b.heartbeat();
    expect(b.assignment()).toHaveLength(6);
    ownership([a, b]);
    h.coordinator.checkInvariants();
  });

  it('members whose partitions do not move keep them through a rebalance', () => {
    const members = join(3);
    settle(members);
    const before = members.map((m) => new Set(m.owned));
    const d = new SimMember(h.coordinator, 'g', ['t']);
    // Step by step, checking that nobody ever loses a partition it keeps in the end.
    for (let i = 0; i < 4; i++) {
      for (const m of [...members, d]) {
        m.heartbeat();
        ownership([...members, d]);
      }
    }
    members.forEach((m, i) => {
      const kept = [...before[i]].filter((k) => m.owned.has(k));
      expect(kept.length).toBe(3); // 12 over 4: each gave exactly one
    });
    expect(d.owned.size).toBe(3);
  });

  it('a member killed without leaving keeps its partitions until its session expires, then they move', () => {
    const [a, b] = join(2, { sessionTimeoutMs: 5000 });
    settle([a, b]);
    const fromB = [...b.owned];
    h.clock.advance(4000);
    a.heartbeat();
    expect(h.coordinator.expireSessions()).toEqual([]);
    h.clock.advance(1500); // b silent for 5500 ms, a for 1500
    expect(h.coordinator.expireSessions()).toEqual([b.memberId]);
    a.heartbeat();
    expect(a.owned.size).toBe(12);
    for (const k of fromB) expect(a.owned.has(k)).toBe(true);
    expectCode(() => b.heartbeat(), 'UNKNOWN_MEMBER_ID');
  });

  it('a member that leaves hands its partitions over at once', () => {
    const [a, b] = join(2);
    settle([a, b]);
    b.leave();
    a.heartbeat();
    expect(a.owned.size).toBe(12);
  });

  it('reassigns when a subscription changes and when a topic gains partitions', () => {
    h.topics.counts.set('u', 4);
    const [a, b] = join(2);
    settle([a, b]);
    b.topics = ['t', 'u'];
    settle([a, b]);
    expect([...b.owned].filter((k) => k.startsWith('u#'))).toHaveLength(4);
    expect(a.owned.size + b.owned.size).toBe(16);
    h.topics.counts.set('t', 20);
    settle([a, b]);
    expect(a.owned.size + b.owned.size).toBe(24);
    expect(Math.abs(a.owned.size - b.owned.size)).toBeLessThanOrEqual(1);
  });

  it('validates session_timeout_ms against the configured bounds, naming them', () => {
    const m = new SimMember(h.coordinator, 'g', ['t'], { sessionTimeoutMs: 500 });
    expectCode(() => m.heartbeat(), 'INVALID_ARGUMENT', /\[1000, 1800000\]/);
    const big = new SimMember(h.coordinator, 'g', ['t'], { sessionTimeoutMs: 1_800_001 });
    expectCode(() => big.heartbeat(), 'INVALID_ARGUMENT', /group\.max\.session\.timeout\.ms/);
  });

  it('rejects an unknown assignor, an empty group id and an unknown member', () => {
    expectCode(() => new SimMember(h.coordinator, 'g', ['t'], { assignor: 'fair' }).heartbeat(), 'INVALID_ARGUMENT', /unknown assignor/);
    expectCode(() => new SimMember(h.coordinator, '', ['t']).heartbeat(), 'INVALID_ARGUMENT');
    const ghost = new SimMember(h.coordinator, 'g', ['t']);
    ghost.memberId = 'nobody';
    ghost.memberEpoch = 3;
    expectCode(() => ghost.heartbeat(), 'UNKNOWN_MEMBER_ID');
  });

  it('fences a heartbeat with a wrong epoch, removing the member', () => {
    const [a, b] = join(2);
    settle([a, b]);
    b.memberEpoch += 5;
    expectCode(() => b.heartbeat(), 'STALE_MEMBER_EPOCH', /rejoin with member_epoch 0/);
    expect(h.coordinator.describeGroup('g').members).toHaveLength(1);
    a.heartbeat();
    expect(a.owned.size).toBe(12);
  });

  it('accepts the retry of a heartbeat whose response was lost', () => {
    const [a] = join(1);
    a.heartbeat();
    const epoch = a.memberEpoch;
    new SimMember(h.coordinator, 'g', ['t']).heartbeat(); // bumps the group epoch
    a.heartbeat(); // a learns what to release
    a.heartbeat(); // a reports the release and moves to the new epoch
    expect(a.memberEpoch).toBeGreaterThan(epoch);
    // The response was lost: a heartbeats again with its previous epoch.
    const lost = a.memberEpoch;
    a.memberEpoch = epoch;
    expect(() => a.heartbeat()).not.toThrow();
    expect(a.memberEpoch).toBe(lost);
  });

  it('uses the assignor of the first member', () => {
    new SimMember(h.coordinator, 'g', ['t'], { assignor: 'range' }).heartbeat();
    new SimMember(h.coordinator, 'g', ['t'], { assignor: 'roundrobin' }).heartbeat();
    expect(h.coordinator.describeGroup('g').assignor).toBe('range');
  });
});

describe('GroupCoordinator static membership', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
    h.topics.counts.set('t', 8);
  });

  it('an instance back within its session timeout gets the same partitions with no rebalance', () => {
    const a = new SimMember(h.coordinator, 'g', ['t'], { instanceId: 'host-a' });
    const b = new SimMember(h.coordinator, 'g', ['t'], { instanceId: 'host-b' });
    settle([a, b]);
    const before = [...a.owned].sort();
    const epoch = h.coordinator.describeGroup('g').groupEpoch;
    h.clock.advance(3000);
    // host-a restarts: a fresh process, same instance id, nothing owned.
    const a2 = new SimMember(h.coordinator, 'g', ['t'], { instanceId: 'host-a' });
    a2.heartbeat();
    expect(a2.assignment().sort()).toEqual(before);
    expect(h.coordinator.describeGroup('g').groupEpoch).toBe(epoch);
    expect(b.heartbeat().assignment.get('t')).toHaveLength(4);
    // The old process, if it is still around, is fenced.
    expectCode(() => a.heartbeat(), 'FENCED_INSTANCE_ID');
    h.coordinator.checkInvariants();
  });

  it('a static member that leaves temporarily keeps its partitions until its session expires', () => {
    const a = new SimMember(h.coordinator, 'g', ['t'], { instanceId: 'host-a', sessionTimeoutMs: 5000 });
    const b = new SimMember(h.coordinator, 'g', ['t']);
    settle([a, b]);
    const before = [...a.owned].sort();
    h.coordinator.leave('g', a.memberId, -2);
    b.heartbeat();
    expect(b.owned.size).toBe(4);
    const a2 = new SimMember(h.coordinator, 'g', ['t'], { instanceId: 'host-a', sessionTimeoutMs: 5000 });
    a2.heartbeat();
    expect(a2.assignment().sort()).toEqual(before);
  });
});

describe('GroupCoordinator offsets', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await harness();
    h.topics.counts.set('t', 4);
  });

  it('accepts commits from the owner at its epoch and refuses zombies', async () => {
    const a = new SimMember(h.coordinator, 'g', ['t'], { sessionTimeoutMs: 2000 });
    a.heartbeat();
    await h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch, [{ topic: 't', partition: 0, offset: 10 }]);
    await expectRejects(h.coordinator.commitOffsets('g', 'zombie', 1, [{ topic: 't', partition: 0, offset: 11 }]), 'UNKNOWN_MEMBER_ID');
    await expectRejects(h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch + 1, [{ topic: 't', partition: 0, offset: 11 }]), 'STALE_MEMBER_EPOCH');
    h.clock.advance(2500);
    h.coordinator.expireSessions();
    await expectRejects(h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch, [{ topic: 't', partition: 0, offset: 12 }]), 'UNKNOWN_MEMBER_ID');
    expect(h.coordinator.fetchOffsets('g')).toMatchObject([{ topic: 't', partition: 0, offset: 10 }]);
  });

  it('refuses a commit for a partition the member has given up, accepts one for a partition it is still revoking', async () => {
    const a = new SimMember(h.coordinator, 'g', ['t']);
    a.heartbeat();
    a.slow = true;
    const b = new SimMember(h.coordinator, 'g', ['t']);
    b.heartbeat();
    a.heartbeat(); // two partitions pending revocation from a
    const revoking = [...a.owned].filter((k) => !a.assignment().includes(k));
    expect(revoking).toHaveLength(2);
    const p = Number(revoking[0].split('#')[1]);
    await h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch, [{ topic: 't', partition: p, offset: 5 }]);
    a.releaseRevoked();
    a.heartbeat();
    await expectRejects(h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch, [{ topic: 't', partition: p, offset: 6 }]), 'STALE_MEMBER_EPOCH');
  });

  it('accepts an older epoch for partitions held since then, not for partitions given later (KIP-1251)', async () => {
    h.topics.counts.set('t', 2);
    const a = new SimMember(h.coordinator, 'g', ['t']);
    const b = new SimMember(h.coordinator, 'g', ['t']);
    settle([a, b]);
    const oldEpoch = a.memberEpoch;
    const kept = Number(keys(a.last!.assignment)[0].split('#')[1]);
    b.leave();
    a.heartbeat(); // a gets b's partition at a newer epoch
    expect(a.memberEpoch).toBeGreaterThan(oldEpoch);
    const gained = 1 - kept;
    await h.coordinator.commitOffsets('g', a.memberId, oldEpoch, [{ topic: 't', partition: kept, offset: 3 }]);
    await expectRejects(h.coordinator.commitOffsets('g', a.memberId, oldEpoch, [{ topic: 't', partition: gained, offset: 3 }]), 'STALE_MEMBER_EPOCH');
  });

  it('accepts standalone commits (empty member id) only while the group has no members', async () => {
    await h.coordinator.commitOffsets('solo', '', 0, [{ topic: 't', partition: 1, offset: 7, metadata: 'cli' }]);
    expect(h.coordinator.fetchOffsets('solo')).toMatchObject([{ partition: 1, offset: 7, metadata: 'cli' }]);
    new SimMember(h.coordinator, 'solo', ['t']).heartbeat();
    await expectRejects(h.coordinator.commitOffsets('solo', '', 0, [{ topic: 't', partition: 1, offset: 8 }]), 'GROUP_NOT_EMPTY');
    await expectRejects(h.coordinator.commitOffsets('solo', '', 0, [{ topic: 't', partition: 1, offset: -1 }]), 'INVALID_ARGUMENT');
  });

  it('fetches offsets by topic; an unknown group has none', async () => {
    h.topics.counts.set('u', 1);
    await h.coordinator.commitOffsets('g', '', 0, [
      { topic: 'u', partition: 0, offset: 1 },
      { topic: 't', partition: 2, offset: 2 },
      { topic: 't', partition: 10, offset: 3 },
    ]);
    expect(h.coordinator.fetchOffsets('g').map((o) => `${o.topic}-${o.partition}`)).toEqual(['t-2', 't-10', 'u-0']);
    expect(h.coordinator.fetchOffsets('g', ['u'])).toHaveLength(1);
    expect(h.coordinator.fetchOffsets('nope')).toEqual([]);
  });

  it('describes members, assignments and lag = high watermark - committed', async () => {
    const a = new SimMember(h.coordinator, 'g', ['t']);
    a.heartbeat();
    for (let p = 0; p < 4; p++) h.topics.highWatermarks.set(`t#${p}`, 100 + p);
    h.topics.logStartOffsets.set('t#3', 50);
    await h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch, [
      { topic: 't', partition: 0, offset: 100 },
      { topic: 't', partition: 1, offset: 90 },
    ]);
    const d = h.coordinator.describeGroup('g');
    expect(d.state).toBe('Stable');
    expect(d.members).toHaveLength(1);
    expect(keys(d.members[0].assignment)).toHaveLength(4);
    expect(d.partitions.map((p) => [p.partition, p.committedOffset, p.highWatermark, p.lag, p.memberId])).toEqual([
      [0, 100, 100, 0, a.memberId],
      [1, 90, 101, 11, a.memberId],
      [2, -1, 102, 102, a.memberId],
      [3, -1, 103, 53, a.memberId],
    ]);
    expect(d.totalLag).toBe(166);
    expect(h.coordinator.listGroups()).toEqual([{ groupId: 'g', state: 'Stable', memberCount: 1 }]);
  });

  it('deletes only groups without members; unknown groups are NOT_FOUND', async () => {
    const a = new SimMember(h.coordinator, 'g', ['t']);
    a.heartbeat();
    await h.coordinator.commitOffsets('g', a.memberId, a.memberEpoch, [{ topic: 't', partition: 0, offset: 1 }]);
    await expectRejects(h.coordinator.deleteGroup('g'), 'GROUP_NOT_EMPTY');
    a.leave();
    await h.coordinator.deleteGroup('g');
    expect(h.coordinator.listGroups()).toEqual([]);
    await expectRejects(h.coordinator.deleteGroup('g'), 'UNKNOWN_GROUP');
    expect(() => h.coordinator.describeGroup('g')).toThrow(/does not exist/);
  });

  it('resets offsets to earliest, latest, an offset (clamped) or a timestamp, with dry runs', async () => {
    for (let p = 0; p < 4; p++) h.topics.highWatermarks.set(`t#${p}`, 100);
    h.topics.logStartOffsets.set('t#1', 20);
    await h.coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: 0, offset: 42, metadata: 'm' }]);
    const dry = await h.coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [], to: 'latest', dryRun: true });
    expect(dry.map((o) => o.offset)).toEqual([100, 100, 100, 100]);
    expect(h.coordinator.fetchOffsets('g')).toHaveLength(1);
    await h.coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [1], to: 'earliest', dryRun: false });
    await h.coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [2], to: 'offset', offset: 500, dryRun: false });
    await h.coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [3], to: 'timestamp', timestampMs: 1050, dryRun: false });
    expect(h.coordinator.fetchOffsets('g').map((o) => [o.partition, o.offset, o.metadata])).toEqual([
      [0, 42, 'm'],
      [1, 20, ''],
      [2, 100, ''],
      [3, 50, ''],
    ]);
    await expectRejects(h.coordinator.resetOffsets({ groupId: 'g', topic: 'nope', partitions: [], to: 'earliest', dryRun: false }), 'UNKNOWN_TOPIC');
    await expectRejects(h.coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [9], to: 'earliest', dryRun: false }), 'UNKNOWN_PARTITION');
    new SimMember(h.coordinator, 'g', ['t']).heartbeat();
    await expectRejects(h.coordinator.resetOffsets({ groupId: 'g', topic: 't', partitions: [], to: 'earliest', dryRun: true }), 'GROUP_NOT_EMPTY');
  });
});

describe('GroupCoordinator durability', () => {
  it('reloads committed offsets, resets and deletions from its store', async () => {
    const h = await harness();
    h.topics.counts.set('t', 2);
    await h.coordinator.commitOffsets('a', '', 0, [{ topic: 't', partition: 0, offset: 5 }]);
    await h.coordinator.commitOffsets('a', '', 0, [{ topic: 't', partition: 0, offset: 6 }]);
    await h.coordinator.commitOffsets('b', '', 0, [{ topic: 't', partition: 1, offset: 9 }]);
    await h.coordinator.deleteGroup('b');
    await h.coordinator.resetOffsets({ groupId: 'c', topic: 't', partitions: [1], to: 'offset', offset: 0, dryRun: false });
    await h.coordinator.stop();
    const again = await harness({}, h.store, h.topics);
    expect(again.coordinator.fetchOffsets('a')).toMatchObject([{ partition: 0, offset: 6 }]);
    expect(again.coordinator.fetchOffsets('b')).toEqual([]);
    expect(again.coordinator.fetchOffsets('c')).toMatchObject([{ partition: 1, offset: 0 }]);
    expect(again.coordinator.listGroups().map((g) => g.groupId)).toEqual(['a', 'c']);
  });

  it('keeps the store small with snapshots and loses nothing across them', async () => {
    const h = await harness({ snapshotMinRecords: 50, snapshotChunkOffsets: 7 });
    h.topics.counts.set('t', 20);
    for (let i = 0; i < 500; i++) {
      await h.coordinator.commitOffsets(`g${i % 3}`, '', 0, [{ topic: 't', partition: i % 20, offset: i }]);
    }
    expect(h.coordinator.snapshotsWritten).toBeGreaterThan(0);
    const entries = h.store.records.reduce((n, r) => n + (r.type === 'offsets' ? r.offsets.length : 1), 0);
    expect(entries).toBeLessThan(60 + 50 + 1);
    const again = await harness({ snapshotMinRecords: 50 }, h.store, h.topics);
    for (let g = 0; g < 3; g++) {
      for (const o of again.coordinator.fetchOffsets(`g${g}`)) {
        // the last commit to (g, p) was the largest i with i%3 == g and i%20 == p
        let last = -1;
        for (let i = 0; i < 500; i++) if (i % 3 === g && i % 20 === o.partition) last = i;
        expect(o.offset).toBe(last);
      }
    }
  });

  it('queued commits share one append; a failed append fails its commits and applies nothing', async () => {
    const h = await harness();
    h.topics.counts.set('t', 10);
    const before = h.store.appends;
    await Promise.all(Array.from({ length: 10 }, (_, p) => h.coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: p, offset: p }])));
    expect(h.store.appends - before).toBeLessThanOrEqual(2);
    h.store.failNextAppend = true;
    await expectRejects(h.coordinator.commitOffsets('g', '', 0, [{ topic: 't', partition: 0, offset: 99 }]), 'STORAGE_ERROR');
    expect(h.coordinator.fetchOffsets('g')[0].offset).toBe(0);
  });
});
