/**
 * One consumer group's state: its members, the group epoch, the target
 * assignment computed for that epoch, who owns which partition, and the
 * committed offsets.
 *
 * Epochs (as in KIP-848). The group epoch goes up whenever something that
 * changes the target assignment changes: a member joins or goes, a
 * subscription changes, a subscribed topic gains or loses partitions. The
 * target assignment is recomputed at once, so its epoch always equals the
 * group epoch. A member's epoch catches up with the group epoch only once the
 * member holds no partition outside its new target, i.e. after it has
 * released what it had to give up.
 *
 * Ownership. A partition is owned by the member that has it in its
 * `assigned` set (sent to it as its assignment) or in its
 * `pendingRevocation` set (taken out of its assignment, but it may still be
 * consuming until it reports otherwise in `owned`). A member is given a
 * partition of its target only when nobody owns it. So no partition is ever
 * owned by two members: `owners` is the index of that relation and every
 * change to it goes through `claim`/`release`, which assert it.
 *
 * Reconciling one member (`reconcile`, on each of its heartbeats):
 *   1. pending revocations no longer in the member's reported `owned` are
 *      released; pending ones back in its target return to `assigned`;
 *   2. while it still owns a pending revocation, nothing else happens
 *      (state `unrevoked`, epoch unchanged);
 *   3. if its epoch is behind the target epoch, what it holds outside its
 *      target becomes pending revocation (released at once if `owned`
 *      already lacks it); if anything remains pending, stop as in 2;
 *      otherwise its epoch moves to the target epoch;
 *   4. it takes every partition of its target that nobody owns; any still
 *      owned by others leave it `unreleased` until they are let go.
 * Members whose target did not change keep their partitions throughout.
 *
 * All of this runs synchronously inside one heartbeat call: nothing
 * interleaves across `await` here.
 */
import { invariant } from '../common/errors';
import { EMPTY_ASSIGNMENT, assignmentOf, partitionKeys, type Assignment, type PartitionKey } from './assignment';
import type { AssignorName } from './assignor-interface';
import { ASSIGNORS } from './assignors';

export type MemberState = 'stable' | 'unrevoked' | 'unreleased';
export type GroupState = 'Empty' | 'Reconciling' | 'Stable';

export interface GroupMember {
  readonly memberId: string;
  readonly instanceId: string | undefined;
  memberEpoch: number;
  previousMemberEpoch: number;
  /** Subscribed topics, sorted, no duplicates. */
  topics: readonly string[];
  sessionTimeoutMs: number;
  lastHeartbeatMonotonicMs: number;
  lastHeartbeatWallMs: number;
  /** Partitions in the member's assignment → the member epoch at which each was given (for commit fencing). */
  readonly assigned: Map<PartitionKey, number>;
  /** Partitions taken out of the assignment that the member may still be consuming → the epoch at which each was given. */
  readonly pendingRevocation: Map<PartitionKey, number>;
  /** What the member last reported owning. */
  owned: Assignment;
  state: MemberState;
}

export interface CommittedOffset {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

export class ConsumerGroup {
  groupEpoch = 0;
  assignor: AssignorName;
  readonly members = new Map<string, GroupMember>();
  /** Member id → target assignment at `groupEpoch`. */
  target = new Map<string, Assignment>();
  /** Partition counts of the subscribed topics the target was computed from. */
  partitionCounts = new Map<string, number>();
  readonly owners = new Map<PartitionKey, string>();
  readonly offsets = new Map<PartitionKey, CommittedOffset>();
  /** Members replaced by a newer member with their static instance id → when to forget them (monotonic ms). */
  readonly fencedMembers = new Map<string, number>();

  constructor(readonly groupId: string, assignor: AssignorName) {
    this.assignor = assignor;
  }

  get state(): GroupState {
    if (this.members.size === 0) return 'Empty';
    for (const m of this.members.values()) {
      if (m.state !== 'stable' || m.memberEpoch !== this.groupEpoch) return 'Reconciling';
    }
    return 'Stable';
  }

  subscribedTopics(): string[] {
    const topics = new Set<string>();
    for (const m of this.members.values()) for (const t of m.topics) topics.add(t);
    return [...topics].sort();
  }

  /** Bumps the group epoch and recomputes the target assignment from the members' subscriptions. */
  bumpEpoch(partitionCounts: Map<string, number>): void {
    this.groupEpoch++;
    this.partitionCounts = partitionCounts;
    const members = new Map([...this.members].map(([id, m]) => [id, { topics: m.topics }]));
    this.target = ASSIGNORS[this.assignor]({ members, partitionCounts, previous: this.target });
    this.checkTarget();
  }

  targetOf(memberId: string): Set<PartitionKey> {
    return new Set(partitionKeys(this.target.get(memberId) ?? EMPTY_ASSIGNMENT));
  }

