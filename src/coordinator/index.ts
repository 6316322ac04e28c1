/** The coordinator's public surface: what src/server composes. */
export { GroupCoordinator, TEMPORARY_LEAVE_EPOCH } from './group-coordinator';
export type {
  GroupCoordinatorOptions,
  CoordinatorLogger,
  HeartbeatInput,
  HeartbeatResult,
  OffsetCommitInput,
  MemberDescription,
  PartitionLag,
  GroupDescription,
  GroupSummary,
  ResetTarget,
  ResetOffsetsInput,
  TopicPartitionsInput,
} from './group-coordinator';
export { COORDINATOR_DEFAULTS, validateCoordinatorConfig } from './coordinator-config';
export type { CoordinatorConfig } from './coordinator-config';
export type { OffsetStore, GroupRecord, CommittedOffsetRecord } from './offset-store-interface';
export type { TopicMetadata, PartitionOffsets } from './topic-metadata-interface';
export type { CommittedOffset, GroupState } from './consumer-group';
export { assignmentToList, type Assignment } from './assignment';
export { ASSIGNOR_NAMES, type AssignorName } from './assignor-interface';
export { entryCount } from './offset-writer';
