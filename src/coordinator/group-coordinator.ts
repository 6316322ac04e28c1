/**
 * The group coordinator: consumer-group membership, broker-side cooperative
 * assignment and committed offsets, modelled on Kafka's KIP-848 consumer
 * protocol. See consumer-group.ts for epochs, ownership and reconciliation.
 *
 * Membership is kept in memory only. After a broker restart every member's
 * next heartbeat gets UNKNOWN_MEMBER_ID and it rejoins; committed offsets are
 * durable (OffsetStore) and loaded by `start()`.
 *
 * Commit fencing (decided after KIP-848 with KIP-1251's relaxation): a
 * commit names a member id and the member epoch it last saw. It is accepted
 * for a partition when the member is in the group, its epoch is not newer
 * than the member's current epoch, the member owns the partition (in its
 * assignment or still pending revocation — committing before releasing is
 * exactly what a revoking member must do), and the member has owned it since
 * at least the epoch it sent. So a commit sent just before a heartbeat moved
 * the member to a new epoch still lands for partitions it kept, while a
 * zombie (removed, fenced, or committing a partition it has given up) gets
 * FAILED_PRECONDITION. An empty member id commits as a standalone consumer,
 * only while the group has no members.
 *
 * Concurrency: heartbeats, leaves, session expiry and reads run
 * synchronously and never interleave. Writes (commits, resets, deletions)
 * validate first, then await the OffsetWriter, and change memory only once
 * durable; membership may change across that await, which is harmless for
 * offsets (the same as a commit that arrived a moment earlier).
 */
import { randomUUID } from 'crypto';
import { BrookError } from '../common/errors';
import type { Clock } from '../common/clock';
import {
  assignmentFromTopics,
  assignmentOf,
  comparePartitionKeys,
  parsePartitionKey,
  partitionKey,
  partitionKeys,
  type Assignment,
  type PartitionKey,
} from './assignment';
import { isAssignorName, type AssignorName } from './assignor-interface';
import { validateCoordinatorConfig, type CoordinatorConfig } from './coordinator-config';
import { ConsumerGroup, type CommittedOffset, type GroupMember, type GroupState } from './consumer-group';
import type { CommittedOffsetRecord, GroupRecord, OffsetStore } from './offset-store-interface';
import { entriesOf, OffsetWriter } from './offset-writer';
import type { TopicMetadata } from './topic-metadata-interface';

/** A member that sends this epoch to Leave keeps its partitions reserved until its session expires (static members only). */
export const TEMPORARY_LEAVE_EPOCH = -2;

export interface CoordinatorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface GroupCoordinatorOptions {
  readonly store: OffsetStore;
  readonly metadata: TopicMetadata;
  readonly clock: Clock;
  readonly config?: Partial<CoordinatorConfig>;
  readonly logger?: CoordinatorLogger;
  /** Member ids for joins without one (default: random UUIDs). */
  readonly newMemberId?: () => string;
}

export interface TopicPartitionsInput {
  readonly topic: string;
  readonly partitions: readonly number[];
}

export interface HeartbeatInput {
  readonly groupId: string;
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly instanceId?: string;
  readonly topics: readonly string[];
  readonly owned: readonly TopicPartitionsInput[];
  /** 0 means the configured default. */
  readonly sessionTimeoutMs: number;
  readonly assignor?: string;
}

export interface HeartbeatResult {
  readonly memberId: string;
  readonly memberEpoch: number;
  readonly heartbeatIntervalMs: number;
  readonly assignment: Assignment;
}

export interface OffsetCommitInput {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly metadata?: string;
}

export interface MemberDescription {
  readonly memberId: string;
  readonly instanceId: string;
  readonly memberEpoch: number;
  readonly topics: readonly string[];
  readonly assignment: Assignment;
  readonly target: Assignment;
  readonly pendingRevocation: Assignment;
  readonly owned: Assignment;
  readonly sessionTimeoutMs: number;
  readonly lastHeartbeatMs: number;
}

