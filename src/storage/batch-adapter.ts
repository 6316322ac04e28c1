/**
 * TEMPORARY: reads the fixed RecordBatch v2 header fields the storage engine
 * needs until src/record exports its codec; to be replaced by imports from
 * '../record'. Not a codec: no records are encoded or decoded here.
 */
import { BrookError } from '../common/errors';
import { crc32c } from '../record/crc32c';

export const BATCH_HEADER_SIZE = 61;
export const LOG_OVERHEAD = 12;
const LENGTH_OFFSET = 8;
const MAGIC_OFFSET = 16;
const CRC_OFFSET = 17;
const ATTRIBUTES_OFFSET = 21;
const LAST_OFFSET_DELTA_OFFSET = 23;
const MAX_TIMESTAMP_OFFSET = 35;
const RECORDS_COUNT_OFFSET = 57;

export interface BatchHeader {
  baseOffset: number;
  batchLength: number;
  sizeInBytes: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  maxTimestamp: number;
  recordCount: number;
  lastOffset: number;
}

export function readBatchHeader(buf: Buffer, position = 0): BatchHeader {
  const baseOffset = Number(buf.readBigInt64BE(position));
  const batchLength = buf.readInt32BE(position + LENGTH_OFFSET);
  const lastOffsetDelta = buf.readInt32BE(position + LAST_OFFSET_DELTA_OFFSET);
  return {
    baseOffset,
    batchLength,
    sizeInBytes: batchLength + LOG_OVERHEAD,
    magic: buf.readInt8(position + MAGIC_OFFSET),
    crc: buf.readUInt32BE(position + CRC_OFFSET),
    attributes: buf.readInt16BE(position + ATTRIBUTES_OFFSET),
    lastOffsetDelta,
    maxTimestamp: Number(buf.readBigInt64BE(position + MAX_TIMESTAMP_OFFSET)),
    recordCount: buf.readInt32BE(position + RECORDS_COUNT_OFFSET),
    lastOffset: baseOffset + lastOffsetDelta,
  };
}

export function validateRecordBatch(buf: Buffer, position = 0, length = buf.length - position): BatchHeader {
  if (length < BATCH_HEADER_SIZE) throw new BrookError('CORRUPT_RECORD_BATCH', `record batch of ${length} bytes is shorter than the ${BATCH_HEADER_SIZE}-byte header`);
  const h = readBatchHeader(buf, position);
  if (h.magic !== 2) throw new BrookError('CORRUPT_RECORD_BATCH', `record batch magic is ${h.magic}, expected 2`);
  if (h.sizeInBytes !== length) throw new BrookError('CORRUPT_RECORD_BATCH', `record batch length field says ${h.sizeInBytes} bytes, got ${length}`);
  const crc = crc32c(buf, position + ATTRIBUTES_OFFSET, position + length);
  if (crc !== h.crc) throw new BrookError('CORRUPT_RECORD_BATCH', 'record batch CRC mismatch');
  if (h.recordCount !== h.lastOffsetDelta + 1) throw new BrookError('CORRUPT_RECORD_BATCH', 'record batch count mismatch');
  return h;
}

export function stampBaseOffset(buf: Buffer, position: number, baseOffset: number): void {
  buf.writeBigInt64BE(BigInt(baseOffset), position);
}

export function crc32cOf(buf: Buffer, start: number, end: number): number {
  return crc32c(buf, start, end);
}
