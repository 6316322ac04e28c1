import fc from 'fast-check';
import { isBrookError } from '../../src/common/errors';
import {
  readVarint,
  readVarlong,
  sizeOfVarint,
  sizeOfVarlong,
  writeVarint,
  writeVarlong,
} from '../../src/record/varint';

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

function encodeVarint(value: number): Buffer {
  const buf = Buffer.alloc(5);
  return buf.subarray(0, writeVarint(buf, 0, value));
}

function encodeVarlong(value: number): Buffer {
  const buf = Buffer.alloc(10);
  return buf.subarray(0, writeVarlong(buf, 0, value));
}

// Golden bytes worked out by hand: zig-zag map, then 7-bit groups, low first.
const VARINTS: Array<[number, string]> = [
  [0, '00'],
  [-1, '01'], // zigzag 1
  [1, '02'], // zigzag 2
  [63, '7e'], // zigzag 126
  [-64, '7f'], // zigzag 127, the largest one-byte value
  [64, '80 01'], // zigzag 128 = 0b1_0000000
  [-65, '81 01'], // zigzag 129
  [300, 'd8 04'], // zigzag 600 = 0x258: 0x58|0x80, 0x04
  [2147483647, 'fe ff ff ff 0f'], // zigzag 0xfffffffe
  [-2147483648, 'ff ff ff ff 0f'], // zigzag 0xffffffff
];

const VARLONGS: Array<[number, string]> = [
  ...VARINTS,
  [2147483648, '80 80 80 80 10'], // zigzag 2^32
  [-2147483649, '81 80 80 80 10'], // zigzag 2^32 + 1
  [2199023255551, 'fe ff ff ff ff 7f'], // 2^41 - 1, zigzag 2^42 - 2
  [-2199023255552, 'ff ff ff ff ff 7f'], // -2^41, zigzag 2^42 - 1
  [2199023255552, '80 80 80 80 80 80 01'], // 2^41, zigzag 2^42
  [Number.MAX_SAFE_INTEGER, 'fe ff ff ff ff ff ff 1f'], // zigzag 2^54 - 2
  [Number.MIN_SAFE_INTEGER, 'fd ff ff ff ff ff ff 1f'], // zigzag 2^54 - 3
];

function expectCorrupt(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(isBrookError(caught, 'CORRUPT_RECORD_BATCH')).toBe(true);
  expect((caught as Error).message).toMatch(pattern);
}

describe('varint', () => {
  it.each(VARINTS)('%d encodes as %s and back', (value, bytes) => {
    expect(encodeVarint(value).toString('hex')).toBe(hex(bytes).toString('hex'));
    expect(sizeOfVarint(value)).toBe(hex(bytes).length);
    const cursor = { position: 0 };
    expect(readVarint(hex(bytes), cursor)).toBe(value);
    expect(cursor.position).toBe(hex(bytes).length);
  });

  it('round-trips every int32 sample', () => {
    fc.assert(
      fc.property(fc.integer({ min: -0x80000000, max: 0x7fffffff }), (value) => {
        const bytes = encodeVarint(value);
        expect(bytes.length).toBe(sizeOfVarint(value));
        expect(readVarint(bytes, { position: 0 })).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('reads every one- and two-byte value, and the first three-byte ones, at any place before the limit', () => {
    const buf = Buffer.alloc(8);
    for (let value = -8194; value <= 8193; value++) {
      const end = writeVarint(buf, 1, value);
      expect(end - 1).toBe(value >= -64 && value <= 63 ? 1 : value >= -8192 && value <= 8191 ? 2 : 3);
      const cursor = { position: 1 };
      expect(readVarint(buf, cursor, end)).toBe(value);
      expect(cursor.position).toBe(end);
      if (end - 1 > 1) expectCorrupt(() => readVarint(buf, { position: 1 }, end - 1), /runs past the end/);
    }
  });

  it('reads at the cursor and stops at the limit', () => {
    const buf = hex('aa d8 04 02');
    const cursor = { position: 1 };
    expect(readVarint(buf, cursor)).toBe(300);
    expect(readVarint(buf, cursor)).toBe(1);
    expect(cursor.position).toBe(4);
    expectCorrupt(() => readVarint(buf, { position: 1 }, 2), /varint at byte 1 runs past the end of its data \(byte 2\)/);
  });

  it('rejects truncated and overlong input', () => {
    expectCorrupt(() => readVarint(hex('80'), { position: 0 }), /runs past the end/);
    expectCorrupt(() => readVarint(hex(''), { position: 0 }), /runs past the end/);
    expectCorrupt(() => readVarint(hex('ff ff ff ff ff 01'), { position: 0 }), /longer than 5 bytes/);
  });

  it('refuses to write a value that is not an int32', () => {
    const buf = Buffer.alloc(10);
    expect(() => writeVarint(buf, 0, 2147483648)).toThrow(/not a 32-bit integer/);
    expect(() => writeVarint(buf, 0, 1.5)).toThrow(/not a 32-bit integer/);
  });
});

describe('varlong', () => {
  it.each(VARLONGS)('%d encodes as %s and back', (value, bytes) => {
    expect(encodeVarlong(value).toString('hex')).toBe(hex(bytes).toString('hex'));
    expect(sizeOfVarlong(value)).toBe(hex(bytes).length);
    const cursor = { position: 0 };
    expect(readVarlong(hex(bytes), cursor)).toBe(value);
    expect(cursor.position).toBe(hex(bytes).length);
  });

  it('round-trips every safe-integer sample', () => {
    fc.assert(
      fc.property(fc.oneof(fc.maxSafeInteger(), fc.integer(), fc.integer({ min: -300, max: 300 })), (value) => {
        const bytes = encodeVarlong(value);
        expect(bytes.length).toBe(sizeOfVarlong(value));
        expect(readVarlong(bytes, { position: 0 })).toBe(value);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads a non-minimal 10-byte encoding the way Kafka does', () => {
    // 1 written with redundant continuation groups: 82 80 … 80 00 (10 bytes).
    expect(readVarlong(hex('82 80 80 80 80 80 80 80 80 00'), { position: 0 })).toBe(1);
  });

  it('rejects values beyond the safe-integer range instead of rounding them', () => {
    // Long.MAX_VALUE: zigzag 2^64 - 2.
    expectCorrupt(() => readVarlong(hex('fe ff ff ff ff ff ff ff ff 01'), { position: 0 }), /outside the supported range/);
    expect(() => writeVarlong(Buffer.alloc(10), 0, 2 ** 60)).toThrow(/not a safe integer/);
  });

  it('rejects truncated and overlong input', () => {
    expectCorrupt(() => readVarlong(hex('80 80'), { position: 0 }), /varlong at byte 0 runs past the end/);
    expectCorrupt(() => readVarlong(hex('80 80 80 80 80 80'), { position: 0 }), /runs past the end/);
    expectCorrupt(() => readVarlong(hex('ff ff ff ff ff ff ff ff ff ff 01'), { position: 0 }), /longer than 10 bytes/);
  });
});