export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** -1 when nothing is committed. */
  readonly committedOffset: number;
  /** -1 when the partition does not exist (any more). */
  readonly highWatermark: number;
  readonly lag: number;
  readonly memberId: string;
  readonly metadata: string;
}

export interface GroupDescription {
  readonly groupId: string;
  readonly state: GroupState;
  readonly groupEpoch: number;
  readonly assignor: AssignorName;
  readonly members: readonly MemberDescription[];
  readonly partitions: readonly PartitionLag[];
  readonly totalLag: number;
}

export interface GroupSummary {
  readonly groupId: string;
  readonly state: GroupState;
  readonly memberCount: number;
}

export type ResetTarget = 'earliest' | 'latest' | 'offset' | 'timestamp';

export interface ResetOffsetsInput {
  readonly groupId: string;
  readonly topic: string;
  /** Empty: every partition of the topic. */
  readonly partitions: readonly number[];
  readonly to: ResetTarget;
  readonly offset?: number;
  readonly timestampMs?: number;
  readonly dryRun: boolean;
}

const MAX_ID_LENGTH = 255;
const MAX_METADATA_LENGTH = 4096;

export class GroupCoordinator {
  readonly config: CoordinatorConfig;
  private readonly groups = new Map<string, ConsumerGroup>();
  private readonly store: OffsetStore;
  private readonly metadata: TopicMetadata;
  private readonly clock: Clock;
  private readonly logger: CoordinatorLogger | undefined;
  private readonly newMemberId: () => string;
  private readonly writer: OffsetWriter;
  private sessionTimer: NodeJS.Timeout | undefined;
  private liveOffsetCount = 0;

  constructor(options: GroupCoordinatorOptions) {
    this.config = validateCoordinatorConfig(options.config ?? {});
    this.store = options.store;
    this.metadata = options.metadata;
    this.clock = options.clock;
    this.logger = options.logger;
    this.newMemberId = options.newMemberId ?? randomUUID;
    this.writer = new OffsetWriter(this.store, {
      minRecords: this.config.snapshotMinRecords,
      retryBackoffMs: this.config.snapshotRetryBackoffMs,
      retryBackoffMaxMs: this.config.snapshotRetryBackoffMaxMs,
      monotonicMs: () => this.clock.monotonicMs(),
      liveOffsets: () => this.liveOffsetCount,
      snapshot: () => this.snapshotRecords(),
      onError: (e, what) => this.logger?.error({ err: e }, `consumer offsets: ${what} failed`),
    });
  }

  /** Loads committed offsets, writes a snapshot if the log has grown, and (unless told not to) starts the session-expiry timer. */
  async start(options: { expireSessions?: boolean } = {}): Promise<{ records: number; entries: number; offsets: number; ms: number }> {
    const started = this.clock.monotonicMs();
    let entries = 0;
    const records = await this.store.load((record) => {
      entries += entriesOf(record);
      this.applyRecord(record);
    });
    this.writer.entriesInLog = entries;
    await this.writer.maybeSnapshot();
    if (options.expireSessions ?? true) {
      this.sessionTimer = setInterval(() => this.expireSessionsFromTimer(), this.config.sessionCheckIntervalMs);
      this.sessionTimer.unref();
    }
    // entries: offset entries and tombstones replayed, what start-up costs (a snapshot keeps it near the live offsets).
    const result = { records, entries, offsets: this.liveOffsetCount, ms: this.clock.monotonicMs() - started };
    this.logger?.info(result, 'consumer offsets loaded');
    return result;
  }

  /**
   * The session timer's tick. An exception here would be uncaught and end the
   * broker; a broken invariant in one group is logged instead, and the next
   * tick tries again.
   */
  private expireSessionsFromTimer(): void {
    try {
      this.expireSessions();
    } catch (e) {
      this.logger?.error({ err: e }, 'expiring group member sessions failed');
    }
  }

  /** Stops the timer and waits for queued offset writes. */
  async stop(): Promise<void> {
    if (this.sessionTimer) clearInterval(this.sessionTimer);
    this.sessionTimer = undefined;
    await this.writer.idle();
  }

  /** How many snapshots were written since start (for tests and metrics). */
  get snapshotsWritten(): number {
    return this.writer.snapshotsWritten;
  }

