/**
 * Brook's TypeScript SDK — the package's library entry.
 *
 *   import { Producer, Consumer, PartitionReader, Admin, Connection } from 'brook';
 *
 * Everything a user needs is exported here; other files under src/client
 * are internal.
 */
export { Connection } from './connection';
export { Producer } from './producer';
export { Consumer } from './consumer';
export type { ConsumerHooks, PartitionsHook } from './consumer';
export { PartitionReader, resolveOffset } from './partition-reader';
export type { StartPosition, FetchResult } from './partition-reader';
export { Admin } from './admin';
export type { TopicDescription, GroupDescription, GroupSummary, CommittedOffset, ResetTarget } from './admin';
export { BrookError, isBrookError, toBrookError, describeError } from './errors';
export type { ErrorCode, ErrorContext } from './errors';
export {
  defaultConnectionOptions,
  defaultProducerOptions,
  defaultConsumerOptions,
  defaultReaderOptions,
  defaultRetryOptions,
} from './options';
export type { ConnectionOptions, ProducerOptions, ConsumerOptions, ReaderOptions, ReaderMode, RetryOptions, AcksMode, OffsetReset } from './options';
export type { Bytes, ProducerRecord, RecordMetadata, ConsumedRecord, RecordHeader, TopicPartition } from './types';
