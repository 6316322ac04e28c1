import assert from 'assert';
import fs from 'fs';
import path from 'path';
import util from 'util';
import fc from 'fast-check';
import { isBrookError } from '../../src/common/errors';
import { crc32cJs } from '../../src/record/crc32c';
import {
  ATTRIBUTES_OFFSET,
  BATCH_HEADER_SIZE,
  CRC_OFFSET,
  LAST_OFFSET_DELTA_OFFSET,
  LENGTH_OFFSET,
  MAGIC_OFFSET,
  RECORDS_COUNT_OFFSET,
  decodeRecordBatch,
  encodeRecordBatch,
  forEachRecord,
  readBatchHeader,
  setLogAppendTime,
  splitBatches,
  stampBaseOffset,
  validateRecordBatch,
  visitRecords,
  EMPTY_HEADERS,
  type DecodedRecord,
  type RecordInput,
} from '../../src/record';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'record');

function hex(s: string): Buffer {
  return Buffer.from(s.replace(/\s+/g, ''), 'hex');
}

/** One batch per line of a fixture file. */
function fixtureBatches(name: string): Buffer[] {
  return fs
    .readFileSync(path.join(FIXTURES, name), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(hex);
}

function expectCorrupt(fn: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  if (!isBrookError(caught, 'CORRUPT_RECORD_BATCH')) throw new Error(`expected CORRUPT_RECORD_BATCH, got ${String(caught)}`);
  expect(caught.message).toMatch(pattern);
}

// A batch worked out by hand from https://kafka.apache.org/documentation/#recordbatch.
// Record 0: key "k", value "hello", timestamp 1700000000000, no headers.
// Record 1: null key, value "v", timestamp 1700000000300, header "é" → "x".
const HAND_BUILT = `
  0000000000000000  baseOffset int64 = 0 (the broker stamps the real one)
  0000004c          batchLength int32 = 76 = 88 bytes total - 12 (baseOffset + batchLength)
  ffffffff          partitionLeaderEpoch int32 = -1 (a producer does not know it)
  02                magic int8 = 2
  4a0b9f8e          crc uint32 = CRC-32C of the 67 bytes from attributes to the end
  0000              attributes int16: no compression, CreateTime, not transactional, not control
  00000001          lastOffsetDelta int32 = 1 (two records)
  0000018bcfe56800  baseTimestamp int64 = 1700000000000 = 0x18b_cfe56800 (record 0's timestamp)
  0000018bcfe5692c  maxTimestamp int64 = 1700000000300 = base + 0x12c
  ffffffffffffffff  producerId int64 = -1 (not idempotent)
  ffff              producerEpoch int16 = -1
  ffffffff          baseSequence int32 = -1
  00000002          recordsCount int32 = 2
  18                record 0 length varint: 12 bytes follow, zigzag 24 = 0x18
  00                  attributes int8 = 0
  00                  timestampDelta varlong 0
  00                  offsetDelta varint 0
  02                  keyLength varint 1 (zigzag 2)
  6b                  key "k"
  0a                  valueLength varint 5 (zigzag 10)
  68656c6c6f          value "hello"
  00                  headerCount varint 0
  1a                record 1 length varint: 13 bytes follow, zigzag 26 = 0x1a
  00                  attributes int8 = 0
  d804                timestampDelta varlong 300: zigzag 600 = 0x258 → 0x58|0x80, 0x258>>7 = 0x04
  02                  offsetDelta varint 1 (zigzag 2)
  01                  keyLength varint -1 (zigzag 1): null key
  02                  valueLength varint 1
  76                  value "v"
  02                  headerCount varint 1
  04                    headerKeyLength varint 2 (zigzag 4): "é" is two UTF-8 bytes
  c3a9                  headerKey "é" (U+00E9)
  02                    headerValueLength varint 1
  78                    headerValue "x"
`;

function handBuiltBytes(): Buffer {
  return hex(HAND_BUILT.split('\n').map((line) => line.trim().split(/\s+/)[0] ?? '').join(''));
}

const HAND_BUILT_RECORDS: RecordInput[] = [
  { key: Buffer.from('k'), value: Buffer.from('hello'), timestampMs: 1700000000000 },
  { key: null, value: Buffer.from('v'), headers: [{ key: 'é', value: Buffer.from('x') }], timestampMs: 1700000000300 },
];

describe('golden bytes', () => {
  it('the CRC-32C check value holds in the JS implementation', () => {
    expect(crc32cJs(Buffer.from('123456789', 'latin1'))).toBe(0xe3069283);
  });

  it('the hand-derived batch matches the fixture and has the CRC we compute independently', () => {
    const expected = handBuiltBytes();
    expect(expected.length).toBe(88);
    expect(expected.equals(fixtureBatches('hand-built-batch.hex')[0])).toBe(true);
    expect(crc32cJs(expected, ATTRIBUTES_OFFSET, expected.length)).toBe(expected.readUInt32BE(CRC_OFFSET));
  });

  it('the encoder reproduces the hand-derived batch byte for byte', () => {
    const encoded = encodeRecordBatch(HAND_BUILT_RECORDS);
    expect(encoded.toString('hex')).toBe(handBuiltBytes().toString('hex'));
  });

  it('decodes the hand-derived batch', () => {
    const { header, records } = decodeRecordBatch(handBuiltBytes());
    expect(header).toMatchObject({
      baseOffset: 0,
      batchLength: 76,
      sizeInBytes: 88,
      partitionLeaderEpoch: -1,
      magic: 2,
      crc: 0x4a0b9f8e,
      attributes: 0,
      lastOffsetDelta: 1,
      baseTimestamp: 1700000000000,
      maxTimestamp: 1700000000300,
      producerId: -1,
      producerEpoch: -1,
      baseSequence: -1,
      recordCount: 2,
      lastOffset: 1,
      timestampType: 'CreateTime',
      compression: 0,
    });
    expect(records).toEqual([
      { offset: 0, timestampMs: 1700000000000, key: Buffer.from('k'), value: Buffer.from('hello'), headers: [] },
      { offset: 1, timestampMs: 1700000000300, key: null, value: Buffer.from('v'), headers: [{ key: 'é', value: Buffer.from('x') }] },
    ]);
  });

  describe('batches written by a Kafka 0.11 broker', () => {
    const [first, second] = fixtureBatches('kafka-0.11-broker-batches.hex');

    it('validate with Kafka’s own CRCs', () => {
      expect(validateRecordBatch(first, 0, first.length).recordCount).toBe(1);
      expect(validateRecordBatch(second, 0, second.length).recordCount).toBe(2);
    });

    it('decode to what Kafka wrote', () => {
      const a = decodeRecordBatch(first);
      expect(a.header).toMatchObject({ baseOffset: 0, partitionLeaderEpoch: 1, baseTimestamp: 0x15dff7b063c });
      expect(a.records).toEqual([{ offset: 0, timestampMs: 0x15dff7b063c, key: null, value: Buffer.from('123'), headers: [] }]);
      const b = decodeRecordBatch(second);
      expect(b.header).toMatchObject({ baseOffset: 1, partitionLeaderEpoch: 2, lastOffset: 2, maxTimestamp: 0x15dff7cde14 });
      expect(b.records).toEqual([
        { offset: 1, timestampMs: 0x15dff7cdd6c, key: null, value: Buffer.alloc(0), headers: [] },
        { offset: 2, timestampMs: 0x15dff7cdd6c + 168, key: null, value: Buffer.alloc(0), headers: [] },
      ]);
    });

    it('are reproduced byte for byte by the encoder from the same inputs', () => {
      const a = encodeRecordBatch([{ value: Buffer.from('123'), timestampMs: 0x15dff7b063c }], { partitionLeaderEpoch: 1 });
      expect(a.toString('hex')).toBe(first.toString('hex'));
      const b = encodeRecordBatch(
        [
          { value: Buffer.alloc(0), timestampMs: 0x15dff7cdd6c },
          { value: Buffer.alloc(0), timestampMs: 0x15dff7cde14 },
        ],
        { baseOffset: 1, partitionLeaderEpoch: 2 },
      );
      expect(b.toString('hex')).toBe(second.toString('hex'));
    });
  });
});

// ---------------------------------------------------------------------------

const bytesArb = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const nullableBytesArb = (maxLength: number) => fc.option(bytesArb(maxLength), { nil: null, freq: 4 });
const headerArb = fc.record({ key: fc.string({ unit: 'grapheme', maxLength: 12 }), value: nullableBytesArb(32) });
const recordArb: fc.Arbitrary<RecordInput> = fc.record(
  {
    key: fc.option(bytesArb(64), { nil: null, freq: 3 }),
    value: nullableBytesArb(300),
    headers: fc.array(headerArb, { maxLength: 6 }),
    timestampMs: fc.oneof(
      fc.constant(0),
      fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }),
      fc.integer({ min: -1, max: 2 ** 45 }),
    ),
  },
  { requiredKeys: ['value'] },
);

