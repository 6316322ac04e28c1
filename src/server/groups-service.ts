/**
 * brook.v1.Groups: consumer groups, served by the GroupCoordinator. This
 * layer checks request fields (naming them), converts between wire messages
 * and the coordinator's types, and leaves every rule about groups to the
 * coordinator; errors travel as BrookErrors through the server's one
 * error-to-status mapping.
 */
import type * as grpc from '@grpc/grpc-js';
import { BrookError } from '../common/errors';
import { assignmentToList, type Assignment, type CommittedOffset, type GroupCoordinator, type ResetTarget } from '../coordinator';
import type { pb } from '../protocol';
import { unary } from './grpc-server';
import { fieldError, requireInt, requireOffset, requirePartition, requireTopic } from './validate';

const RESET_TARGETS: Record<string, ResetTarget> = {
  RESET_TO_EARLIEST: 'earliest',
  RESET_TO_LATEST: 'latest',
  RESET_TO_OFFSET: 'offset',
  RESET_TO_TIMESTAMP: 'timestamp',
};

function requireGroupId(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw fieldError('group_id', value, 'a non-empty group id');
  return value;
}

function requireEpoch(value: unknown): number {
  return requireInt('member_epoch', value, -2, 2 ** 31 - 1);
}

function topicPartitionsIn(field: string, list: pb.TopicPartitions__Output[]): { topic: string; partitions: number[] }[] {
  return list.map((tp) => ({ topic: requireTopic(`${field}.topic`, tp.topic), partitions: tp.partitions.map((p) => requirePartition(p)) }));
}

function toWire(assignment: Assignment): pb.TopicPartitions[] {
  return assignmentToList(assignment);
}

function committedToWire(o: CommittedOffset): pb.CommittedOffset {
  return { topic: o.topic, partition: o.partition, offset: o.offset, metadata: o.metadata, commitTimestampMs: o.commitTimestampMs };
}

export function createGroupsService(coordinator: GroupCoordinator): grpc.UntypedServiceImplementation {
  return {
    Heartbeat: unary(async (request: pb.HeartbeatRequest__Output): Promise<pb.HeartbeatResponse> => {
      const result = coordinator.heartbeat({
        groupId: requireGroupId(request.groupId),
        memberId: request.memberId,
        memberEpoch: requireInt('member_epoch', request.memberEpoch, 0, 2 ** 31 - 1),
        instanceId: request.instanceId,
        topics: request.topics.map((t, i) => requireTopic(`topics[${i}]`, t)),
        owned: topicPartitionsIn('owned', request.owned),
        sessionTimeoutMs: requireInt('session_timeout_ms', request.sessionTimeoutMs, 0),
        assignor: request.assignor,
      });
      return {
        memberId: result.memberId,
        memberEpoch: result.memberEpoch,
        heartbeatIntervalMs: result.heartbeatIntervalMs,
        assignment: toWire(result.assignment),
      };
    }),

    Leave: unary(async (request: pb.LeaveRequest__Output): Promise<pb.LeaveResponse> => {
      coordinator.leave(requireGroupId(request.groupId), request.memberId, requireEpoch(request.memberEpoch));
      return {};
    }),

    CommitOffsets: unary(async (request: pb.CommitOffsetsRequest__Output): Promise<pb.CommitOffsetsResponse> => {
      const offsets = request.offsets.map((o, i) => ({
        topic: requireTopic(`offsets[${i}].topic`, o.topic),
        partition: requirePartition(o.partition),
        offset: requireOffset(`offsets[${i}].offset`, o.offset),
        metadata: o.metadata,
      }));
      await coordinator.commitOffsets(requireGroupId(request.groupId), request.memberId, requireEpoch(request.memberEpoch), offsets);
      return {};
    }),

    FetchOffsets: unary(async (request: pb.FetchOffsetsRequest__Output): Promise<pb.FetchOffsetsResponse> => {
      const offsets = coordinator.fetchOffsets(requireGroupId(request.groupId), request.topics);
      return { offsets: offsets.map(committedToWire) };
    }),

    DescribeGroup: unary(async (request: pb.DescribeGroupRequest__Output): Promise<pb.DescribeGroupResponse> => {
      const d = coordinator.describeGroup(requireGroupId(request.groupId));
      return {
        groupId: d.groupId,
        state: d.state,
        groupEpoch: d.groupEpoch,
        assignor: d.assignor,
        members: d.members.map((m) => ({
          memberId: m.memberId,
          instanceId: m.instanceId,
          memberEpoch: m.memberEpoch,
          topics: [...m.topics],
          assignment: toWire(m.assignment),
          owned: toWire(m.owned),
          sessionTimeoutMs: m.sessionTimeoutMs,
          lastHeartbeatMs: m.lastHeartbeatMs,
        })),
        partitions: d.partitions.map((p) => ({ ...p })),
        totalLag: d.totalLag,
      };
    }),

    ListGroups: unary(async (): Promise<pb.ListGroupsResponse> => ({ groups: coordinator.listGroups().map((g) => ({ ...g })) })),

    DeleteGroup: unary(async (request: pb.DeleteGroupRequest__Output): Promise<pb.DeleteGroupResponse> => {
      await coordinator.deleteGroup(requireGroupId(request.groupId));
      return {};
    }),

    ResetOffsets: unary(async (request: pb.ResetOffsetsRequest__Output): Promise<pb.ResetOffsetsResponse> => {
      const to = RESET_TARGETS[request.to];
      if (!to) throw new BrookError('INVALID_ARGUMENT', `invalid to ${String(request.to)}: expected one of ${Object.keys(RESET_TARGETS).join(', ')}`);
      const offsets = await coordinator.resetOffsets({
        groupId: requireGroupId(request.groupId),
        topic: requireTopic('topic', request.topic),
        partitions: request.partitions.map((p) => requirePartition(p)),
        to,
        offset: to === 'offset' ? requireOffset('offset', request.offset) : undefined,
        timestampMs: to === 'timestamp' ? requireInt('timestamp_ms', request.timestampMs, 0) : undefined,
        dryRun: request.dryRun,
      });
      return { offsets: offsets.map(committedToWire) };
    }),
  };
}
