/**
 * Random histories of a group — joins, heartbeats, slow releases, leaves,
 * crashes, session expiry, subscription changes and partition increases —
 * checking after every step that no partition is owned by two members (in
 * the coordinator, and among the clients it still counts as members), and,
 * once everyone heartbeats steadily, that every subscribed partition is
 * assigned, each member's assignment is what it owns, and the group is Stable.
 */
import fc from 'fast-check';
import { isBrookError } from '../../src/common/errors';
import { harness } from './fakes';
import { SimMember } from './sim-member';

const TOPICS = ['a', 'b', 'c'];

type Op =
  | { kind: 'join'; topics: string[]; slow: boolean; instance: number | null }
  | { kind: 'heartbeat'; who: number }
  | { kind: 'release'; who: number }
  | { kind: 'leave'; who: number }
  | { kind: 'crash'; who: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'subscribe'; who: number; topics: string[] }
  | { kind: 'grow'; topic: string; by: number };

const topicsArb = fc.subarray(TOPICS, { minLength: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('join' as const), topics: topicsArb, slow: fc.boolean(), instance: fc.option(fc.integer({ min: 0, max: 3 })) }) },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), who: fc.nat(20) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('release' as const), who: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), who: fc.nat(20) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('crash' as const), who: fc.nat(20) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 100, max: 7000 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('subscribe' as const), who: fc.nat(20), topics: topicsArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('grow' as const), topic: fc.constantFrom(...TOPICS), by: fc.integer({ min: 1, max: 5 }) }) },
);

class Client extends SimMember {
  crashed = false;

  /** Heartbeats as a real client would: on a fencing error it drops everything and rejoins next time. */
  beat(): void {
    try {
      this.heartbeat();
    } catch (e) {
      if (!isBrookError(e) || !['UNKNOWN_MEMBER_ID', 'STALE_MEMBER_EPOCH', 'FENCED_INSTANCE_ID'].includes(e.code)) throw e;
      this.memberId = '';
      this.memberEpoch = 0;
      this.owned.clear();
      this.last = undefined;
    }
  }
}

describe('GroupCoordinator under random histories', () => {
  it('never gives a partition to two members, and settles to a complete assignment', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 80 }), fc.constantFrom('sticky', 'range', 'roundrobin'), async (ops, assignor) => {
        const h = await harness();
        h.topics.counts.set('a', 6);
        h.topics.counts.set('b', 3);
        h.topics.counts.set('c', 1);
        const clients: Client[] = [];
        const live = () => clients.filter((c) => !c.crashed);
        const pick = (i: number) => (live().length ? live()[i % live().length] : undefined);

        const check = () => {
          h.coordinator.checkInvariants();
          let members: Set<string>;
          try {
            members = new Set(h.coordinator.describeGroup('g').members.map((m) => m.memberId));
          } catch {
            members = new Set();
          }
          const owner = new Map<string, string>();
          for (const c of clients) {
            if (!members.has(c.memberId)) continue;
            for (const k of c.owned) {
              if (owner.has(k)) throw new Error(`${k} owned by ${owner.get(k)} and ${c.memberId}`);
              owner.set(k, c.memberId);
            }
          }
        };

        for (const op of ops) {
          switch (op.kind) {
            case 'join': {
              const instanceId = op.instance === null ? undefined : `i${op.instance}`;
              // Two live processes with one instance id is a misconfiguration; a restart replaces a crashed one.
              if (instanceId && live().some((c) => c.options.instanceId === instanceId)) break;
              const c = new Client(h.coordinator, 'g', op.topics, { instanceId, sessionTimeoutMs: 5000, assignor });
              c.slow = op.slow;
              clients.push(c);
              c.beat();
              break;
            }
            case 'heartbeat':
              pick(op.who)?.beat();
              break;
            case 'release':
              pick(op.who)?.releaseRevoked();
              break;
            case 'leave': {
              const c = pick(op.who);
              if (c && c.memberId) {
                try {
                  c.leave();
                } catch (e) {
                  if (!isBrookError(e)) throw e;
                }
                c.crashed = true;
              }
              break;
            }
            case 'crash': {
              const c = pick(op.who);
              if (c) c.crashed = true;
              break;
            }
            case 'advance':
              h.clock.advance(op.ms);
              h.coordinator.expireSessions();
              break;
            case 'subscribe': {
              const c = pick(op.who);
              if (c) c.topics = op.topics;
              break;
            }
            case 'grow':
              h.topics.counts.set(op.topic, h.topics.counts.get(op.topic)! + op.by);
              break;
          }
          check();
        }

        // Settle: crashed members expire, live ones heartbeat steadily and release promptly.
        h.clock.advance(6000);
        for (const c of live()) c.slow = false;
        h.coordinator.expireSessions();
        for (let round = 0; round < 8; round++) {
          for (const c of live()) c.beat();
          check();
          h.clock.advance(100);
        }
        const members = live();
        if (members.length === 0) return;
        const d = h.coordinator.describeGroup('g');
        expect(d.state).toBe('Stable');
        const subscribed = new Set(members.flatMap((c) => c.topics));
        const owner = new Map<string, string>();
        for (const c of members) {
          expect([...c.owned].sort()).toEqual(c.assignment().sort());
          for (const k of c.owned) owner.set(k, c.memberId);
        }
        for (const t of subscribed) for (let p = 0; p < h.topics.counts.get(t)!; p++) expect(owner.has(`${t}#${p}`)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
