/**
 * The broker's own decoder for `brook.v1.ProduceRequest`, used instead of
 * protobufjs for the Produce RPC so that the `records` form becomes a
 * RecordBatch v2 without a JavaScript object per record.
 *
 * Why: for 1000 records of 100 bytes (keyed), protobufjs's decode builds
 * 1000 Record objects, 2000 Buffers and 1000 header arrays (~250 µs CPU on
 * this machine), the handler then mapped them to encoder inputs and encoded
 * the batch (~215 µs more) — ~0.47 µs per record before any storage work,
 * and garbage the collector paid for again. Here one pass over the wire bytes
 * records where each field sits (typed arrays, 6 int32 per record + one
 * float64 timestamp, 4 int32 per header), and `encodeBatch` copies keys,
 * values and header bytes straight from the request into the batch.
 *
 * Wire format (proto3, see protos/brook/v1/log.proto), tag = field << 3 | type:
 *
 *   ProduceRequest  1 topic string   2 partition int32 (optional)
 *                   3 records Record (repeated, LEN)   4 acks enum
 *                   5 record_batch bytes
 *   Record          1 key bytes (optional)   2 value bytes (optional)
 *                   3 headers Header (repeated, LEN)   4 timestamp_ms int64
 *   Header          1 key string   2 value bytes (optional)
 *
 * As protobuf requires: fields may come in any order, a repeated scalar
 * field's last occurrence wins, unknown fields are skipped. An absent
 * optional key/value is null; a present empty one is an empty key/value
 * (varint -1 vs 0 in the batch). Header keys are copied as their UTF-8 bytes
 * (the same bytes a RecordBatch stores); a key that is not valid UTF-8 makes
 * the request malformed, as a strict proto3 decoder would. Malformed wire bytes do not throw in
 * the deserializer (grpc-js would answer INTERNAL): `malformed` says what is
 * wrong and the handler answers INVALID_ARGUMENT.
 *
 * Keys, values and `recordBatch` are views into the request's buffer; the
 * handler uses them before replying, which is all grpc-js allows anyway.
 */
import type { pb } from '../protocol';
import * as record from '../record';
import type { TimestampType } from '../record';

// Local bindings: a named import from a re-exporting index compiles (CommonJS)
// to a property getter read on every call — 12% of encodeBatch's time in a
// profile of 1000-record batches. Read once here instead.
const { BATCH_HEADER_SIZE, NO_PARTITION_LEADER_EPOCH, NO_PRODUCER_EPOCH, NO_PRODUCER_ID, NO_SEQUENCE, TIMESTAMP_TYPE_MASK } = record;
const { isUtf8Range, sizeOfVarint, sizeOfVarlong, writeBatchCrc, writeBatchHeader, writeVarint, writeVarlong } = record;

const ACKS_BY_NUMBER: readonly pb.Acks[] = ['ACKS_LEADER', 'ACKS_ALL', 'ACKS_NONE'];
const EMPTY = Buffer.alloc(0);
const TWO_POW_32 = 0x100000000;

/** Slots per record in `WireRecords.fields`. */
const KEY_START = 0;
const KEY_LENGTH = 1; // -1: null
const VALUE_START = 2;
const VALUE_LENGTH = 3; // -1: null
const HEADER_FIRST = 4;
const HEADER_COUNT = 5;
const RECORD_SLOTS = 6;
/** Slots per header in `WireRecords.headers`: key start, key length, value start, value length (-1: null). */
const HEADER_SLOTS = 4;

/** A decoded ProduceRequest: the scalar fields, and the records as positions in the wire bytes. */
export interface ProduceRequestView {
  readonly topic: string;
  readonly partition: number | undefined;
  readonly acks: pb.Acks;
  readonly recordBatch: Buffer;
  readonly records: WireRecords;
  /** Why the wire bytes are not a valid ProduceRequest, if they are not. */
  readonly malformed: string | undefined;
  /** The request's size on the wire. */
  readonly wireBytes: number;
}

/** The `records` of a ProduceRequest, left in the request's bytes. */
export class WireRecords {
  /** The request bytes as a plain Uint8Array: its subarray() is cheaper than Buffer's (FastBuffer construction). */
  private readonly bytes: Uint8Array;

