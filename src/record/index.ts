/**
 * Kafka RecordBatch v2: the byte format Brook's producers send, its segments
 * store and its fetches return. Every other area encodes and decodes through
 * this module. The layout is specified at the top of record-batch.ts.
 */
export {
  BATCH_HEADER_SIZE,
  LOG_OVERHEAD,
  MIN_BATCH_LENGTH,
  BASE_OFFSET_OFFSET,
  LENGTH_OFFSET,
  PARTITION_LEADER_EPOCH_OFFSET,
  MAGIC_OFFSET,
  CRC_OFFSET,
  ATTRIBUTES_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  BASE_TIMESTAMP_OFFSET,
  MAX_TIMESTAMP_OFFSET,
  PRODUCER_ID_OFFSET,
  PRODUCER_EPOCH_OFFSET,
  BASE_SEQUENCE_OFFSET,
  RECORDS_COUNT_OFFSET,
  MAGIC_V2,
  COMPRESSION_CODEC_MASK,
  TIMESTAMP_TYPE_MASK,
  TRANSACTIONAL_FLAG_MASK,
  CONTROL_FLAG_MASK,
  DELETE_HORIZON_FLAG_MASK,
  CompressionCodec,
  NO_PRODUCER_ID,
  NO_PRODUCER_EPOCH,
  NO_SEQUENCE,
  NO_PARTITION_LEADER_EPOCH,
  NO_TIMESTAMP,
  encodeRecordBatch,
  readBatchHeader,
  validateRecordBatch,
  decodeRecordBatch,
  forEachRecord,
  splitBatches,
  stampBaseOffset,
  setLogAppendTime,
  writeBatchHeader,
  writeBatchCrc,
  isUtf8Range,
} from './record-batch';
export type {
  TimestampType,
  RecordHeader,
  RecordInput,
  DecodedRecord,
  BatchHeader,
  EncodeOptions,
  DecodeOptions,
  BatchSlice,
  PartialBatch,
  BatchHeaderFields,
} from './record-batch';
export { crc32c } from './crc32c';
export {
  sizeOfVarint,
  sizeOfVarlong,
  writeVarint,
  writeVarlong,
  readVarint,
  readVarlong,
} from './varint';
export type { Cursor } from './varint';
