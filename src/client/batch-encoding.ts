/**
 * The client's side of RecordBatch v2: encoding a producer batch for the
 * `record_batch` fast path, and turning `raw` fetch bytes into records.
 * The codec itself lives in src/record; this file only adapts it.
 */
import { BATCH_HEADER_SIZE, forEachRecord, splitBatches, encodeRecordBatch } from '../record/record-batch';
import type { ConsumedRecord, RecordHeader } from './types';

/** A producer record after normalisation: bytes and a timestamp. */
export interface OutgoingRecord {
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
  timestampMs: number;
}

/** The fixed 61-byte batch header (base offset, length, epoch, magic, CRC, ... record count). */
export const BATCH_OVERHEAD_BYTES = BATCH_HEADER_SIZE;

/**
 * Upper estimate of the bytes a record takes inside a batch: its payload plus
 * at most 21 bytes of varint framing (length, attributes, timestamp delta,
 * offset delta, key and value lengths, header count) for records under 2 MiB.
 */
export function estimateRecordBytes(record: OutgoingRecord): number {
  let bytes = 21 + (record.key?.length ?? 0) + (record.value?.length ?? 0);
  for (const header of record.headers) bytes += 10 + Buffer.byteLength(header.key) + (header.value?.length ?? 0);
  return bytes;
}

/** The idempotent-producer fields of a batch: who sent it and the sequence of its first record. */
export interface BatchIdentity {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

export function encodeBatch(records: readonly OutgoingRecord[], identity?: BatchIdentity): Buffer {
  let baseTimestampMs = records[0]?.timestampMs ?? Date.now();
  for (const r of records) if (r.timestampMs < baseTimestampMs) baseTimestampMs = r.timestampMs;
  return encodeRecordBatch(records, identity ? { baseTimestampMs, ...identity } : { baseTimestampMs });
}

/**
 * Decodes the batches of a `raw` fetch reply, keeping the records at or after
 * `fromOffset` (the first batch may start before it) and below `toOffset`.
 * A batch cut off at the end of the reply is ignored; the next fetch starts
 * at the offset after the last record returned.
 */
export function decodeFetchedBatches(
  bytes: Buffer,
  topic: string,
  partition: number,
  fromOffset: number,
  toOffset = Number.POSITIVE_INFINITY,
): ConsumedRecord[] {
  const out: ConsumedRecord[] = [];
  if (bytes.length === 0) return out;
  const { batches } = splitBatches(bytes, 0);
  for (const { position, header } of batches) {
    if (header.lastOffset < fromOffset) continue;
    if (header.baseOffset >= toOffset) break;
    forEachRecord(bytes, position, (r) => {
      if (r.offset >= fromOffset && r.offset < toOffset) {
        out.push({ topic, partition, offset: r.offset, timestampMs: r.timestampMs, key: r.key, value: r.value, headers: r.headers });
      }
    });
  }
  return out;
}
