import { partitionKeys, type Assignment } from '../../src/coordinator/assignment';
import type { GroupCoordinator, HeartbeatResult } from '../../src/coordinator';

/**
 * A member as a well-behaved client runs it: heartbeats with the partitions it
 * owns, releases what its assignment no longer lists (at once, or only when
 * told to with `slow`), and takes up what it is given.
 */
export class SimMember {
  memberId = '';
  memberEpoch = 0;
  owned = new Set<string>();
  last: HeartbeatResult | undefined;
  /** When set, partitions to release are kept (still reported owned) until `releaseRevoked()`. */
  slow = false;

  constructor(
    private readonly coordinator: GroupCoordinator,
    readonly groupId: string,
    public topics: string[],
    readonly options: { instanceId?: string; sessionTimeoutMs?: number; assignor?: string } = {},
  ) {}

  heartbeat(): HeartbeatResult {
    const res = this.coordinator.heartbeat({
      groupId: this.groupId,
      memberId: this.memberId,
      memberEpoch: this.memberEpoch,
      instanceId: this.options.instanceId,
      topics: this.topics,
      owned: ownedList(this.owned),
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 10_000,
      assignor: this.options.assignor,
    });
    this.last = res;
    this.memberId = res.memberId;
    this.memberEpoch = res.memberEpoch;
    const assigned = new Set(partitionKeys(res.assignment));
    for (const k of assigned) this.owned.add(k);
    if (!this.slow) this.releaseRevoked();
    return res;
  }

  releaseRevoked(): void {
    const assigned = new Set(this.last ? partitionKeys(this.last.assignment) : []);
    for (const k of [...this.owned]) if (!assigned.has(k)) this.owned.delete(k);
  }

  assignment(): string[] {
    return this.last ? [...partitionKeys(this.last.assignment)] : [];
  }

  leave(): void {
    this.coordinator.leave(this.groupId, this.memberId, this.memberEpoch);
    this.owned.clear();
  }
}

export function ownedList(keys: Iterable<string>): { topic: string; partitions: number[] }[] {
  const by = new Map<string, number[]>();
  for (const k of keys) {
    const at = k.lastIndexOf('#');
    const t = k.slice(0, at);
    by.set(t, [...(by.get(t) ?? []), Number(k.slice(at + 1))]);
  }
  return [...by].map(([topic, partitions]) => ({ topic, partitions }));
}

export function keys(a: Assignment): string[] {
  return [...partitionKeys(a)];
}

/** Heartbeats every member `rounds` times. */
export function settle(members: SimMember[], rounds = 4): void {
  for (let i = 0; i < rounds; i++) for (const m of members) m.heartbeat();
}

/** Each member's owned set; asserts no partition is owned twice. */
export function ownership(members: SimMember[]): Map<string, string> {
  const owner = new Map<string, string>();
  for (const m of members) {
    for (const k of m.owned) {
      if (owner.has(k)) throw new Error(`${k} owned by ${owner.get(k)} and ${m.memberId}`);
      owner.set(k, m.memberId);
    }
  }
  return owner;
}
