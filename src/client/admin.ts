/**
 * Topic and group administration: one method per Admin or Groups RPC, with
 * plain arguments in and the broker's descriptions out.
 */
import type { pb } from '../protocol';
import { Connection } from './connection';
import type { ConnectionOptions } from './options';
import { resolveOffset, type StartPosition } from './partition-reader';

export type TopicDescription = pb.TopicDescription__Output;
export type GroupDescription = pb.DescribeGroupResponse__Output;
export type GroupSummary = pb.GroupSummary__Output;
export type CommittedOffset = pb.CommittedOffset__Output;

/** Where ResetOffsets moves a group's committed offsets. */
export type ResetTarget = 'earliest' | 'latest' | { offset: number } | { timestampMs: number };

export class Admin {
  readonly connection: Connection;
  private readonly ownsConnection: boolean;

  /** Uses `connection`, or makes (and later closes) its own from connection options. */
  constructor(connection: Connection | Partial<ConnectionOptions> = {}) {
    this.ownsConnection = !(connection instanceof Connection);
    this.connection = connection instanceof Connection ? connection : new Connection(connection);
  }

  /** Creates a topic; without `partitions` the broker's `num.partitions` applies. */
  async createTopic(name: string, options: { partitions?: number; config?: Record<string, string> } = {}): Promise<TopicDescription> {
    const response = await this.connection.createTopic({ name, partitions: options.partitions ?? 0, config: options.config ?? {} });
    return response.topic!;
  }

  async deleteTopic(name: string): Promise<void> {
    await this.connection.deleteTopic({ name });
  }

  async listTopics(options: { includeInternal?: boolean } = {}): Promise<TopicDescription[]> {
    return (await this.connection.listTopics({ includeInternal: options.includeInternal ?? false })).topics;
  }

  async describeTopic(name: string): Promise<TopicDescription> {
    return (await this.connection.describeTopic({ name })).topic!;
  }

  async alterTopicConfig(name: string, set: Record<string, string>, deleteKeys: string[] = []): Promise<TopicDescription> {
    return (await this.connection.alterTopicConfig({ name, config: set, deleteKeys })).topic!;
  }

  async createPartitions(name: string, count: number): Promise<TopicDescription> {
    return (await this.connection.createPartitions({ name, count })).topic!;
  }

  /** The offset of a position in one partition (log start, high watermark, or first at/after a time). */
  offsetFor(topic: string, partition: number, position: StartPosition): Promise<number> {
    return resolveOffset(this.connection, topic, partition, position);
  }

  async listGroups(): Promise<GroupSummary[]> {
    return (await this.connection.listGroups({})).groups;
  }

  describeGroup(groupId: string): Promise<GroupDescription> {
    return this.connection.describeGroup({ groupId });
  }

  async deleteGroup(groupId: string): Promise<void> {
    await this.connection.deleteGroup({ groupId });
  }

  async fetchOffsets(groupId: string, topics: string[] = []): Promise<CommittedOffset[]> {
    return (await this.connection.fetchOffsets({ groupId, topics })).offsets;
  }

  /** Commits offsets for a group that has no members (standalone consumers). */
  async commitOffsets(groupId: string, offsets: Array<{ topic: string; partition: number; offset: number; metadata?: string }>): Promise<void> {
    await this.connection.commitOffsets({ groupId, memberId: '', memberEpoch: 0, offsets });
  }

  /** Moves a member-less group's committed offsets for `topic` (all partitions unless listed). */
  async resetOffsets(groupId: string, topic: string, to: ResetTarget, options: { partitions?: number[]; dryRun?: boolean } = {}): Promise<CommittedOffset[]> {
    const request: pb.ResetOffsetsRequest = { groupId, topic, partitions: options.partitions ?? [], dryRun: options.dryRun ?? false };
    if (to === 'earliest') request.to = 'RESET_TO_EARLIEST';
    else if (to === 'latest') request.to = 'RESET_TO_LATEST';
    else if ('offset' in to) Object.assign(request, { to: 'RESET_TO_OFFSET', offset: to.offset });
    else Object.assign(request, { to: 'RESET_TO_TIMESTAMP', timestampMs: to.timestampMs });
    return (await this.connection.resetOffsets(request)).offsets;
  }

  close(): void {
    if (this.ownsConnection) this.connection.close();
  }
}