  // ---- membership ----------------------------------------------------------------

  heartbeat(input: HeartbeatInput): HeartbeatResult {
    requireId('group_id', input.groupId);
    const sessionTimeoutMs = this.sessionTimeout(input.sessionTimeoutMs);
    if (input.assignor !== undefined && input.assignor !== '' && !isAssignorName(input.assignor)) {
      throw new BrookError('INVALID_ARGUMENT', `unknown assignor "${input.assignor}"; use range, roundrobin or sticky`, { group: input.groupId });
    }
    if (input.instanceId !== undefined) requireId('instance_id', input.instanceId);
    if (input.memberId !== '' && input.memberId.length > MAX_ID_LENGTH) {
      throw new BrookError('INVALID_ARGUMENT', `member_id is longer than ${MAX_ID_LENGTH} characters`, { group: input.groupId });
    }
    const topics = [...new Set(input.topics)].sort();
    for (const topic of topics) {
      if (topic === '') throw new BrookError('INVALID_ARGUMENT', 'topics must not contain an empty topic name', { group: input.groupId });
    }
    const owned = new Set(partitionKeys(assignmentFromTopics(input.owned)));
    const assignor = input.assignor ? (input.assignor as AssignorName) : this.config.defaultAssignor;

    let group = this.groups.get(input.groupId);
    let member: GroupMember;
    let membershipChanged = false;
    if (input.memberEpoch === 0) {
      if (!group) {
        group = new ConsumerGroup(input.groupId, assignor);
        this.groups.set(input.groupId, group);
      }
      if (group.members.size === 0) group.assignor = assignor;
      const sameInstance = input.instanceId === undefined ? undefined : findByInstance(group, input.instanceId);
      const known = input.memberId === '' ? undefined : group.members.get(input.memberId);
      if (sameInstance && sameInstance.memberId !== input.memberId) {
        // A restarted static member takes over its predecessor's partitions; the predecessor is fenced.
        member = this.newMember(input, sessionTimeoutMs, sameInstance.topics);
        group.fencedMembers.set(sameInstance.memberId, this.clock.monotonicMs() + Math.max(sameInstance.sessionTimeoutMs, sessionTimeoutMs));
        group.replaceMember(sameInstance, member);
        this.logger?.info({ group: group.groupId, instanceId: input.instanceId, fenced: sameInstance.memberId, memberId: member.memberId }, 'static member replaced');
      } else if (known) {
        // A rejoin under a known id: the member has dropped everything it had.
        member = known;
        group.releaseAll(member);
      } else {
        member = this.newMember(input, sessionTimeoutMs, topics);
        group.members.set(member.memberId, member);
        membershipChanged = true;
      }
    } else {
      if (input.memberEpoch < 0) {
        throw new BrookError('INVALID_ARGUMENT', `member_epoch ${input.memberEpoch} is not valid in a heartbeat (0 joins; to leave, call Leave)`, { group: input.groupId });
      }
      member = this.requireMember(group, input.groupId, input.memberId);
      group = group!;
      if (input.instanceId !== undefined && input.instanceId !== member.instanceId) {
        throw new BrookError('FENCED_INSTANCE_ID', `member ${member.memberId} of group ${group.groupId} joined with instance id "${member.instanceId ?? ''}", not "${input.instanceId}"`, { group: group.groupId, memberId: member.memberId });
      }
      if (input.memberEpoch !== member.memberEpoch && !isLostResponseRetry(member, input.memberEpoch, owned)) {
        const current = member.memberEpoch;
        this.removeMember(group, member, 'stale member epoch');
        throw new BrookError(
          'STALE_MEMBER_EPOCH',
          `member ${member.memberId} of group ${group.groupId} sent epoch ${input.memberEpoch} but its epoch is ${current}; ` +
            'it has been removed from the group: drop all partitions and rejoin with member_epoch 0',
          { group: group.groupId, memberId: member.memberId },
        );
      }
    }

    member.lastHeartbeatMonotonicMs = this.clock.monotonicMs();
    member.lastHeartbeatWallMs = this.clock.nowMs();
    member.sessionTimeoutMs = sessionTimeoutMs;
    member.owned = assignmentOf(owned);
    if (!sameList(member.topics, topics)) {
      member.topics = topics;
      membershipChanged = true;
    }
    const partitionCounts = this.partitionCounts(group.subscribedTopics());
    if (membershipChanged || !sameCounts(partitionCounts, group.partitionCounts)) group.bumpEpoch(partitionCounts);
    group.reconcile(member, owned);

    const interval = Math.max(1, Math.min(this.config.heartbeatIntervalMs, Math.floor(sessionTimeoutMs / 3)));
    return {
      memberId: member.memberId,
      memberEpoch: member.memberEpoch,
      heartbeatIntervalMs: member.state === 'stable' ? interval : Math.min(interval, this.config.reconcileHeartbeatIntervalMs),
      assignment: group.assignmentOfMember(member),
    };
  }

