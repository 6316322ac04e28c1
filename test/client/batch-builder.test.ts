import { BatchBuilder } from '../../src/client/batch-encoding';
import { encodeRecordBatch, validateRecordBatch, decodeRecordBatch } from '../../src/record';

describe('BatchBuilder', () => {
  const records = [
    { key: null, value: Buffer.from('a'.repeat(100)), headers: [], timestampMs: 1_700_000_000_000 },
    { key: Buffer.from('k1'), value: null, headers: [{ key: 'h', value: Buffer.from('v') }, { key: 'é', value: null }], timestampMs: 1_700_000_000_005 },
    { key: Buffer.alloc(0), value: Buffer.alloc(300, 7), headers: [], timestampMs: 1_699_999_999_000 },
  ];

  it('writes the same bytes as the reference encoder', () => {
    const builder = new BatchBuilder(64); // forces growth
    for (const r of records) builder.append(r.key, r.value, r.headers.length ? r.headers : null, r.timestampMs);
    const identity = { producerId: 42, producerEpoch: 3, baseSequence: 1000 };
    const ours = builder.seal(identity);
    const reference = encodeRecordBatch(records, { baseTimestampMs: records[0].timestampMs, ...identity });
    expect(ours.equals(reference)).toBe(true);
    expect(validateRecordBatch(ours, 0, ours.length).recordCount).toBe(3);
  });

  it('sizeOf matches what append takes', () => {
    const builder = new BatchBuilder(16);
    for (const r of records) {
      const headers = r.headers.length ? r.headers : null;
      const expected = BatchBuilder.sizeOf(r.key, r.value, headers, builder.deltaOf(r.timestampMs), builder.count);
      expect(builder.append(r.key, r.value, headers, r.timestampMs)).toBe(expected);
    }
  });

  it('sealing again with a new identity rewrites header and CRC', () => {
    const builder = new BatchBuilder(16);
    builder.append(null, Buffer.from('x'), null, 5);
    builder.seal({ producerId: 1, producerEpoch: 0, baseSequence: 7 });
    const again = builder.seal({ producerId: 1, producerEpoch: 1, baseSequence: 0 });
    const header = validateRecordBatch(again, 0, again.length);
    expect([header.producerEpoch, header.baseSequence]).toEqual([1, 0]);
    expect(decodeRecordBatch(again).records[0].value).toEqual(Buffer.from('x'));
  });
});