  constructor(
    private readonly wire: Buffer,
    readonly count: number,
    private readonly fields: Int32Array,
    private readonly timestamps: Float64Array,
    private readonly headers: Int32Array,
  ) {
    this.bytes = new Uint8Array(wire.buffer, wire.byteOffset, wire.length);
  }

  timestampMs(i: number): number {
    return this.timestamps[i];
  }

  /** The key of record `i` (a view), or null. Allocates: only for routing by key. */
  key(i: number): Buffer | null {
    const length = this.fields[i * RECORD_SLOTS + KEY_LENGTH];
    if (length < 0) return null;
    const start = this.fields[i * RECORD_SLOTS + KEY_START];
    return this.wire.subarray(start, start + length);
  }

  /**
   * Encodes records `indexes` (all, in order, when null) as one uncompressed
   * RecordBatch v2 with base offset 0, exactly as `encodeRecordBatch` would
   * from the decoded records: timestamp 0 means `baseTimestampMs`; under
   * LogAppendTime the batch's max timestamp is `baseTimestampMs`.
   */
  encodeBatch(indexes: readonly number[] | null, baseTimestampMs: number, timestampType: TimestampType): Buffer {
    const { fields, timestamps, headers, bytes: wire } = this;
    const count = indexes === null ? this.count : indexes.length;
    if (scratchBodySizes.length < count) scratchBodySizes = new Int32Array(Math.max(count, scratchBodySizes.length * 2));
    const bodySizes = scratchBodySizes;

    // Pass 1: timestamps and exact sizes. Timestamp 0 means "broker time".
    const first = count === 0 ? -1 : indexes === null ? 0 : indexes[0];
    const baseTimestamp = count === 0 ? -1 : timestamps[first] === 0 ? baseTimestampMs : timestamps[first];
    let maxTimestamp = baseTimestamp;
    let size = BATCH_HEADER_SIZE;
    for (let j = 0; j < count; j++) {
      const i = indexes === null ? j : indexes[j];
      const timestamp = timestamps[i] === 0 ? baseTimestampMs : timestamps[i];
      if (timestamp > maxTimestamp) maxTimestamp = timestamp;
      const base = i * RECORD_SLOTS;
      let body = 1 + sizeOfVarlong(timestamp - baseTimestamp) + sizeOfVarint(j);
      body += fieldSize(fields[base + KEY_LENGTH]) + fieldSize(fields[base + VALUE_LENGTH]);
      const headerCount = fields[base + HEADER_COUNT];
      if (headerCount === 0) {
        body += 1;
      } else {
        body += sizeOfVarint(headerCount);
        for (let h = fields[base + HEADER_FIRST], end = h + headerCount; h < end; h++) {
          body += fieldSize(headers[h * HEADER_SLOTS + 1]) + fieldSize(headers[h * HEADER_SLOTS + 3]);
        }
      }
      bodySizes[j] = body;
      size += sizeOfVarint(body) + body;
    }
    if (timestampType === 'LogAppendTime') maxTimestamp = baseTimestampMs;

    // Pass 2: write.
    const buf = Buffer.allocUnsafe(size);
    writeBatchHeader(buf, {
      baseOffset: 0,
      partitionLeaderEpoch: NO_PARTITION_LEADER_EPOCH,
      attributes: timestampType === 'LogAppendTime' ? TIMESTAMP_TYPE_MASK : 0,
      recordCount: count,
      baseTimestamp,
      maxTimestamp,
      producerId: NO_PRODUCER_ID,
      producerEpoch: NO_PRODUCER_EPOCH,
      baseSequence: NO_SEQUENCE,
    });
    let position = BATCH_HEADER_SIZE;
    for (let j = 0; j < count; j++) {
      const i = indexes === null ? j : indexes[j];
      const base = i * RECORD_SLOTS;
      position = writeVarint(buf, position, bodySizes[j]);
      buf[position++] = 0; // record attributes
      position = writeVarlong(buf, position, (timestamps[i] === 0 ? baseTimestampMs : timestamps[i]) - baseTimestamp);
      position = writeVarint(buf, position, j);
      position = copyField(buf, position, wire, fields[base + KEY_START], fields[base + KEY_LENGTH]);
      position = copyField(buf, position, wire, fields[base + VALUE_START], fields[base + VALUE_LENGTH]);
      const headerCount = fields[base + HEADER_COUNT];
      if (headerCount === 0) {
        buf[position++] = 0;
      } else {
        position = writeVarint(buf, position, headerCount);
        for (let h = fields[base + HEADER_FIRST], end = h + headerCount; h < end; h++) {
          const slot = h * HEADER_SLOTS;
          position = copyField(buf, position, wire, headers[slot], headers[slot + 1]);
          position = copyField(buf, position, wire, headers[slot + 2], headers[slot + 3]);
        }
      }
    }
    if (position !== size) throw new Error(`invariant violated: encoded ${position} bytes but sized the batch at ${size}`);
    writeBatchCrc(buf);
    return buf;
  }
}