  leave(groupId: string, memberId: string, memberEpoch: number): void {
    requireId('group_id', groupId);
    const group = this.groups.get(groupId);
    const member = this.requireMember(group, groupId, memberId);
    if (memberEpoch === TEMPORARY_LEAVE_EPOCH && member.instanceId !== undefined) {
      this.logger?.info({ group: groupId, memberId, instanceId: member.instanceId }, 'static member left for now; partitions kept until its session expires');
      return;
    }
    this.removeMember(group!, member, 'left the group');
  }

  /** Removes members whose session expired; the production timer calls this, tests call it after advancing a ManualClock. Returns the expired member ids. */
  expireSessions(): string[] {
    const now = this.clock.monotonicMs();
    const expired: string[] = [];
    for (const group of [...this.groups.values()]) {
      for (const [id, until] of group.fencedMembers) if (until <= now) group.fencedMembers.delete(id);
      for (const member of [...group.members.values()]) {
        if (now - member.lastHeartbeatMonotonicMs <= member.sessionTimeoutMs) continue;
        expired.push(member.memberId);
        this.removeMember(group, member, `session timeout (${member.sessionTimeoutMs} ms) expired`);
      }
    }
    return expired;
  }

  // ---- offsets -------------------------------------------------------------------

  async commitOffsets(groupId: string, memberId: string, memberEpoch: number, offsets: readonly OffsetCommitInput[]): Promise<void> {
    requireId('group_id', groupId);
    for (const o of offsets) validateOffset(groupId, o);
    const group = this.groups.get(groupId);
    if (memberId === '') {
      if (group && group.members.size > 0) {
        throw new BrookError('GROUP_NOT_EMPTY', `group ${groupId} has ${group.members.size} active member(s); commits without a member id are accepted only while a group has no members`, { group: groupId });
      }
    } else {
      this.checkCommitFencing(group, groupId, memberId, memberEpoch, offsets);
    }
    if (offsets.length === 0) return;
    const now = this.clock.nowMs();
    const record: GroupRecord = {
      type: 'offsets',
      groupId,
      offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata ?? '', commitTimestampMs: now })),
    };
    await this.writer.write([record], () => this.applyRecord(record));
  }

  /** Committed offsets of a group (all, or of the given topics); an unknown group has none. */
  fetchOffsets(groupId: string, topics: readonly string[] = []): CommittedOffset[] {
    requireId('group_id', groupId);
    const group = this.groups.get(groupId);
    if (!group) return [];
    const only = topics.length ? new Set(topics) : undefined;
    return [...group.offsets.entries()]
      .filter(([, o]) => !only || only.has(o.topic))
      .sort(([a], [b]) => comparePartitionKeys(a, b))
      .map(([, o]) => o);
  }

  async resetOffsets(input: ResetOffsetsInput): Promise<CommittedOffset[]> {
    requireId('group_id', input.groupId);
    const group = this.groups.get(input.groupId);
    if (group && group.members.size > 0) {
      throw new BrookError('GROUP_NOT_EMPTY', `group ${input.groupId} has ${group.members.size} active member(s); stop them before resetting offsets`, { group: input.groupId });
    }
    const count = this.metadata.partitionCount(input.topic);
    if (count === undefined) throw new BrookError('UNKNOWN_TOPIC', `topic ${input.topic} does not exist`, { topic: input.topic });
    const partitions = input.partitions.length ? [...new Set(input.partitions)].sort((a, b) => a - b) : Array.from({ length: count }, (_, p) => p);
    const now = this.clock.nowMs();
    const offsets: CommittedOffsetRecord[] = [];
    for (const partition of partitions) {
      const bounds = Number.isInteger(partition) && partition >= 0 ? this.metadata.partitionOffsets(input.topic, partition) : undefined;
      if (!bounds) {
        throw new BrookError('UNKNOWN_PARTITION', `topic ${input.topic} has no partition ${partition} (it has ${count})`, { topic: input.topic, partition });
      }
      let offset: number;
      switch (input.to) {
        case 'earliest':
          offset = bounds.logStartOffset;
          break;
        case 'latest':
          offset = bounds.highWatermark;
          break;
        case 'offset':
          offset = Math.min(Math.max(input.offset ?? 0, bounds.logStartOffset), bounds.highWatermark);
          break;
        case 'timestamp':
          offset = await this.metadata.offsetForTimestamp(input.topic, partition, input.timestampMs ?? 0);
          break;
      }
      const previous = group?.offsets.get(partitionKey(input.topic, partition));
      offsets.push({ topic: input.topic, partition, offset, metadata: previous?.metadata ?? '', commitTimestampMs: now });
    }
    if (!input.dryRun) {
      const again = this.groups.get(input.groupId);
      if (again && again.members.size > 0) {
        throw new BrookError('GROUP_NOT_EMPTY', `group ${input.groupId} gained members while its offsets were being reset`, { group: input.groupId });
      }
      const record: GroupRecord = { type: 'offsets', groupId: input.groupId, offsets };
      await this.writer.write([record], () => this.applyRecord(record));
    }
    return offsets;
  }

  async deleteGroup(groupId: string): Promise<void> {
    requireId('group_id', groupId);
    const group = this.requireGroup(groupId);
    if (group.members.size > 0) {
      throw new BrookError('GROUP_NOT_EMPTY', `group ${groupId} has ${group.members.size} active member(s); stop them (or wait for their sessions to expire) before deleting it`, { group: groupId });
    }
    const record: GroupRecord = { type: 'group-deleted', groupId };
    await this.writer.write([record], () => this.applyRecord(record));
  }

  // ---- reads ---------------------------------------------------------------------

  describeGroup(groupId: string): GroupDescription {
    requireId('group_id', groupId);
    const group = this.requireGroup(groupId);
    const members: MemberDescription[] = [...group.members.values()]
      .sort((a, b) => (a.memberId < b.memberId ? -1 : 1))
      .map((m) => ({
        memberId: m.memberId,
        instanceId: m.instanceId ?? '',
        memberEpoch: m.memberEpoch,
        topics: m.topics,
        assignment: assignmentOf(m.assigned.keys()),
        target: group.target.get(m.memberId) ?? new Map(),
        pendingRevocation: assignmentOf(m.pendingRevocation.keys()),
        owned: m.owned,
        sessionTimeoutMs: m.sessionTimeoutMs,
        lastHeartbeatMs: m.lastHeartbeatWallMs,
      }));
    const keys = new Set<PartitionKey>(group.offsets.keys());
    for (const topic of group.subscribedTopics()) {
      const count = this.metadata.partitionCount(topic) ?? 0;
      for (let p = 0; p < count; p++) keys.add(partitionKey(topic, p));
    }
    let totalLag = 0;
    const partitions = [...keys].sort(comparePartitionKeys).map((key): PartitionLag => {
      const { topic, partition } = parsePartitionKey(key);
      const committed = group.offsets.get(key);
      const bounds = this.metadata.partitionOffsets(topic, partition);
      let lag = 0;
      if (bounds) lag = Math.max(0, bounds.highWatermark - (committed ? committed.offset : bounds.logStartOffset));
      totalLag += lag;
      return {
        topic,
        partition,
        committedOffset: committed ? committed.offset : -1,
        highWatermark: bounds ? bounds.highWatermark : -1,
        lag,
        memberId: group.assigneeOf(key) ?? '',
        metadata: committed?.metadata ?? '',
      };
    });
    return { groupId, state: group.state, groupEpoch: group.groupEpoch, assignor: group.assignor, members, partitions, totalLag };
  }

  listGroups(): GroupSummary[] {
    return [...this.groups.values()]
      .sort((a, b) => (a.groupId < b.groupId ? -1 : 1))
      .map((g) => ({ groupId: g.groupId, state: g.state, memberCount: g.members.size }));
  }

  /** Full invariant check of every group (tests). */
  checkInvariants(): void {
    for (const group of this.groups.values()) group.checkInvariants();
  }

  // ---- internals -----------------------------------------------------------------

  private newMember(input: HeartbeatInput, sessionTimeoutMs: number, topics: readonly string[]): GroupMember {
    return {
      memberId: input.memberId || this.newMemberId(),
      instanceId: input.instanceId,
      memberEpoch: 0,
      previousMemberEpoch: 0,
      topics,
      sessionTimeoutMs,
      lastHeartbeatMonotonicMs: this.clock.monotonicMs(),
      lastHeartbeatWallMs: this.clock.nowMs(),
      assigned: new Map(),
      pendingRevocation: new Map(),
      owned: new Map(),
      state: 'stable',
    };
  }

  private removeMember(group: ConsumerGroup, member: GroupMember, reason: string): void {
    group.removeMember(member);
    this.logger?.info({ group: group.groupId, memberId: member.memberId, reason }, 'member removed from group');
    if (group.members.size === 0 && group.offsets.size === 0) {
      this.groups.delete(group.groupId);
      return;
    }
    group.bumpEpoch(this.partitionCounts(group.subscribedTopics()));
    group.checkInvariants();
  }

  private requireGroup(groupId: string): ConsumerGroup {
    const group = this.groups.get(groupId);
    if (!group) throw new BrookError('UNKNOWN_GROUP', `group ${groupId} does not exist`, { group: groupId });
    return group;
  }

  private requireMember(group: ConsumerGroup | undefined, groupId: string, memberId: string): GroupMember {
    const member = group?.members.get(memberId);
    if (member) return member;
    if (group?.fencedMembers.has(memberId)) {
      throw new BrookError('FENCED_INSTANCE_ID', `member ${memberId} of group ${groupId} was replaced by a newer member with the same instance id`, { group: groupId, memberId });
    }
    throw new BrookError('UNKNOWN_MEMBER_ID', `group ${groupId} has no member ${memberId || '(empty id)'}; rejoin with an empty member_id and member_epoch 0`, { group: groupId, memberId });
  }

  private checkCommitFencing(group: ConsumerGroup | undefined, groupId: string, memberId: string, epoch: number, offsets: readonly OffsetCommitInput[]): void {
    const member = this.requireMember(group, groupId, memberId);
    if (epoch > member.memberEpoch) {
      throw new BrookError('STALE_MEMBER_EPOCH', `member ${memberId} of group ${groupId} committed with epoch ${epoch}, newer than its current epoch ${member.memberEpoch}`, { group: groupId, memberId });
    }
    for (const o of offsets) {
      const key = partitionKey(o.topic, o.partition);
      const since = member.assigned.get(key) ?? member.pendingRevocation.get(key);
      if (since === undefined) {
        throw new BrookError('STALE_MEMBER_EPOCH', `member ${memberId} of group ${groupId} does not own ${o.topic}-${o.partition}; its commit is refused`, { group: groupId, memberId, topic: o.topic, partition: o.partition });
      }
      if (since > epoch) {
        throw new BrookError(
          'STALE_MEMBER_EPOCH',
          `member ${memberId} of group ${groupId} committed ${o.topic}-${o.partition} with epoch ${epoch}, but was given it only at epoch ${since}`,
          { group: groupId, memberId, topic: o.topic, partition: o.partition },
        );
      }
    }
  }

  private sessionTimeout(requested: number): number {
    if (requested === 0) return this.config.defaultSessionTimeoutMs;
    const { minSessionTimeoutMs: min, maxSessionTimeoutMs: max } = this.config;
    if (!Number.isInteger(requested) || requested < min || requested > max) {
      throw new BrookError(
        'INVALID_ARGUMENT',
        `session_timeout_ms ${requested} is outside [${min}, ${max}] (group.min.session.timeout.ms, group.max.session.timeout.ms); send 0 for the default ${this.config.defaultSessionTimeoutMs}`,
      );
    }
    return requested;
  }

  private partitionCounts(topics: readonly string[]): Map<string, number> {
    const counts = new Map<string, number>();
    for (const topic of topics) {
      const count = this.metadata.partitionCount(topic);
      if (count !== undefined) counts.set(topic, count);
    }
    return counts;
  }

  private applyRecord(record: GroupRecord): void {
    if (record.type === 'offsets') {
      let group = this.groups.get(record.groupId);
      if (!group) {
        group = new ConsumerGroup(record.groupId, this.config.defaultAssignor);
        this.groups.set(record.groupId, group);
      }
      for (const o of record.offsets) {
        const key = partitionKey(o.topic, o.partition);
        if (!group.offsets.has(key)) this.liveOffsetCount++;
        group.offsets.set(key, { topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata, commitTimestampMs: o.commitTimestampMs });
      }
      return;
    }
    const group = this.groups.get(record.groupId);
    if (!group) return;
    this.liveOffsetCount -= group.offsets.size;
    group.offsets.clear();
    // A member that joined while the deletion was being written keeps the group alive (its offsets are gone).
    if (group.members.size === 0) this.groups.delete(record.groupId);
  }

  private snapshotRecords(): GroupRecord[] {
    const records: GroupRecord[] = [];
    const chunk = this.config.snapshotChunkOffsets;
    for (const group of this.groups.values()) {
      const all = [...group.offsets.values()];
      for (let i = 0; i < all.length; i += chunk) records.push({ type: 'offsets', groupId: group.groupId, offsets: all.slice(i, i + chunk) });
    }
    return records;
  }
}