  reconcile(member: GroupMember, owned: ReadonlySet<PartitionKey>): void {
    const target = this.targetOf(member.memberId);
    for (const [key, epoch] of member.pendingRevocation) {
      if (!owned.has(key)) this.release(member, key);
      else if (target.has(key)) {
        member.pendingRevocation.delete(key);
        member.assigned.set(key, epoch);
      }
    }
    if (member.pendingRevocation.size > 0) {
      member.state = 'unrevoked';
      return;
    }
    if (member.memberEpoch !== this.groupEpoch) {
      for (const [key, epoch] of [...member.assigned]) {
        if (target.has(key)) continue;
        member.assigned.delete(key);
        member.pendingRevocation.set(key, epoch);
        if (!owned.has(key)) this.release(member, key);
      }
      if (member.pendingRevocation.size > 0) {
        member.state = 'unrevoked';
        return;
      }
      member.previousMemberEpoch = member.memberEpoch;
      member.memberEpoch = this.groupEpoch;
    }
    let waiting = false;
    for (const key of target) {
      if (member.assigned.has(key)) continue;
      if (this.owners.has(key)) waiting = true;
      else this.claim(member, key);
    }
    member.state = waiting ? 'unreleased' : 'stable';
  }

  /** Removes a member, freeing everything it owns. Does not bump the epoch. */
  removeMember(member: GroupMember): void {
    this.releaseAll(member);
    this.members.delete(member.memberId);
    this.target.delete(member.memberId);
  }

  /** Frees everything a member owns, as when it rejoins having dropped its partitions. */
  releaseAll(member: GroupMember): void {
    for (const key of [...member.assigned.keys(), ...member.pendingRevocation.keys()]) this.release(member, key);
  }

  /** Moves a member's whole state to a new member id (static membership: a restarted instance takes over). */
  replaceMember(old: GroupMember, replacement: GroupMember): void {
    for (const [key, epoch] of old.assigned) replacement.assigned.set(key, epoch);
    for (const [key, epoch] of old.pendingRevocation) replacement.pendingRevocation.set(key, epoch);
    for (const key of [...old.assigned.keys(), ...old.pendingRevocation.keys()]) this.owners.set(key, replacement.memberId);
    replacement.memberEpoch = old.memberEpoch;
    replacement.previousMemberEpoch = old.previousMemberEpoch;
    replacement.state = old.state;
    this.members.delete(old.memberId);
    this.members.set(replacement.memberId, replacement);
    const target = this.target.get(old.memberId);
    this.target.delete(old.memberId);
    if (target) this.target.set(replacement.memberId, target);
  }

  /** The member a partition is assigned to (not merely pending revocation from), if any. */
  assigneeOf(key: PartitionKey): string | undefined {
    const owner = this.owners.get(key);
    return owner !== undefined && this.members.get(owner)?.assigned.has(key) ? owner : undefined;
  }

  /** Full check of the ownership relation; tests call it after every step, the coordinator after membership changes. */
  checkInvariants(): void {
    const seen = new Map<PartitionKey, string>();
    for (const m of this.members.values()) {
      for (const key of [...m.assigned.keys(), ...m.pendingRevocation.keys()]) {
        const other = seen.get(key);
        invariant(other === undefined, `partition ${key} of group ${this.groupId} is owned by both ${other} and ${m.memberId}`, { group: this.groupId });
        seen.set(key, m.memberId);
        invariant(this.owners.get(key) === m.memberId, `owner index of ${key} says ${this.owners.get(key)}, member ${m.memberId} holds it`, { group: this.groupId });
      }
    }
    invariant(seen.size === this.owners.size, `owner index of group ${this.groupId} has ${this.owners.size} entries, members own ${seen.size}`, { group: this.groupId });
  }

  private claim(member: GroupMember, key: PartitionKey): void {
    const owner = this.owners.get(key);
    invariant(owner === undefined, `partition ${key} given to ${member.memberId} while ${owner} owns it`, { group: this.groupId, memberId: member.memberId });
    this.owners.set(key, member.memberId);
    member.assigned.set(key, member.memberEpoch);
  }

  private release(member: GroupMember, key: PartitionKey): void {
    invariant(this.owners.get(key) === member.memberId, `member ${member.memberId} releases ${key} owned by ${this.owners.get(key)}`, { group: this.groupId, memberId: member.memberId });
    this.owners.delete(key);
    member.assigned.delete(key);
    member.pendingRevocation.delete(key);
  }

  private checkTarget(): void {
    const seen = new Set<PartitionKey>();
    for (const [id, assignment] of this.target) {
      invariant(this.members.has(id), `target assignment names ${id}, not a member of ${this.groupId}`, { group: this.groupId });
      for (const key of partitionKeys(assignment)) {
        invariant(!seen.has(key), `target assignment of ${this.groupId} gives ${key} twice`, { group: this.groupId });
        seen.add(key);
      }
    }
  }

  assignmentOfMember(member: GroupMember): Assignment {
    return assignmentOf(member.assigned.keys());
  }
}