/** Record body sizes from pass 1, reused across calls (encoding is synchronous). */
let scratchBodySizes = new Int32Array(1024);

function fieldSize(length: number): number {
  return length < 0 ? 1 : sizeOfVarint(length) + length;
}

/** Writes a length-prefixed field (varint -1 for null) copied from `wire[start, start + length)`. */
function copyField(buf: Buffer, position: number, wire: Uint8Array, start: number, length: number): number {
  position = writeVarint(buf, position, length);
  if (length <= 0) return position;
  // Short copies by hand: TypedArray#set/copy has a ~20 ns fixed cost (see record-batch.ts, SMALL_COPY).
  if (length < 8) {
    for (let k = 0; k < length; k++) buf[position + k] = wire[start + k];
  } else {
    buf.set(wire.subarray(start, start + length), position);
  }
  return position + length;
}

// ---------------------------------------------------------------------------
// Wire parsing

class MalformedRequest extends Error {}

/** Reads a base-128 varint of up to 64 bits as a JS number (two's complement for negatives, exact within ±2^53). */
class WireReader {
  position: number;
  constructor(readonly buf: Buffer, start: number, readonly end: number) {
    this.position = start;
  }

  varint(): number {
    const buf = this.buf;
    let position = this.position;
    if (position < this.end && buf[position] < 0x80) {
      this.position = position + 1;
      return buf[position];
    }
    let low = 0;
    let high = 0;
    let shift = 0;
    for (;;) {
      if (position >= this.end) throw new MalformedRequest(`varint at byte ${this.position} runs past the end of its message`);
      const b = buf[position++];
      if (shift < 28) low |= (b & 0x7f) << shift;
      else if (shift === 28) {
        low |= (b & 0x0f) << 28;
        high = (b & 0x7f) >>> 4;
      } else high |= (b & 0x7f) << (shift - 32);
      if (b < 0x80) break;
      shift += 7;
      if (shift > 63) throw new MalformedRequest(`varint at byte ${this.position} is longer than 10 bytes`);
    }
    this.position = position;
    return (high | 0) * TWO_POW_32 + (low >>> 0);
  }

  /**
   * An int32 or enum field: the low 32 bits of the varint as a signed int32,
   * exactly, as protobuf's own decoders read them (a negative value arrives
   * as a 10-byte varint; `varint() | 0` would round first, past 2^53).
   */
  varint32(): number {
    const buf = this.buf;
    let position = this.position;
    let low = 0;
    for (let shift = 0; ; shift += 7) {
      if (position >= this.end) throw new MalformedRequest(`varint at byte ${this.position} runs past the end of its message`);
      if (shift > 63) throw new MalformedRequest(`varint at byte ${this.position} is longer than 10 bytes`);
      const b = buf[position++];
      if (shift < 32) low |= (b & 0x7f) << shift; // bits past 31 fall off the shift
      if (b < 0x80) break;
    }
    this.position = position;
    return low | 0;
  }

