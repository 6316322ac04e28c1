import { decodeFetchedBatches, offsetAfter } from '../../src/client/batch-encoding';
import { encodeRecordBatch, setLogAppendTime, splitBatches, EMPTY_HEADERS } from '../../src/record';

/** A raw fetch reply: batches back to back, as the broker sends them. */
function reply(): Buffer {
  return Buffer.concat([
    encodeRecordBatch(
      [
        { key: Buffer.from('k0'), value: Buffer.from('v0'), headers: [{ key: 'trace', value: Buffer.from('t0') }, { key: 'empty', value: null }], timestampMs: 1_700_000_000_000 },
        { key: null, value: Buffer.from('v1'), timestampMs: 1_700_000_000_002 },
        { key: Buffer.from('k2'), value: null, timestampMs: 1_699_999_999_999 },
      ],
      { baseOffset: 10 },
    ),
    encodeRecordBatch([{ value: Buffer.from('v3') }, { value: Buffer.from('v4') }], { baseOffset: 13, baseTimestampMs: 1_700_000_000_100 }),
  ]);
}

describe('decodeFetchedBatches', () => {
  it('decodes keys, values, headers, null keys and null values into ConsumedRecords', () => {
    const records = decodeFetchedBatches(reply(), 'orders', 3, 10);
    expect(records).toEqual([
      {
        topic: 'orders',
        partition: 3,
        offset: 10,
        timestampMs: 1_700_000_000_000,
        key: Buffer.from('k0'),
        value: Buffer.from('v0'),
        headers: [
          { key: 'trace', value: Buffer.from('t0') },
          { key: 'empty', value: null },
        ],
      },
      { topic: 'orders', partition: 3, offset: 11, timestampMs: 1_700_000_000_002, key: null, value: Buffer.from('v1'), headers: [] },
      { topic: 'orders', partition: 3, offset: 12, timestampMs: 1_699_999_999_999, key: Buffer.from('k2'), value: null, headers: [] },
      { topic: 'orders', partition: 3, offset: 13, timestampMs: 1_700_000_000_100, key: null, value: Buffer.from('v3'), headers: [] },
      { topic: 'orders', partition: 3, offset: 14, timestampMs: 1_700_000_000_100, key: null, value: Buffer.from('v4'), headers: [] },
    ]);
    expect(Object.keys(records[0])).toEqual(['topic', 'partition', 'offset', 'timestampMs', 'key', 'value', 'headers']);
  });

  it('skips records before fromOffset (a batch may start before it) and stops before toOffset', () => {
    expect(decodeFetchedBatches(reply(), 't', 0, 12).map((r) => r.offset)).toEqual([12, 13, 14]);
    expect(decodeFetchedBatches(reply(), 't', 0, 11, 14).map((r) => r.offset)).toEqual([11, 12, 13]);
    expect(decodeFetchedBatches(reply(), 't', 0, 13).map((r) => r.value?.toString())).toEqual(['v3', 'v4']);
    expect(decodeFetchedBatches(reply(), 't', 0, 15)).toEqual([]);
    expect(decodeFetchedBatches(Buffer.alloc(0), 't', 0, 0)).toEqual([]);
  });

  it('leaves out a batch cut off at the end of the reply', () => {
    const bytes = reply();
    const cut = bytes.subarray(0, bytes.length - 3);
    const { batches, partial } = splitBatches(cut, 0);
    expect(partial).not.toBeNull();
    expect(decodeFetchedBatches(cut, 't', 0, 10, Number.POSITIVE_INFINITY, batches).map((r) => r.offset)).toEqual([10, 11, 12]);
    expect(decodeFetchedBatches(cut, 't', 0, 10).map((r) => r.offset)).toEqual([10, 11, 12]);
    expect(offsetAfter(batches)).toBe(13);
  });

  it('returns keys and values as Buffers viewing the reply', () => {
    const bytes = reply();
    const [first] = decodeFetchedBatches(bytes, 't', 0, 10);
    expect(Buffer.isBuffer(first.key)).toBe(true);
    expect(Buffer.isBuffer(first.value)).toBe(true);
    expect(first.value!.buffer).toBe(bytes.buffer);
    expect(first.headers[0].value!.buffer).toBe(bytes.buffer);
    bytes.fill(0x78);
    expect(first.value!.toString()).toBe('xx');
  });

  it('gives records without headers one shared, frozen empty array', () => {
    const records = decodeFetchedBatches(reply(), 't', 0, 10);
    expect(records[1].headers).toBe(EMPTY_HEADERS);
    expect(records[4].headers).toBe(records[1].headers);
    expect(Object.isFrozen(records[1].headers)).toBe(true);
    expect(() => (records[1].headers as unknown as unknown[]).push({ key: 'x', value: null })).toThrow(TypeError);
    expect(records[0].headers).not.toBe(EMPTY_HEADERS);
  });

  it('reports the batch time of LogAppendTime batches for every record', () => {
    const bytes = reply();
    setLogAppendTime(bytes, 0, 1_800_000_000_000);
    expect(decodeFetchedBatches(bytes, 't', 0, 10).map((r) => r.timestampMs)).toEqual([
      1_800_000_000_000, 1_800_000_000_000, 1_800_000_000_000, 1_700_000_000_100, 1_700_000_000_100,
    ]);
  });
});
