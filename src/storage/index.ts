/**
 * Brook's storage engine: segmented partition logs of Kafka RecordBatch v2
 * bytes with sparse offset and time indexes, group-commit durability,
 * retention and crash recovery. The broker and the coordinator use only what
 * is exported here.
 */
export { LogManager, CLEAN_SHUTDOWN_FILE, MAX_PARTITIONS } from './log-manager';
export type { LogManagerOptions, TopicDescription, PartitionDescription } from './log-manager';
export { PartitionLog } from './partition-log';
export { ProducerIdManager, PRODUCER_IDS_FILE } from './producer-id-manager';
export type { ProducerIdAndEpoch } from './producer-id-manager';
export { ProducerStateManager, MAX_BATCHES_PER_PRODUCER } from './producer-state';
export type { AppendResult, ReadResult } from './partition-log';
export { DEFAULT_TOPIC_CONFIG, TOPIC_CONFIG_KEYS, parseTopicConfig, topicConfigToMap, MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES } from './topic-config';
export type { TopicConfig, FlushPolicy, TimestampType } from './topic-config';
export { validateTopicName, isInternalTopicName, INTERNAL_TOPIC_PREFIX } from './topic-name';
export { nodeFileSystem, timedFileSystem } from './file-system';
export type { StorageFileSystem, StorageFile } from './file-system';
export type { StorageLogger } from './logger';
