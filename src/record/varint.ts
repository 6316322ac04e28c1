/**
 * Zig-zag variable-length integers, as Kafka's `ByteUtils` writes them in
 * RecordBatch v2 records (the same encoding as protobuf's sint32/sint64).
 *
 * A value v is first zig-zag mapped to an unsigned number so that small
 * magnitudes of either sign stay small: 0→0, -1→1, 1→2, -2→3, … i.e.
 * (v << 1) ^ (v >> 31) for a varint, (v << 1) ^ (v >> 63) for a varlong.
 * The unsigned number is then written 7 bits at a time, least significant
 * group first; every byte but the last has its high bit (0x80) set.
 *
 *   varint   int32, 1-5 bytes     e.g. 0 → 00, -1 → 01, 1 → 02, 63 → 7e,
 *                                 64 → 80 01, -65 → 81 01,
 *                                 2147483647 → fe ff ff ff 0f
 *   varlong  int64, 1-10 bytes    same rule over 64 bits
 *
 * JS numbers: a varint is any int32. A varlong is any safe integer
 * (|v| ≤ 2^53 - 1); decoding a varlong outside that range throws rather than
 * losing precision. Like Kafka, decoding accepts at most 5 (varint) or 10
 * (varlong) bytes and ignores bits beyond 32 or 64 in the last byte.
 *
 * Reads take a `Cursor` (a mutable position) so that a decoder walks a
 * buffer without allocating per field; writes return the next position.
 */
import { BrookError } from '../common/errors';

/** A read position inside a buffer, advanced by each read. */
export interface Cursor {
  position: number;
}

const TWO_POW_28 = 0x10000000;

/** Bytes that `writeVarint(value)` takes, 1-5. */
export function sizeOfVarint(value: number): number {
  const zigzag = ((value << 1) ^ (value >> 31)) >>> 0;
  if (zigzag < 0x80) return 1;
  if (zigzag < 0x4000) return 2;
  if (zigzag < 0x200000) return 3;
  if (zigzag < 0x10000000) return 4;
  return 5;
}

/** Bytes that `writeVarlong(value)` takes, 1-10. */
export function sizeOfVarlong(value: number): number {
  if (value >= -0x40000000 && value < 0x40000000) return sizeOfVarint(value);
  // Above 2^53 the float may round, but only by far less than the distance
  // to the next power of 2^7, so the byte count is still right.
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  let size = 1;
  while (zigzag >= 128) {
    zigzag = Math.floor(zigzag / 128);
    size++;
  }
  return size;
}

/** Writes `value` (an int32) at `position`; returns the position after it. */
export function writeVarint(buf: Uint8Array, position: number, value: number): number {
  if (value !== (value | 0)) {
    throw new BrookError('INVALID_ARGUMENT', `varint value ${value} is not a 32-bit integer`);
  }
  let zigzag = ((value << 1) ^ (value >> 31)) >>> 0;
  while (zigzag >= 0x80) {
    buf[position++] = (zigzag & 0x7f) | 0x80;
    zigzag >>>= 7;
  }
  buf[position++] = zigzag;
  return position;
}

/** Writes `value` (a safe integer) at `position`; returns the position after it. */
export function writeVarlong(buf: Uint8Array, position: number, value: number): number {
  if (value >= -0x40000000 && value < 0x40000000 && value === (value | 0)) {
    return writeVarint(buf, position, value);
  }
  if (!Number.isSafeInteger(value)) {
    throw new BrookError('INVALID_ARGUMENT', `varlong value ${value} is not a safe integer (|v| ≤ 2^53 - 1)`);
  }
  const big = BigInt(value);
  let zigzag = (big << 1n) ^ (big >> 63n);
  while (zigzag >= 0x80n) {
    buf[position++] = Number(zigzag & 0x7fn) | 0x80;
    zigzag >>= 7n;
  }
  buf[position++] = Number(zigzag);
  return position;
}

/**
 * Reads a varint at `cursor.position`, advancing the cursor. Bytes at or past
 * `limit` are not read: running into it means the input is truncated.
 */