function expectedRecords(records: RecordInput[], baseOffset: number, defaultTimestamp: number): DecodedRecord[] {
  return records.map((r, i) => ({
    offset: baseOffset + i,
    timestampMs: r.timestampMs === undefined || r.timestampMs === 0 ? defaultTimestamp : r.timestampMs,
    key: r.key ?? null,
    value: r.value,
    headers: (r.headers ?? []).map((h) => ({ key: Buffer.from(h.key, 'utf8').toString('utf8'), value: h.value })),
  }));
}

describe('round trip', () => {
  it('decodes what it encodes, for any records', () => {
    fc.assert(
      fc.property(
        fc.array(recordArb, { maxLength: 40 }),
        fc.nat({ max: 2 ** 40 }),
        fc.integer({ min: 1, max: 2 ** 42 }),
        (records, baseOffset, baseTimestampMs) => {
          const buf = encodeRecordBatch(records, { baseOffset, baseTimestampMs, producerId: 7, producerEpoch: 3, baseSequence: 11 });
          const header = validateRecordBatch(buf, 0, buf.length);
          expect(header).toMatchObject({ baseOffset, recordCount: records.length, producerId: 7, producerEpoch: 3, baseSequence: 11 });
          const decoded = decodeRecordBatch(buf);
          const expected = expectedRecords(records, baseOffset, baseTimestampMs);
          expect(decoded.records).toEqual(expected);
          if (records.length > 0) {
            expect(header.lastOffset).toBe(baseOffset + records.length - 1);
            expect(header.baseTimestamp).toBe(expected[0].timestampMs);
            expect(header.maxTimestamp).toBe(Math.max(...expected.map((r) => r.timestampMs)));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('keeps empty and null keys and values apart', () => {
    const records: RecordInput[] = [
      { key: null, value: null },
      { key: Buffer.alloc(0), value: Buffer.alloc(0) },
      { key: Buffer.from('a'), value: null, headers: [{ key: '', value: null }, { key: 'e', value: Buffer.alloc(0) }] },
    ];
    const { records: out } = decodeRecordBatch(encodeRecordBatch(records, { baseTimestampMs: 5 }));
    expect(out.map((r) => [r.key, r.value])).toEqual([
      [null, null],
      [Buffer.alloc(0), Buffer.alloc(0)],
      [Buffer.from('a'), null],
    ]);
    expect(out[2].headers).toEqual([{ key: '', value: null }, { key: 'e', value: Buffer.alloc(0) }]);
  });

  it('writes header keys as UTF-8, a lone surrogate as U+FFFD like Buffer does', () => {
    const keys = ['plain', 'ünïcödé', '日本語', '🔑', 'a\ud800b'];
    const buf = encodeRecordBatch([{ value: null, headers: keys.map((key) => ({ key, value: null })) }]);
    validateRecordBatch(buf);
    expect(decodeRecordBatch(buf).records[0].headers.map((h) => h.key)).toEqual(['plain', 'ünïcödé', '日本語', '🔑', 'a\ufffdb']);
  });

  it('carries values of a mebibyte and more, and many headers', () => {
    const big = Buffer.alloc(1024 * 1024 + 17);
    for (let i = 0; i < big.length; i++) big[i] = (i * 131) & 0xff;
    const headers = Array.from({ length: 500 }, (_, i) => ({ key: `h-${i}-ключ-🔑`, value: Buffer.from(String(i)) }));
    const records: RecordInput[] = [{ key: Buffer.from('big'), value: big, headers }, { value: Buffer.from('small') }];
    const buf = encodeRecordBatch(records, { baseTimestampMs: 1 });
    validateRecordBatch(buf, 0, buf.length);
    const out = decodeRecordBatch(buf).records;
    expect(out[0].value!.equals(big)).toBe(true);
    expect(out[0].headers).toEqual(headers);
    expect(out[1].value).toEqual(Buffer.from('small'));
  });

  it('encodes an empty batch with no timestamps', () => {
    const buf = encodeRecordBatch([], { baseOffset: 9 });
    expect(buf.length).toBe(BATCH_HEADER_SIZE);
    expect(validateRecordBatch(buf, 0, buf.length)).toMatchObject({ recordCount: 0, baseTimestamp: -1, maxTimestamp: -1 });
    expect(decodeRecordBatch(buf).records).toEqual([]);
  });

  it('fills in missing and zero timestamps from baseTimestampMs', () => {
    const buf = encodeRecordBatch([{ value: null }, { value: null, timestampMs: 0 }, { value: null, timestampMs: 42 }], { baseTimestampMs: 1000 });
    expect(decodeRecordBatch(buf).records.map((r) => r.timestampMs)).toEqual([1000, 1000, 42]);
    expect(readBatchHeader(buf)).toMatchObject({ baseTimestamp: 1000, maxTimestamp: 1000 });
  });

  it('returns views into the input by default and copies on request', () => {
    const buf = encodeRecordBatch([{ key: Buffer.from('key'), value: Buffer.from('value') }]);
    const view = decodeRecordBatch(buf).records[0];
    const copy = decodeRecordBatch(buf, 0, { copy: true }).records[0];
    expect(view.value!.buffer).toBe(buf.buffer);
    buf.fill(0);
    expect(view.value!.toString()).not.toBe('value');
    expect(copy.value!.toString()).toBe('value');
    expect(copy.key!.toString()).toBe('key');
  });

  it('views are plain Buffers: deepStrictEqual to a Buffer with the same bytes', () => {
    const buf = encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('x'), headers: [{ key: 'h', value: Buffer.from('hv') }] }]);
    const seen: Array<[Buffer | null, Buffer | null, Buffer | null]> = [];
    visitRecords(buf, 0, (_offset, _ts, key, value, headers) => seen.push([key, value, headers[0].value]));
    const [key, value, headerValue] = seen[0];
    for (const [view, expected] of [
      [key, 'k'],
      [value, 'x'],
      [headerValue, 'hv'],
    ] as const) {
      expect(view!.buffer).toBe(buf.buffer);
      expect(Object.getPrototypeOf(view)).toBe(Buffer.prototype);
      assert.deepStrictEqual(view, Buffer.from(expected));
      expect(util.isDeepStrictEqual(view, Buffer.from(expected))).toBe(true);
    }
    assert.deepStrictEqual(decodeRecordBatch(buf).records[0].value, Buffer.from('x'));
  });

  it('forEachRecord visits records in order at a position inside a larger buffer', () => {
    const batch = encodeRecordBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }], { baseOffset: 100 });
    const buf = Buffer.concat([Buffer.from('junk'), batch]);
    const seen: Array<[number, number, string]> = [];
    const header = forEachRecord(buf, 4, (r, i) => seen.push([i, r.offset, r.value!.toString()]));
    expect(header.lastOffset).toBe(101);
    expect(seen).toEqual([
      [0, 100, 'a'],
      [1, 101, 'b'],
    ]);
  });

  it('sets producer fields, the transactional bit and LogAppendTime when asked', () => {
    const buf = encodeRecordBatch([{ value: null, timestampMs: 5 }], {
      producerId: 2 ** 40 + 3,
      producerEpoch: 32767,
      baseSequence: 2147483647,
      partitionLeaderEpoch: 12,
      isTransactional: true,
      timestampType: 'LogAppendTime',
      baseTimestampMs: 777,
    });
    expect(validateRecordBatch(buf)).toMatchObject({
      producerId: 2 ** 40 + 3,
      producerEpoch: 32767,
      baseSequence: 2147483647,
      partitionLeaderEpoch: 12,
      isTransactional: true,
      isControlBatch: false,
      timestampType: 'LogAppendTime',
      maxTimestamp: 777,
      baseTimestamp: 5,
    });
    expect(decodeRecordBatch(buf).records[0].timestampMs).toBe(777);
  });

  it('refuses bad options with INVALID_ARGUMENT naming the field', () => {
    expect(() => encodeRecordBatch([], { baseOffset: -1 })).toThrow(/baseOffset must be an integer/);
    expect(() => encodeRecordBatch([], { producerEpoch: 40000 })).toThrow(/producerEpoch/);
    expect(() => encodeRecordBatch([], { baseSequence: 1.5 })).toThrow(/baseSequence/);
    expect(() => encodeRecordBatch([{ value: null }, { value: null, timestampMs: NaN }])).toThrow(/record 1 has timestampMs NaN/);
  });
});

