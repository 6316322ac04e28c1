/**
 * brook.v1.Admin: topic administration. Storage validates names and config
 * keys (INVALID_TOPIC_NAME / INVALID_CONFIG naming the key); this layer adds
 * what only a network boundary needs: field checks, the broker's default
 * partition count, and refusing client changes to internal topics.
 */
import type * as grpc from '@grpc/grpc-js';
import { BrookError } from '../common/errors';
import type { pb } from '../protocol';
import { MAX_PARTITIONS, topicConfigToMap } from '../storage';
import type { BrokerContext } from './broker-context';
import { unary } from './grpc-server';
import type { TopicState } from './store-interface';
import { fieldError, requireInt, requireTopic } from './validate';

export function toTopicDescription(topic: TopicState): pb.TopicDescription {
  return {
    name: topic.name,
    partitionCount: topic.partitionCount,
    config: topicConfigToMap(topic.config),
    overrides: { ...topic.overrides },
    internal: topic.internal,
    createdAtMs: topic.createdAtMs,
    partitions: (topic.partitions ?? []).map((p) => ({
      partition: p.partition,
      logStartOffset: p.logStartOffset,
      highWatermark: p.highWatermark,
      logEndOffset: p.logEndOffset,
      sizeBytes: p.sizeBytes,
      segmentCount: p.segmentCount,
    })),
  };
}

function requireConfigMap(field: string, value: unknown): Record<string, string> {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object') throw fieldError(field, value, 'a map of config keys to string values');
  return value as Record<string, string>;
}

function requirePartitionCount(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_PARTITIONS) {
    throw new BrookError('INVALID_PARTITIONS', `invalid ${field} ${String(value)}: expected an integer in [${min}, ${MAX_PARTITIONS}]`);
  }
  return value;
}

export function createAdminService(context: BrokerContext): grpc.UntypedServiceImplementation {
  const { store, config } = context;

  return {
    CreateTopic: unary(async (request: pb.CreateTopicRequest__Output): Promise<pb.CreateTopicResponse> => {
      const name = requireTopic('name', request.name, { forWrite: true });
      const partitions = request.partitions === 0 ? config.numPartitions : requirePartitionCount('partitions', request.partitions, 1);
      const created = await store.createTopic(name, partitions, requireConfigMap('config', request.config));
      return { topic: toTopicDescription(await store.describeTopic(created.name)) };
    }),

    DeleteTopic: unary(async (request: pb.DeleteTopicRequest__Output): Promise<pb.DeleteTopicResponse> => {
      await store.deleteTopic(requireTopic('name', request.name, { forWrite: true }));
      return {};
    }),

    ListTopics: unary(async (request: pb.ListTopicsRequest__Output): Promise<pb.ListTopicsResponse> => {
      const topics = await store.listTopics({ includeInternal: request.includeInternal });
      return { topics: [...topics].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((t) => toTopicDescription({ ...t, partitions: [] })) };
    }),

    DescribeTopic: unary(async (request: pb.DescribeTopicRequest__Output): Promise<pb.DescribeTopicResponse> => {
      return { topic: toTopicDescription(await store.describeTopic(requireTopic('name', request.name))) };
    }),

    AlterTopicConfig: unary(async (request: pb.AlterTopicConfigRequest__Output): Promise<pb.AlterTopicConfigResponse> => {
      const name = requireTopic('name', request.name, { forWrite: true });
      const set = requireConfigMap('config', request.config);
      if (Object.keys(set).length === 0 && request.deleteKeys.length === 0) {
        throw new BrookError('INVALID_CONFIG', 'nothing to change: give config keys to set or delete_keys to reset', { topic: name });
      }
      await store.alterTopicConfig(name, set, request.deleteKeys);
      return { topic: toTopicDescription(await store.describeTopic(name)) };
    }),

    CreatePartitions: unary(async (request: pb.CreatePartitionsRequest__Output): Promise<pb.CreatePartitionsResponse> => {
      const name = requireTopic('name', request.name, { forWrite: true });
      const count = requireInt('count', request.count, 1, MAX_PARTITIONS);
      await store.createPartitions(name, count);
      return { topic: toTopicDescription(await store.describeTopic(name)) };
    }),
  };
}
