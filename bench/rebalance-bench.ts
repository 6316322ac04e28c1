/**
 * Consumer-group rebalance benchmark on a real broker.
 *
 *   make bench        (or: make build && node dist/bench/rebalance-bench.js [--session-timeout-ms 3000])
 *
 * 8 members (child processes, each a plain loop over raw gRPC: heartbeat,
 * and one long-poll Fetch loop per assigned partition, committing what it
 * consumed every 500 ms and before releasing a partition) share a
 * 64-partition topic while the parent produces one record to every
 * partition every 50 ms. Then:
 *   1. a 9th member joins;
 *   2. one of the original members is SIGKILLed (no Leave: its partitions
 *      move only when its session times out).
 * For each event the parent reports, from DescribeGroup polls (every 20 ms)
 * and the members' consumption reports:
 *   - time until every partition is assigned again and every moved
 *     partition has been consumed by its new owner;
 *   - partitions moved (sticky should move ≤ ⌈64/9⌉ = 8 on the join);
 *   - the longest gap between consumed records on partitions that did not
 *     move, next to the same measure over a quiet window before the event
 *     (the normal fetch-and-produce cadence).
 */
import { spawn, type ChildProcess } from 'child_process';
import readline from 'readline';
import type { pb } from '../src/protocol';
import { grpcClients, randomTopicName, startBroker, stopAllBrokers, type GrpcClients } from '../test/helpers/broker';

const PARTITIONS = 64;
const PRODUCE_INTERVAL_MS = 50;
const GROUP = process.argv[2] === '--member' ? process.argv[6] : `rebalance-${process.pid}`;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

let brokerLogs = (): string => "";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- member process -----------------------------------------------------------------

async function runMember(addr: string, topic: string, sessionTimeoutMs: number): Promise<void> {
  const clients = grpcClients(addr);
  let memberId = '';
  let memberEpoch = 0;
  const owned = new Map<number, { offset: number; committed: number; stop: boolean }>();
  const report = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

  async function commit(partitions: number[]): Promise<void> {
    const offsets = partitions
      .map((p) => ({ p, s: owned.get(p)! }))
      .filter(({ s }) => s && s.offset > s.committed)
      .map(({ p, s }) => ({ topic, partition: p, offset: s.offset }));
    if (offsets.length === 0) return;
    try {
      await clients.groups.CommitOffsets({ groupId: GROUP, memberId, memberEpoch, offsets });
      for (const o of offsets) owned.get(o.partition)!.committed = o.offset;
    } catch {
      // A refused commit (e.g. right after a rebalance) is retried on the next tick.
    }
  }

  async function consume(p: number): Promise<void> {
    const committed = await clients.groups.FetchOffsets<pb.FetchOffsetsResponse__Output>({ groupId: GROUP, topics: [topic] });
    const c = committed.offsets.find((o) => o.partition === p);
    const start = c ? c.offset : (await clients.log.ListOffsets<pb.ListOffsetsResponse__Output>({ topic, partition: p, spec: 'OFFSET_SPEC_LATEST' })).offset;
    const state = owned.get(p);
    if (!state || state.stop) return;
    state.offset = state.committed = start;
    while (!state.stop) {
      const res = await clients.log.Fetch<pb.FetchResponse__Output>({ topic, partition: p, offset: state.offset, maxBytes: 1 << 20, maxWaitMs: 500 });
      if (state.stop) break;
      if (res.records.length > 0) {
        state.offset = res.nextOffset;
        report({ t: 'c', p, at: Date.now(), n: res.records.length });
      }
    }
  }

  const committer = setInterval(() => void commit([...owned.keys()]), 500);
  for (;;) {
    const res = await clients.groups.Heartbeat<pb.HeartbeatResponse__Output>({
      groupId: GROUP,
      memberId,
      memberEpoch,
      topics: [topic],
      owned: [{ topic, partitions: [...owned.keys()] }],
      sessionTimeoutMs,
    });
    memberId = res.memberId;
    memberEpoch = res.memberEpoch;
    const assigned = new Set(res.assignment.flatMap((tp) => tp.partitions));
    const revoked = [...owned.keys()].filter((p) => !assigned.has(p));
    if (revoked.length) {
      for (const p of revoked) owned.get(p)!.stop = true;
      await commit(revoked);
      for (const p of revoked) owned.delete(p);
    }
    for (const p of assigned) {
      if (owned.has(p)) continue;
      owned.set(p, { offset: 0, committed: 0, stop: false });
      void consume(p).catch(() => owned.delete(p));
    }
    // Tell the coordinator at once that revoked partitions are released.
    if (revoked.length === 0) await sleep(res.heartbeatIntervalMs);
  }
  clearInterval(committer);
}

// ---- parent -------------------------------------------------------------------------

interface Member {
  readonly name: string;
  readonly child: ChildProcess;
}

interface Snapshot {
  at: number;
  state: string;
  owner: Map<number, string>; // partition → member id (assignment)
}