export function readVarint(buf: Uint8Array, cursor: Cursor, limit: number = buf.length): number {
  // One- and two-byte values (-8192..8191: nearly every length, delta and
  // count) take this path, small enough for V8 to inline into the record
  // walkers. A 100-byte record has two two-byte varints (its length and its
  // value's length); calling readLongerVarint for them was ~10% of decoding.
  const position = cursor.position;
  if (position < limit) {
    let raw = buf[position];
    if (raw < 0x80) {
      cursor.position = position + 1;
      return (raw >>> 1) ^ -(raw & 1);
    }
    if (position + 1 < limit && buf[position + 1] < 0x80) {
      raw = (raw & 0x7f) | (buf[position + 1] << 7);
      cursor.position = position + 2;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  return readLongerVarint(buf, cursor, limit);
}

function readLongerVarint(buf: Uint8Array, cursor: Cursor, limit: number): number {
  let position = cursor.position;
  const start = position;
  let raw = 0;
  let shift = 0;
  for (;;) {
    if (position >= limit) throw truncated('varint', start, limit);
    const b = buf[position++];
    raw |= (b & 0x7f) << shift;
    if (b < 0x80) break;
    shift += 7;
    if (shift > 28) throw overlong('varint', start, 5);
  }
  cursor.position = position;
  return (raw >>> 1) ^ -(raw & 1);
}

/**
 * Reads a varlong at `cursor.position`, advancing the cursor; throws if it
 * is truncated, longer than 10 bytes, or outside the safe-integer range.
 */
export function readVarlong(buf: Uint8Array, cursor: Cursor, limit: number = buf.length): number {
  const first = cursor.position;
  if (first < limit) {
    const b = buf[first];
    if (b < 0x80) {
      cursor.position = first + 1;
      return (b >>> 1) ^ -(b & 1);
    }
  }
  return readLongerVarlong(buf, cursor, limit);
}

function readLongerVarlong(buf: Uint8Array, cursor: Cursor, limit: number): number {
  let position = cursor.position;
  const start = position;
  // Up to four bytes (28 bits) fit 32-bit integer arithmetic: the common case.
  let raw = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (position >= limit) throw truncated('varlong', start, limit);
    const b = buf[position++];
    raw |= (b & 0x7f) << shift;
    if (b < 0x80) {
      cursor.position = position;
      return (raw >>> 1) ^ -(raw & 1);
    }
  }
  // Longer: continue in floating point, exact while below 2^53.
  let wide = raw >>> 0;
  let scale = TWO_POW_28;
  for (;;) {
    if (position >= limit) throw truncated('varlong', start, limit);
    const b = buf[position++];
    wide += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
    if (position - start >= 10) throw overlong('varlong', start, 10);
  }
  cursor.position = position;
  if (wide <= Number.MAX_SAFE_INTEGER) return wide % 2 === 0 ? wide / 2 : -(wide + 1) / 2;
  return readWideVarlong(buf, start, position);
}

/** The exact value of a varlong whose zig-zag form is 2^53 or more. */
function readWideVarlong(buf: Uint8Array, start: number, end: number): number {
  let raw = 0n;
  for (let i = end - 1; i >= start; i--) raw = (raw << 7n) | BigInt(buf[i] & 0x7f);
  raw = BigInt.asUintN(64, raw);
  const value = (raw >> 1n) ^ -(raw & 1n);
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new BrookError(
      'CORRUPT_RECORD_BATCH',
      `varlong at byte ${start} is ${value}, outside the supported range ±(2^53 - 1)`,
    );
  }
  return Number(value);
}

function truncated(kind: string, start: number, limit: number): BrookError {
  return new BrookError('CORRUPT_RECORD_BATCH', `${kind} at byte ${start} runs past the end of its data (byte ${limit})`);
}

function overlong(kind: string, start: number, maxBytes: number): BrookError {
  return new BrookError('CORRUPT_RECORD_BATCH', `${kind} at byte ${start} is longer than ${maxBytes} bytes`);
}