  /** A length-delimited field: returns its start and moves past it. */
  lengthDelimited(): number {
    const length = this.varint();
    const start = this.position;
    if (length < 0 || start + length > this.end) throw new MalformedRequest(`a field of ${length} bytes at byte ${start} runs past the end of its message`);
    this.position = start + length;
    return start;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.position += 8;
        break;
      case 2:
        this.lengthDelimited();
        return;
      case 5:
        this.position += 4;
        break;
      default:
        throw new MalformedRequest(`wire type ${wireType} at byte ${this.position} is not supported`);
    }
    if (this.position > this.end) throw new MalformedRequest('a fixed-width field runs past the end of its message');
  }
}

/**
 * Growable typed-array storage for one decode; a request of n records
 * allocates O(log n) arrays. Sized at first for a record per 64 wire bytes
 * (at most 64) and 4 headers, so a small request allocates little.
 */
class Slots {
  fields: Int32Array;
  timestamps: Float64Array;
  headers = new Int32Array(4 * HEADER_SLOTS);
  count = 0;
  headerCount = 0;

  constructor(wireBytes: number) {
    const capacity = Math.min(64, Math.max(4, Math.ceil(wireBytes / 64)));
    this.fields = new Int32Array(capacity * RECORD_SLOTS);
    this.timestamps = new Float64Array(capacity);
  }

  addRecord(): number {
    if (this.count === this.timestamps.length) {
      const fields = new Int32Array(this.fields.length * 2);
      fields.set(this.fields);
      this.fields = fields;
      const timestamps = new Float64Array(this.timestamps.length * 2);
      timestamps.set(this.timestamps);
      this.timestamps = timestamps;
    }
    return this.count++;
  }

  addHeader(): number {
    if ((this.headerCount + 1) * HEADER_SLOTS > this.headers.length) {
      const headers = new Int32Array(this.headers.length * 2);
      headers.set(this.headers);
      this.headers = headers;
    }
    return this.headerCount++;
  }
}

function parseHeader(reader: WireReader, slots: Slots): void {
  const slot = slots.addHeader() * HEADER_SLOTS;
  const headers = slots.headers;
  headers[slot] = reader.position;
  headers[slot + 1] = 0;
  headers[slot + 3] = -1;
  while (reader.position < reader.end) {
    const tag = reader.varint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if ((field === 1 || field === 2) && wireType === 2) {
      const start = reader.lengthDelimited();
      headers[slot + (field === 1 ? 0 : 2)] = start;
      headers[slot + (field === 1 ? 1 : 3)] = reader.position - start;
    } else {
      reader.skip(wireType);
    }
  }
  // Header.key is a proto3 `string`: stored as is, bytes that are not UTF-8 would reach every consumer's decoder.
  if (!isUtf8Range(reader.buf, headers[slot], headers[slot + 1])) {
    throw new MalformedRequest(`header key of ${headers[slot + 1]} bytes at byte ${headers[slot]} is not valid UTF-8`);
  }
}

function parseRecord(reader: WireReader, slots: Slots): void {
  const i = slots.addRecord();
  const base = i * RECORD_SLOTS;
  const fields = slots.fields;
  fields[base + KEY_LENGTH] = -1;
  fields[base + VALUE_LENGTH] = -1;
  fields[base + HEADER_FIRST] = slots.headerCount;
  fields[base + HEADER_COUNT] = 0;
  slots.timestamps[i] = 0;
  while (reader.position < reader.end) {
    const tag = reader.varint();
    const field = tag >>> 3;
    const wireType = tag & 7;
    if ((field === 1 || field === 2) && wireType === 2) {
      const start = reader.lengthDelimited();
      fields[base + (field === 1 ? KEY_START : VALUE_START)] = start;
      fields[base + (field === 1 ? KEY_LENGTH : VALUE_LENGTH)] = reader.position - start;
    } else if (field === 3 && wireType === 2) {
      // This record's headers are parsed now, one after another, so they take consecutive slots.
      const start = reader.lengthDelimited();
      parseHeader(new WireReader(reader.buf, start, reader.position), slots);
      slots.fields[base + HEADER_COUNT]++;
    } else if (field === 4 && wireType === 0) {
      slots.timestamps[i] = reader.varint();
    } else {
      reader.skip(wireType);
    }
  }
}

