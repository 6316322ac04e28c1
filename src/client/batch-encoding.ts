/**
 * The client's side of RecordBatch v2: encoding a producer batch for the
 * `record_batch` fast path, and turning `raw` fetch bytes into records.
 * The byte layout and its primitives (header, CRC, varints) live in
 * src/record; the producer writes records with them as they arrive.
 */
import { BrookError } from '../common/errors';
import {
  BATCH_HEADER_SIZE,
  NO_PARTITION_LEADER_EPOCH,
  NO_PRODUCER_EPOCH,
  NO_PRODUCER_ID,
  NO_SEQUENCE,
  splitBatches,
  utf8Length,
  writeBatchCrc,
  writeBatchHeader,
  writeBytes,
  writeUtf8,
  visitRecords,
  type BatchSlice,
  type RecordVisitor,
} from '../record/record-batch';
import { sizeOfVarint, sizeOfVarlong, writeVarint, writeVarlong } from '../record/varint';
import type { ConsumedRecord, RecordHeader } from './types';

/** The idempotent-producer fields of a batch: who sent it and the sequence of its first record. */
export interface BatchIdentity {
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
}

/**
 * A producer batch encoded as records arrive: each append writes the record
 * straight into one growing buffer (after 61 bytes left for the header), so
 * the producer keeps no object per record and sealing the batch only writes
 * the header and the CRC. For 100-byte records: 150-180 ns per record
 * appended and sealed, against 225-240 ns to build a record object and
 * encode the batch with encodeRecordBatch at send time (9,500-record
 * batches); the larger win is the garbage not made (bench/README.md,
 * "Performance log — client").
 *
 * The buffer starts at `initialBytes` (the producer passes about the size of
 * the partition's previous batch, at least 256 B and at most 64 KiB: see
 * newBatch in producer.ts) and doubles when records outgrow it (at most one
 * extra copy per byte on average), so a producer writing to many partitions
 * does not hold `batchMaxBytes` per partition. Below 4 KiB it comes from
 * Node's shared Buffer pool; from POOLED_MIN_BYTES up it comes from, and
 * goes back to, the producer's BufferPool when one is given.
 *
 * `headroom` bytes are kept free before the batch, so that the request
 * carrying it can be written around it (`withPrefix`) without copying the
 * batch into a request buffer of its own.
 *
 * Record timestamps are stored as deltas from the batch's first record
 * (negative deltas are valid varlongs); offset deltas count from 0.
 */
export class BatchBuilder {
  private buffer: Buffer;
  /** Where the batch starts in `buffer`: the bytes before it are free for `withPrefix`. */
  private readonly start: number;
  private readonly pool: BufferPool | undefined;
  /** Encoded bytes so far, header included. */
  size = BATCH_HEADER_SIZE;
  count = 0;
  baseTimestamp = 0;
  maxTimestamp = 0;

  /**
   * `initialBytes`: the buffer's first size, headroom included. `buffer`: a
   * buffer to start in instead (from `pool`), at least that big.
   */
  constructor(initialBytes: number, options: { headroom?: number; pool?: BufferPool; buffer?: Buffer } = {}) {
    this.start = options.headroom ?? 0;
    this.pool = options.pool;
    const least = Math.max(this.start + BATCH_HEADER_SIZE + 64, initialBytes);
    this.buffer = options.buffer && options.buffer.length >= least ? options.buffer : Buffer.allocUnsafe(least);
  }

  /** Bytes `append` would add for this record. */
  static sizeOf(key: Buffer | null, value: Buffer | null, headers: readonly RecordHeader[] | null, timestampDelta: number, offsetDelta: number): number {
    const body = bodySize(key, value, headers, timestampDelta, offsetDelta);
    return sizeOfVarint(body) + body;
  }

  /** The timestamp delta the next record would get. */
  deltaOf(timestampMs: number): number {
    return this.count === 0 ? 0 : timestampMs - this.baseTimestamp;
  }