// ---------------------------------------------------------------------------

function sample(): Buffer {
  return encodeRecordBatch(
    [
      { key: Buffer.from('a'), value: Buffer.from('first value'), headers: [{ key: 'h', value: Buffer.from('1') }] },
      { key: null, value: Buffer.from('second') },
      { key: Buffer.from('c'), value: null },
    ],
    { baseTimestampMs: 1_700_000_000_000 },
  );
}

/** Recomputes the CRC after a deliberate edit, so that the check under test is the one that fails. */
function withCrc(buf: Buffer): Buffer {
  buf.writeUInt32BE(crc32cJs(buf, ATTRIBUTES_OFFSET, buf.length), CRC_OFFSET);
  return buf;
}

describe('validateRecordBatch rejects corruption with CORRUPT_RECORD_BATCH', () => {
  it('accepts the intact sample', () => {
    const buf = sample();
    expect(validateRecordBatch(buf, 0, buf.length).recordCount).toBe(3);
    expect(validateRecordBatch(buf).recordCount).toBe(3);
  });

  it('bad magic', () => {
    const buf = sample();
    buf[MAGIC_OFFSET] = 1;
    expectCorrupt(() => validateRecordBatch(buf), /magic byte 1; only RecordBatch v2 \(magic 2\)/);
  });

  it('fewer bytes than a header', () => {
    expectCorrupt(() => validateRecordBatch(sample().subarray(0, 60)), /has 60 bytes, fewer than the 61-byte batch header/);
    expectCorrupt(() => validateRecordBatch(Buffer.alloc(0)), /has 0 bytes/);
  });

  it('truncated records', () => {
    const buf = sample();
    expectCorrupt(() => validateRecordBatch(buf.subarray(0, buf.length - 3)), new RegExp(`truncated: batch length ${buf.length - 12} means ${buf.length} bytes, but only ${buf.length - 3}`));
    expectCorrupt(() => validateRecordBatch(buf, 0, buf.length - 1), /truncated/);
  });

  it('a batch length that does not match the bytes given', () => {
    const buf = sample();
    const padded = Buffer.concat([buf, Buffer.alloc(5)]);
    expectCorrupt(() => validateRecordBatch(padded, 0, padded.length), new RegExp(`but ${padded.length} bytes were given for exactly one batch`));
    const short = Buffer.from(buf);
    short.writeInt32BE(20, LENGTH_OFFSET);
    expectCorrupt(() => validateRecordBatch(short), /batch length 20, smaller than the 49 bytes/);
  });

  it('a flipped byte anywhere the CRC covers', () => {
    const original = sample();
    for (let i = ATTRIBUTES_OFFSET; i < original.length; i++) {
      const buf = Buffer.from(original);
      buf[i] ^= 0x10;
      expectCorrupt(() => validateRecordBatch(buf, 0, buf.length), /fails its CRC-32C check: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/);
    }
  });

  it('a flipped CRC byte', () => {
    const buf = sample();
    buf[CRC_OFFSET + 2] ^= 0xff;
    expectCorrupt(() => validateRecordBatch(buf), /CRC-32C/);
  });

  it('a record count that does not match the records', () => {
    const buf = sample();
    buf.writeInt32BE(4, RECORDS_COUNT_OFFSET);
    expectCorrupt(() => validateRecordBatch(withCrc(buf)), /record count 4 in its header but holds 3 records/);
    expectCorrupt(() => decodeRecordBatch(buf), /record count 4 in its header but holds 3 records/);
  });

  it('a last offset delta that does not match the records', () => {
    const buf = sample();
    buf.writeInt32BE(7, LAST_OFFSET_DELTA_OFFSET);
    expectCorrupt(() => validateRecordBatch(withCrc(buf)), /last offset delta 7, but its 3 records need 2/);
  });

  it('compressed attributes', () => {
    for (const [codec, name] of [
      [1, 'gzip'],
      [2, 'snappy'],
      [3, 'lz4'],
      [4, 'zstd'],
      [7, 'unknown codec 7'],
    ] as const) {
      const buf = sample();
      buf.writeInt16BE(codec, ATTRIBUTES_OFFSET);
      expectCorrupt(() => validateRecordBatch(withCrc(buf)), new RegExp(`compressed with ${name} .*only uncompressed batches`));
      expectCorrupt(() => decodeRecordBatch(buf), /compressed/);
    }
  });

  it('a record length that runs past the batch', () => {
    const buf = sample();
    buf[BATCH_HEADER_SIZE] = 0x7e; // record 0 claims 63 bytes
    expectCorrupt(() => validateRecordBatch(withCrc(buf)), /record 0 at byte 61 has length 63, which runs past the batch end/);
    expectCorrupt(() => decodeRecordBatch(buf), /record 0 at byte 61 has length 63/);
  });

  it('a record whose fields do not add up to its length', () => {
    const buf = sample();
    // Record 0's key length 1 (0x02) → 2 (0x04): the key now swallows a byte of the value length.
    const keyLengthAt = BATCH_HEADER_SIZE + 4;
    expect(buf[keyLengthAt]).toBe(0x02);
    buf[keyLengthAt] = 0x04;
    expectCorrupt(() => validateRecordBatch(withCrc(buf)), /record 0/);
    expectCorrupt(() => decodeRecordBatch(buf), /record 0/);
  });

  it('a record offset delta out of sequence', () => {
    const buf = sample();
    const offsetDeltaAt = BATCH_HEADER_SIZE + 3; // length, attributes, timestampDelta (0), offsetDelta
    expect(buf[offsetDeltaAt]).toBe(0x00);
    buf[offsetDeltaAt] = 0x04;
    expectCorrupt(() => validateRecordBatch(withCrc(buf)), /record 0 at byte 61 has offset delta 2, expected 0/);
  });

  it('a header key that is not valid UTF-8', () => {
    const buf = encodeRecordBatch([{ value: null }, { value: Buffer.from('v'), headers: [{ key: 'ok', value: null }, { key: 'QQ', value: Buffer.from('x') }] }], { baseTimestampMs: 1 });
    expect(validateRecordBatch(buf).recordCount).toBe(2);
    const at = buf.indexOf(Buffer.from('QQ'), BATCH_HEADER_SIZE);
    buf[at] = 0xff;
    buf[at + 1] = 0xfe;
    expectCorrupt(() => validateRecordBatch(withCrc(buf)), new RegExp(`record 1 header 1 has a key that is not valid UTF-8 \\(2 bytes at byte ${at}\\)`));
    // Well-formed multi-byte keys pass; a truncated sequence or an encoded surrogate does not.
    for (const [key, valid] of [['c3a9', true], ['e29c93', true], ['c3', false], ['eda080', false], ['c0af', false]] as const) {
      const batch = encodeRecordBatch([{ value: null, headers: [{ key: 'Q'.repeat(key.length / 2), value: null }] }], { baseTimestampMs: 1 });
      hex(key).copy(batch, batch.indexOf(Buffer.from('Q'), BATCH_HEADER_SIZE));
      if (valid) expect(validateRecordBatch(withCrc(batch)).recordCount).toBe(1);
      else expectCorrupt(() => validateRecordBatch(withCrc(batch)), /not valid UTF-8/);
    }
  });

  it('an absurd header count does not allocate', () => {
    const buf = encodeRecordBatch([{ value: null }], { baseTimestampMs: 1 });
    // Record: length, attributes, ts, offset, key -1, value -1, headerCount: the last byte.
    buf[buf.length - 1] = 0xfe; // would be a 2-byte varint; make it 5 bytes claiming a huge count
    const grown = withCrc(Buffer.concat([buf, hex('ffffff07')]));
    grown.writeInt32BE(grown.length - 12, LENGTH_OFFSET);
    grown[BATCH_HEADER_SIZE] += 8; // record length +4 bytes (zigzag)
    withCrc(grown);
    expectCorrupt(() => decodeRecordBatch(grown), /header count \d+, which does not fit/);
    expectCorrupt(() => validateRecordBatch(grown), /header count \d+, which does not fit/);
  });

  it('throws only CORRUPT_RECORD_BATCH for random damage', () => {
    const original = sample();
    fc.assert(
      fc.property(fc.nat(original.length - 1), fc.integer({ min: 1, max: 255 }), fc.boolean(), (at, xor, fixCrc) => {
        const buf = Buffer.from(original);
        buf[at] ^= xor;
        if (fixCrc) withCrc(buf);
        for (const fn of [() => validateRecordBatch(buf), () => decodeRecordBatch(buf)]) {
          try {
            fn();
          } catch (e) {
            expect(isBrookError(e, 'CORRUPT_RECORD_BATCH')).toBe(true);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });
});

// ---------------------------------------------------------------------------

describe('changes a broker makes in place', () => {
  it('stampBaseOffset leaves the CRC valid and moves every offset', () => {
    const buf = sample();
    const crcBefore = buf.readUInt32BE(CRC_OFFSET);
    stampBaseOffset(buf, 0, 2 ** 40 + 5);
    expect(buf.readUInt32BE(CRC_OFFSET)).toBe(crcBefore);
    expect(validateRecordBatch(buf)).toMatchObject({ baseOffset: 2 ** 40 + 5, lastOffset: 2 ** 40 + 7 });
    expect(decodeRecordBatch(buf).records.map((r) => r.offset)).toEqual([2 ** 40 + 5, 2 ** 40 + 6, 2 ** 40 + 7]);
  });

  it('stampBaseOffset works at a position inside a larger buffer', () => {
    const buf = Buffer.concat([sample(), sample()]);
    stampBaseOffset(buf, buf.length / 2, 3);
    expect(splitBatches(buf).batches.map((b) => b.header.baseOffset)).toEqual([0, 3]);
  });

  it('setLogAppendTime sets the type bit and max timestamp and yields a valid CRC', () => {
    const buf = sample();
    setLogAppendTime(buf, 0, 1_800_000_000_123);
    const header = validateRecordBatch(buf);
    expect(header).toMatchObject({ timestampType: 'LogAppendTime', maxTimestamp: 1_800_000_000_123, baseTimestamp: 1_700_000_000_000 });
    expect(buf.readUInt32BE(CRC_OFFSET)).toBe(crc32cJs(buf, ATTRIBUTES_OFFSET, buf.length));
    expect(decodeRecordBatch(buf).records.every((r) => r.timestampMs === 1_800_000_000_123)).toBe(true);
  });

  it('setLogAppendTime keeps the other attribute bits', () => {
    const buf = encodeRecordBatch([{ value: null }], { isTransactional: true, baseTimestampMs: 1 });
    setLogAppendTime(buf, 0, 99);
    expect(validateRecordBatch(buf)).toMatchObject({ isTransactional: true, timestampType: 'LogAppendTime', maxTimestamp: 99 });
  });
});

describe('splitBatches', () => {
  const batches = [sample(), encodeRecordBatch([{ value: Buffer.from('x') }], { baseOffset: 3 }), ...fixtureBatches('kafka-0.11-broker-batches.hex')];
  const joined = Buffer.concat(batches);

  it('finds every batch of a buffer', () => {
    const { batches: found, partial } = splitBatches(joined);
    expect(partial).toBeNull();
    let position = 0;
    expect(found.map((b) => b.position)).toEqual(
      batches.map((b) => {
        const at = position;
        position += b.length;
        return at;
      }),
    );
    expect(found.map((b) => b.header.sizeInBytes)).toEqual(batches.map((b) => b.length));
  });

  it('returns a batch cut off at the end as partial, header or not', () => {
    const lastStart = joined.length - batches[3].length;
    const cutInRecords = splitBatches(joined.subarray(0, joined.length - 5));
    expect(cutInRecords.batches).toHaveLength(3);
    expect(cutInRecords.partial).toMatchObject({ position: lastStart, availableBytes: batches[3].length - 5, header: { baseOffset: 1 } });
    const cutInHeader = splitBatches(joined.subarray(0, lastStart + 30));
    expect(cutInHeader.batches).toHaveLength(3);
    expect(cutInHeader.partial).toEqual({ position: lastStart, header: null, availableBytes: 30 });
    expect(splitBatches(Buffer.alloc(0))).toEqual({ batches: [], partial: null });
  });

  it('throws on a complete header that is wrong', () => {
    const buf = Buffer.from(joined);
    buf[batches[0].length + MAGIC_OFFSET] = 9;
    expectCorrupt(() => splitBatches(buf), new RegExp(`record batch at byte ${batches[0].length} has magic byte 9`));
  });
});

describe('readBatchHeader', () => {
  it('reads only the 61-byte header', () => {
    const buf = sample().subarray(0, BATCH_HEADER_SIZE);
    expect(readBatchHeader(buf)).toMatchObject({ recordCount: 3, lastOffsetDelta: 2, magic: 2 });
  });

  it('throws when fewer than 61 bytes are there', () => {
    expectCorrupt(() => readBatchHeader(sample(), sample().length - 10), /has 10 bytes, fewer than the 61-byte batch header/);
  });
});

describe('visitRecords', () => {
  type Visited = [number, number, string | null, string | null, Array<[string, string | null]>, number];
  function visitAll(buf: Buffer, options: Parameters<typeof visitRecords>[3] = {}): Visited[] {
    const seen: Visited[] = [];
    visitRecords(
      buf,
      0,
      (offset, timestampMs, key, value, headers, index) => {
        seen.push([offset, timestampMs, key?.toString() ?? null, value?.toString() ?? null, headers.map((h) => [h.key, h.value?.toString() ?? null]), index]);
      },
      options,
    );
    return seen;
  }
  const batch = (): Buffer =>
    encodeRecordBatch(
      [
        { key: Buffer.from('a'), value: Buffer.from('first'), headers: [{ key: 'h', value: Buffer.from('1') }, { key: 'n', value: null }], timestampMs: 1000 },
        { key: null, value: Buffer.from('second'), timestampMs: 1005 },
        { key: Buffer.from('c'), value: null, timestampMs: 990 },
        { key: Buffer.alloc(0), value: Buffer.alloc(0), timestampMs: 1001 },
      ],
      { baseOffset: 50 },
    );

  it('hands over every field of every record, with null keys, values and header values', () => {
    expect(visitAll(batch())).toEqual([
      [50, 1000, 'a', 'first', [['h', '1'], ['n', null]], 0],
      [51, 1005, null, 'second', [], 1],
      [52, 990, 'c', null, [], 2],
      [53, 1001, '', '', [], 3],
    ]);
  });

  it('visits only [fromOffset, toOffset), keeping each record\'s index in the batch', () => {
    expect(visitAll(batch(), { fromOffset: 51, toOffset: 53 }).map((v) => [v[0], v[5]])).toEqual([
      [51, 1],
      [52, 2],
    ]);
    expect(visitAll(batch(), { fromOffset: 54 })).toEqual([]);
  });

  it('still checks records outside the range', () => {
    const buf = batch();
    buf.writeInt32BE(5, RECORDS_COUNT_OFFSET);
    expectCorrupt(() => visitAll(buf, { fromOffset: 100 }), /record count 5 in its header but holds 4 records/);
    const cut = batch();
    // Record 3 (the last) claims more bytes than the batch has left; it lies past toOffset.
    // Its 7 bytes: length 6, attributes, timestamp delta 1, offset delta 3, key length 0, value length 0, header count 0.
    const last = cut.length - 7;
    expect(cut[last]).toBe(0x0c); // varint 6
    cut[last] = 0x7e;
    expectCorrupt(() => visitAll(cut, { toOffset: 51 }), /record 3 at byte \d+ has length 63, which runs past the batch end/);
  });

  it('shares one frozen empty array for records without headers', () => {
    const headers: Array<readonly unknown[]> = [];
    visitRecords(batch(), 0, (_o, _t, _k, _v, h) => headers.push(h));
    expect(headers[1]).toBe(EMPTY_HEADERS);
    expect(headers[2]).toBe(EMPTY_HEADERS);
    expect(Object.isFrozen(EMPTY_HEADERS)).toBe(true);
    expect(EMPTY_HEADERS).toHaveLength(0);
    // forEachRecord keeps handing out a fresh array of its own.
    const decoded = decodeRecordBatch(batch()).records;
    expect(decoded[1].headers).not.toBe(EMPTY_HEADERS);
    decoded[1].headers.push({ key: 'x', value: null });
    expect(decoded[2].headers).toEqual([]);
  });

  it('returns keys and values as Buffers viewing the input, or copies with copy: true', () => {
    const buf = batch();
    let view: Buffer | null = null;
    let copy: Buffer | null = null;
    visitRecords(buf, 0, (_o, _t, _k, value, _h, index) => index === 0 && (view = value));
    visitRecords(buf, 0, (_o, _t, _k, value, _h, index) => index === 0 && (copy = value), { copy: true });
    const v = view as unknown as Buffer;
    expect(Buffer.isBuffer(v)).toBe(true);
    expect(v).toBeInstanceOf(Buffer);
    expect(v.constructor).toBe(Buffer);
    expect(v).toEqual(Buffer.from('first'));
    expect(v.buffer).toBe(buf.buffer);
    expect(v.subarray(1, 3).toString()).toBe('ir');
    expect(Buffer.concat([v, Buffer.from('!')]).toString()).toBe('first!');
    expect(JSON.stringify(v)).toBe(JSON.stringify(Buffer.from('first')));
    buf.fill(0x7a);
    expect(v.toString()).toBe('zzzzz');
    expect((copy as unknown as Buffer).toString()).toBe('first');
  });
});