/** grpc-js `requestDeserialize` for Produce. Never throws: see `malformed`. */
export function decodeProduceRequest(wire: Buffer): ProduceRequestView {
  const slots = new Slots(wire.length);
  let topic = '';
  let partition: number | undefined;
  let acks: pb.Acks = 'ACKS_LEADER';
  let recordBatch: Buffer = EMPTY;
  let unknownAcks: number | undefined;
  let malformed = readMessage(wire, (reader, field, wireType) => {
    if (field === 1 && wireType === 2) {
      const start = reader.lengthDelimited();
      topic = wire.toString('utf8', start, reader.position);
    } else if (field === 2 && wireType === 0) {
      partition = reader.varint32();
    } else if (field === 3 && wireType === 2) {
      const start = reader.lengthDelimited();
      parseRecord(new WireReader(wire, start, reader.position), slots);
    } else if (field === 4 && wireType === 0) {
      // The last occurrence wins, known or not.
      const value = reader.varint32();
      const known = ACKS_BY_NUMBER[value];
      if (known === undefined) unknownAcks = value;
      else {
        acks = known;
        unknownAcks = undefined;
      }
    } else if (field === 5 && wireType === 2) {
      const start = reader.lengthDelimited();
      recordBatch = wire.subarray(start, reader.position);
    } else {
      return false;
    }
    return true;
  });
  // An acks value from a newer client must not quietly become a weaker guarantee.
  if (malformed === undefined && unknownAcks !== undefined) {
    malformed = `acks ${unknownAcks} is not an Acks value: expected ${ACKS_BY_NUMBER.map((name, n) => `${n} (${name})`).join(', ')}`;
  }
  const records = new WireRecords(wire, slots.count, slots.fields, slots.timestamps, slots.headers);
  return { topic, partition, acks, recordBatch, records, malformed, wireBytes: wire.length };
}

/** A decoded ProduceStreamRequest (see protos/brook/v1/log.proto, Log.ProduceStream). */
export interface ProduceStreamRequestView {
  readonly requestId: number;
  readonly request: ProduceRequestView;
  /**
   * Why the outer message is not a ProduceStreamRequest, if it is not: then
   * `requestId` cannot be trusted and no reply can name the request, so the
   * broker ends the stream. A malformed inner request is `request.malformed`
   * and fails that request alone.
   */
  readonly malformed: string | undefined;
}

/**
 * ProduceStreamRequest{1 request_id uint32, 2 request ProduceRequest}: the
 * inner request goes through decodeProduceRequest, its bytes as views into
 * `wire`. An absent `request` is an empty ProduceRequest (which the handler
 * refuses for its missing topic); a second `request` field is refused rather
 * than merged.
 */
export function decodeProduceStreamRequest(wire: Buffer): ProduceStreamRequestView {
  let requestId = 0;
  let inner: Buffer | undefined;
  const malformed = readMessage(wire, (reader, field, wireType) => {
    if (field === 1 && wireType === 0) {
      requestId = reader.varint32() >>> 0; // uint32: the low 32 bits, as protobuf decoders read it
    } else if (field === 2 && wireType === 2) {
      if (inner !== undefined) throw new MalformedRequest('request appears more than once');
      const start = reader.lengthDelimited();
      inner = wire.subarray(start, reader.position);
    } else {
      return false;
    }
    return true;
  });
  return { requestId, request: decodeProduceRequest(malformed === undefined && inner ? inner : EMPTY), malformed };
}

/**
 * Reads the fields of the message `wire` in order: `read` takes the ones it
 * knows from `reader` and returns false for any other, which is skipped.
 * Returns why the bytes are malformed, or undefined; other errors are thrown.
 */
function readMessage(wire: Buffer, read: (reader: WireReader, field: number, wireType: number) => boolean): string | undefined {
  try {
    const reader = new WireReader(wire, 0, wire.length);
    while (reader.position < reader.end) {
      const tag = reader.varint();
      const wireType = tag & 7;
      if (!read(reader, tag >>> 3, wireType)) reader.skip(wireType);
    }
    return undefined;
  } catch (e) {
    if (!(e instanceof MalformedRequest)) throw e;
    return e.message;
  }
}