  /** Appends one record; returns the bytes it took. */
  append(key: Buffer | null, value: Buffer | null, headers: readonly RecordHeader[] | null, timestampMs: number): number {
    if (this.count === 0) {
      this.baseTimestamp = timestampMs;
      this.maxTimestamp = timestampMs;
    } else if (timestampMs > this.maxTimestamp) {
      this.maxTimestamp = timestampMs;
    }
    const timestampDelta = timestampMs - this.baseTimestamp;
    const offsetDelta = this.count;
    const body = bodySize(key, value, headers, timestampDelta, offsetDelta);
    const total = sizeOfVarint(body) + body;
    const end = this.size + total;
    if (this.start + end > this.buffer.length) this.grow(this.start + end);
    const buf = this.buffer;
    let position = writeVarint(buf, this.start + this.size, body);
    buf[position++] = 0; // record attributes
    position = timestampDelta === 0 ? ((buf[position] = 0), position + 1) : writeVarlong(buf, position, timestampDelta);
    position = writeVarint(buf, position, offsetDelta);
    position = writeBytes(buf, position, key);
    position = writeBytes(buf, position, value);
    if (headers === null || headers.length === 0) {
      buf[position++] = 0;
    } else {
      position = writeVarint(buf, position, headers.length);
      for (const header of headers) {
        const keyBytes = utf8Length(header.key);
        position = writeVarint(buf, position, keyBytes);
        position = writeUtf8(buf, position, header.key, keyBytes);
        position = writeBytes(buf, position, header.value);
      }
    }
    if (position !== this.start + end) throw new BrookError('INVARIANT_VIOLATION', `invariant violated: a record took ${position - this.start - this.size} bytes, sized at ${total}`);
    this.size = end;
    this.count++;
    return total;
  }

  private grow(atLeast: number): void {
    let length = this.buffer.length * 2;
    while (length < atLeast) length *= 2;
    // A pooled buffer only for a batch that is large itself: a small one would hold 1 MiB.
    const grown = (atLeast >= POOLED_MIN_BYTES ? this.pool?.take(atLeast) : undefined) ?? Buffer.allocUnsafe(length);
    this.buffer.copy(grown, this.start, this.start, this.start + this.size);
    this.pool?.give(this.buffer);
    this.buffer = grown;
  }

  /**
   * The batch's bytes with its header and CRC written for `identity` (or no
   * producer id). A view of the builder's buffer: sealing again (a new
   * sequence after an epoch bump) rewrites the same bytes.
   */
  seal(identity?: BatchIdentity): Buffer {
    const batch = this.buffer.subarray(this.start, this.start + this.size);
    writeBatchHeader(batch, {
      baseOffset: 0,
      partitionLeaderEpoch: NO_PARTITION_LEADER_EPOCH,
      attributes: 0,
      recordCount: this.count,
      baseTimestamp: this.baseTimestamp,
      maxTimestamp: this.maxTimestamp,
      producerId: identity ? identity.producerId : NO_PRODUCER_ID,
      producerEpoch: identity ? identity.producerEpoch : NO_PRODUCER_EPOCH,
      baseSequence: identity ? identity.baseSequence : NO_SEQUENCE,
    });
    writeBatchCrc(batch);
    return batch;
  }

  /**
   * `prefix` followed by the batch as sealed, in one buffer (the builder's:
   * `prefix` is written into the headroom), or undefined if the headroom is
   * too small for it.
   */
  withPrefix(prefix: Buffer): Buffer | undefined {
    if (prefix.length > this.start) return undefined;
    prefix.copy(this.buffer, this.start - prefix.length);
    return this.buffer.subarray(this.start - prefix.length, this.start + this.size);
  }

  /**
   * Done with: the buffer goes back to the pool for another batch. Any view
   * of it from `seal` or `withPrefix` must be out of use by then.
   */
  release(): void {
    if (this.buffer === EMPTY_BUFFER) return;
    this.pool?.give(this.buffer);
    this.buffer = EMPTY_BUFFER;
  }
}

const EMPTY_BUFFER = Buffer.alloc(0);

/** Buffers below this size are not pooled: they come from Node's allocator (small ones from its shared slab). */
export const POOLED_MIN_BYTES = 64 * 1024;

/**
 * Large batch buffers a producer reuses. A full 1 MiB batch otherwise costs a
 * fresh 1 MiB buffer (and the copies of growing into it), and V8 answers that
 * much new external memory per batch with extra garbage collections: the
 * W1 client did 35-37 mark-compacts per 3M records, 10 with the pool and the
 * request written around the batch (bench/README.md, "Performance log —
 * third pass").
 * Holds at most `maxBuffers`; a buffer is given back only when nothing views
 * it any more (its batch has settled).
 */
export class BufferPool {
  private readonly free: Buffer[] = [];

  constructor(private readonly maxBuffers: number) {}