async function main(): Promise<void> {
  const sessionTimeoutMs = Number(arg('--session-timeout-ms', '3000'));
  const broker = await startBroker();
  brokerLogs = () => broker.logs().split("\n").filter((l) => l.includes("member removed")).join("\n");
  const clients: GrpcClients = grpcClients(broker.addr);
  const topic = randomTopicName('rebalance');
  await clients.admin.CreateTopic({ name: topic, partitions: PARTITIONS });

  let producing = true;
  const producer = (async () => {
    const value = Buffer.alloc(100, 'x');
    while (producing) {
      const started = Date.now();
      await Promise.all(Array.from({ length: PARTITIONS }, (_, p) => clients.log.Produce({ topic, partition: p, records: [{ value }] })));
      await sleep(Math.max(0, PRODUCE_INTERVAL_MS - (Date.now() - started)));
    }
  })();

  // Consumption events: partition → times a record batch was consumed.
  const consumed = new Map<number, number[]>();
  const members: Member[] = [];
  const spawnMember = (name: string): Member => {
    const child = spawn(process.execPath, [__filename, '--member', broker.addr, topic, String(sessionTimeoutMs), GROUP], { stdio: ['ignore', 'pipe', 'inherit'] });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const e = JSON.parse(line) as { t: string; p: number; at: number };
        if (e.t === 'c') {
          let list = consumed.get(e.p);
          if (!list) consumed.set(e.p, (list = []));
          list.push(e.at);
        }
      } catch {
        /* not an event */
      }
    });
    const m = { name, child };
    members.push(m);
    return m;
  };

  const snapshots: Snapshot[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      try {
        const d = await clients.groups.DescribeGroup<pb.DescribeGroupResponse__Output>({ groupId: GROUP });
        const owner = new Map<number, string>();
        for (const m of d.members) for (const tp of m.assignment) for (const p of tp.partitions) owner.set(p, m.memberId);
        snapshots.push({ at: Date.now(), state: d.state, owner });
      } catch (e) {
        if (process.env.BROOK_BENCH_DEBUG) process.stderr.write(`DescribeGroup: ${String(e)}\n`);
      }
      await sleep(20);
    }
  })();

  const latest = () => snapshots[snapshots.length - 1];
  const settled = async (memberCount: number, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = latest();
      if (s && s.state === 'Stable' && s.owner.size === PARTITIONS && new Set(s.owner.values()).size === memberCount) return s;
      await sleep(50);
    }
    const s = latest();
    throw new Error(`group did not settle with ${memberCount} members (last seen: ${s ? `${s.state}, ${s.owner.size} partitions assigned to ${new Set(s.owner.values()).size} members` : 'no DescribeGroup answer'})`);
  };

  for (let i = 0; i < 8; i++) spawnMember(`m${i}`);
  await settled(8);
  await sleep(3000); // steady state

  const measure = async (label: string, memberCount: number, act: () => void) => {
    const before = latest().owner;
    const quietFrom = Date.now() - 2000;
    const t0 = Date.now();
    act();
    const after = await settled(memberCount);
    const moved = [...after.owner].filter(([p, id]) => before.get(p) !== id).map(([p]) => p);
    // Every moved partition consumed by its new owner after the event.
    const deadline = Date.now() + 30_000;
    let consumingAt = after.at;
    for (const p of moved) {
      for (;;) {
        const t = (consumed.get(p) ?? []).find((at) => at > t0 && at >= firstOwnedAt(p, after.owner.get(p)!, t0));
        if (t !== undefined) {
          consumingAt = Math.max(consumingAt, t);
          break;
        }
        if (Date.now() > deadline) throw new Error(`partition ${p} not consumed after ${label}`);
        await sleep(50);
      }
    }
    await sleep(1000);
    const t1 = Date.now();
    const gap = (from: number, to: number, partitions: number[]) => {
      let worst = 0;
      for (const p of partitions) {
        const times = (consumed.get(p) ?? []).filter((at) => at >= from && at <= to);
        for (let i = 1; i < times.length; i++) worst = Math.max(worst, times[i] - times[i - 1]);
      }
      return worst;
    };
    const unmoved = [...after.owner.keys()].filter((p) => !moved.includes(p));
    return {
      label,
      recoveredMs: consumingAt - t0,
      ownedMs: after.at - t0,
      moved: moved.length,
      pauseUnmovedMs: gap(t0, t1, unmoved),
      baselinePauseMs: gap(quietFrom, t0, [...before.keys()]),
    };
  };

  function firstOwnedAt(p: number, id: string, since: number): number {
    const s = snapshots.find((x) => x.at >= since && x.owner.get(p) === id);
    return s ? s.at - 20 : since;
  }

  const join = await measure('9th member joins', 9, () => spawnMember('m8'));
  await sleep(2000);
  const victim = members[3];
  const kill = await measure(`1 member SIGKILLed (session.timeout ${sessionTimeoutMs} ms)`, 8, () => victim.child.kill('SIGKILL'));

  polling = false;
  producing = false;
  await Promise.all([poller, producer]);
  for (const m of members) if (m.child.exitCode === null && m.child.signalCode === null) m.child.kill('SIGKILL');
  clients.close();
  await stopAllBrokers();

  const rows = [join, kill];
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const table = [
    line(['event', 'all partitions assigned', 'all moved partitions consuming', 'partitions moved', 'longest pause, unmoved partitions', 'longest pause before the event']),
    line(['---', '---:', '---:', '---:', '---:', '---:']),
    ...rows.map((r) => line([r.label, `${r.ownedMs} ms`, `${r.recoveredMs} ms`, String(r.moved), `${r.pauseUnmovedMs} ms`, `${r.baselinePauseMs} ms`])),
  ].join('\n');
  process.stdout.write(`\nrebalance: 64 partitions, 8 → 9 → 8 members, one record per partition every ${PRODUCE_INTERVAL_MS} ms\n\n${table}\n`);
}

if (process.argv[2] === '--member') {
  runMember(process.argv[3], process.argv[4], Number(process.argv[5])).catch((e) => {
    process.stderr.write(`member failed: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
} else {
  main().catch(async (e) => {
    process.stderr.write(`rebalance-bench failed: ${e instanceof Error ? e.stack : String(e)}\n`);
    if (process.env.BROOK_BENCH_DEBUG) process.stderr.write(brokerLogs());
    await stopAllBrokers();
    process.exit(1);
  });
}