function findByInstance(group: ConsumerGroup, instanceId: string): GroupMember | undefined {
  for (const m of group.members.values()) if (m.instanceId === instanceId) return m;
  return undefined;
}

/**
 * A heartbeat one epoch behind is accepted when it is the retry of a request
 * whose response was lost: it carries the member's previous epoch and owns
 * nothing the member does not hold now.
 */
function isLostResponseRetry(member: GroupMember, epoch: number, owned: ReadonlySet<PartitionKey>): boolean {
  if (epoch !== member.previousMemberEpoch || epoch > member.memberEpoch) return false;
  for (const key of owned) if (!member.assigned.has(key) && !member.pendingRevocation.has(key)) return false;
  return true;
}

function requireId(field: string, value: string): void {
  if (value === '') throw new BrookError('INVALID_ARGUMENT', `${field} must not be empty`);
  if (value.length > MAX_ID_LENGTH) throw new BrookError('INVALID_ARGUMENT', `${field} is longer than ${MAX_ID_LENGTH} characters`);
}

function validateOffset(groupId: string, o: OffsetCommitInput): void {
  const where = { group: groupId, topic: o.topic, partition: o.partition };
  if (o.topic === '') throw new BrookError('INVALID_ARGUMENT', 'an offset commit names an empty topic', where);
  if (!Number.isInteger(o.partition) || o.partition < 0) throw new BrookError('INVALID_ARGUMENT', `partition ${o.partition} of ${o.topic} is not valid`, where);
  if (!Number.isSafeInteger(o.offset) || o.offset < 0) throw new BrookError('INVALID_ARGUMENT', `offset ${o.offset} for ${o.topic}-${o.partition} must be >= 0`, where);
  if ((o.metadata?.length ?? 0) > MAX_METADATA_LENGTH) {
    throw new BrookError('INVALID_ARGUMENT', `metadata for ${o.topic}-${o.partition} is longer than ${MAX_METADATA_LENGTH} characters`, where);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameCounts(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}