  /** A pooled buffer of at least `bytes`, or undefined. */
  take(bytes: number): Buffer | undefined {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const buffer = this.free[i];
      if (buffer.length >= bytes) {
        this.free.splice(i, 1);
        return buffer;
      }
    }
    return undefined;
  }

  /** Keeps `buffer` for `take`; when full, in place of a smaller one (a batch's outgrown buffers are smaller). */
  give(buffer: Buffer): void {
    if (buffer.length < POOLED_MIN_BYTES) return;
    // Only a buffer that owns its memory: never part of Node's shared slab.
    if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== buffer.length) return;
    if (this.free.length < this.maxBuffers) {
      this.free.push(buffer);
      return;
    }
    let smallest = 0;
    for (let i = 1; i < this.free.length; i++) if (this.free[i].length < this.free[smallest].length) smallest = i;
    if (this.free[smallest].length < buffer.length) this.free[smallest] = buffer;
  }

  clear(): void {
    this.free.length = 0;
  }

  get size(): number {
    return this.free.length;
  }
}

function bodySize(key: Buffer | null, value: Buffer | null, headers: readonly RecordHeader[] | null, timestampDelta: number, offsetDelta: number): number {
  // attributes, timestamp delta, offset delta
  let body = 1 + (timestampDelta === 0 ? 1 : sizeOfVarlong(timestampDelta)) + sizeOfVarint(offsetDelta);
  body += key === null ? 1 : sizeOfVarint(key.length) + key.length;
  body += value === null ? 1 : sizeOfVarint(value.length) + value.length;
  if (headers === null || headers.length === 0) return body + 1;
  body += sizeOfVarint(headers.length);
  for (const header of headers) {
    const keyBytes = utf8Length(header.key);
    body += sizeOfVarint(keyBytes) + keyBytes + (header.value === null ? 1 : sizeOfVarint(header.value.length) + header.value.length);
  }
  return body;
}

/**
 * Decodes the batches of a `raw` fetch reply (as split by `splitBatches`;
 * split here when not given), keeping the records at or after `fromOffset`
 * (the first batch may start before it) and below `toOffset`. A batch cut
 * off at the end of the reply is not among them; the next fetch starts
 * after the last record returned. Keys and values are Buffers viewing the
 * reply (no copy); records without headers share one frozen empty array.
 *
 * Each record is one object made straight from the fields `visitRecords`
 * hands over; a record outside the range costs no allocation. A 1 MiB reply
 * of 100-byte records (9,520 of them) decodes in ~1.0 ms with ~235 bytes of
 * garbage per record (the record, its timestamp, the value's view), against
 * ~1.9 ms and ~270 bytes through forEachRecord with a headers array per record.
 */
export function decodeFetchedBatches(
  bytes: Buffer,
  topic: string,
  partition: number,
  fromOffset: number,
  toOffset = Number.POSITIVE_INFINITY,
  batches: readonly BatchSlice[] = bytes.length === 0 ? [] : splitBatches(bytes, 0).batches,
): ConsumedRecord[] {
  const out: ConsumedRecord[] = [];
  const visit: RecordVisitor = (offset, timestampMs, key, value, headers) => {
    out.push(new DecodedRecord(topic, partition, offset, timestampMs, key, value, headers));
  };
  const range = { fromOffset, toOffset };
  for (const { position, header } of batches) {
    if (header.lastOffset < fromOffset) continue;
    if (header.baseOffset >= toOffset) break;
    visitRecords(bytes, position, visit, range);
  }
  return out;
}

/**
 * A decoded record. A class rather than an object literal: V8 tracks the
 * objects an object literal makes and, when most of them outlive a young
 * collection, allocates that literal's later objects straight in the old
 * generation, for good. W2 decodes 1 MiB replies (thousands of records
 * alive at once), which tipped the literal that way in 2 of 4 runs of
 * `node --trace-gc dist/bench/client-profile.js --only w1,w2,w4`: in the
 * W4 after it, the old generation grew 1.6 MB per young collection, with a
 * mark-compact about every second, and W4's p99 was 6.9 and 8.2 ms (4.7 and
 * 5.0 ms in the other two). With this class, 0 of 5 runs grew so (p99
 * 5.3–7.4 ms). Objects made by a constructor are not tracked that way.
 * Named after the type it implements, which is how it prints.
 */
const DecodedRecord = class ConsumedRecord {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly offset: number,
    readonly timestampMs: number,
    readonly key: Buffer | null,
    readonly value: Buffer | null,
    readonly headers: readonly RecordHeader[],
  ) {}
};

/** The offset after the last complete batch of a raw fetch reply, or -1 when it holds none. */
export function offsetAfter(batches: readonly BatchSlice[]): number {
  return batches.length === 0 ? -1 : batches[batches.length - 1].header.lastOffset + 1;
}
