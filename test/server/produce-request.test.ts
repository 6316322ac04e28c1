import { serviceDefinition } from '../../src/protocol';
import { encodeRecordBatch, validateRecordBatch, type RecordInput } from '../../src/record';
import { decodeProduceRequest, decodeProduceStreamRequest } from '../../src/server/produce-request';

const produce = serviceDefinition('Log').Produce;
const serialize = (request: object): Buffer => produce.requestSerialize(request);

/** What the handler did before: protobufjs decode, then encodeRecordBatch. */
function reference(wire: Buffer, indexes: number[] | null, now: number, type: 'CreateTime' | 'LogAppendTime'): Buffer {
  const decoded = produce.requestDeserialize(wire) as { records: Array<{ key?: Buffer; value?: Buffer; headers: Array<{ key: string; value?: Buffer }>; timestampMs: number }> };
  const inputs: RecordInput[] = decoded.records.map((r) => ({ key: r.key ?? null, value: r.value ?? null, headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? null })), timestampMs: r.timestampMs }));
  return encodeRecordBatch(indexes === null ? inputs : indexes.map((i) => inputs[i]), { baseTimestampMs: now, timestampType: type });
}

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

describe('decodeProduceRequest', () => {
  it('reads the scalar fields and the record_batch as a view', () => {
    const batch = encodeRecordBatch([{ value: Buffer.from('v') }]);
    const view = decodeProduceRequest(serialize({ topic: 'töpic', partition: 3, acks: 'ACKS_NONE', recordBatch: batch }));
    expect(view).toMatchObject({ topic: 'töpic', partition: 3, acks: 'ACKS_NONE', malformed: undefined });
    expect(view.recordBatch.equals(batch)).toBe(true);
    expect(view.records.count).toBe(0);
    expect(decodeProduceRequest(serialize({ topic: 't' }))).toMatchObject({ partition: undefined, acks: 'ACKS_LEADER' });
    expect(decodeProduceRequest(serialize({ topic: 't', partition: 0 })).partition).toBe(0);
    expect(decodeProduceRequest(serialize({ topic: 't', partition: -5 })).partition).toBe(-5);
  });

  it('encodes the same batch bytes as protobufjs + encodeRecordBatch, for random records', () => {
    const random = seeded(42);
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    for (let round = 0; round < 200; round++) {
      const count = 1 + Math.floor(random() * 40);
      const records = Array.from({ length: count }, () => {
        const r: Record<string, unknown> = {};
        if (random() < 0.7) r.key = bytes(Math.floor(random() * 20));
        if (random() < 0.9) r.value = bytes(Math.floor(random() < 0.1 ? random() * 300 : random() * 30));
        if (random() < 0.3) r.headers = Array.from({ length: 1 + Math.floor(random() * 3) }, (_, h) => (random() < 0.5 ? { key: `h${h}é` } : { key: `k${h}`, value: bytes(Math.floor(random() * 5)) }));
        const t = random();
        if (t < 0.3) r.timestampMs = 1_700_000_000_000 + Math.floor(random() * 1e6);
        else if (t < 0.35) r.timestampMs = Math.floor(random() * 100);
        return r;
      });
      const wire = serialize({ topic: 't', records });
      const view = decodeProduceRequest(wire);
      expect(view.malformed).toBeUndefined();
      expect(view.records.count).toBe(count);
      const now = 1_700_000_500_000;
      for (const type of ['CreateTime', 'LogAppendTime'] as const) {
        const ours = view.records.encodeBatch(null, now, type);
        expect(ours.equals(reference(wire, null, now, type))).toBe(true);
        validateRecordBatch(ours, 0, ours.length);
      }
      const subset = Array.from({ length: count }, (_, i) => i).filter(() => random() < 0.5);
      if (subset.length > 0) expect(view.records.encodeBatch(subset, now, 'CreateTime').equals(reference(wire, subset, now, 'CreateTime'))).toBe(true);
      for (let i = 0; i < count; i++) {
        const key = records[i].key as Buffer | undefined;
        expect(view.records.key(i)).toEqual(key ?? null);
      }
    }
  });

  it('reads negative and large int64 timestamps as numbers', () => {
    const view = decodeProduceRequest(serialize({ topic: 't', records: [{ value: Buffer.from('a'), timestampMs: -7 }, { value: null, timestampMs: 2 ** 52 + 3 }] }));
    expect(view.records.timestampMs(0)).toBe(-7);
    expect(view.records.timestampMs(1)).toBe(2 ** 52 + 3);
  });

  it('takes the last acks value, so an unknown value followed by a known one is accepted', () => {
    const wire = serialize({ topic: 't' });
    const withAcks = (...values: number[]): Buffer => Buffer.concat([wire, ...values.map((v) => Buffer.from([0x20, v]))]);
    expect(decodeProduceRequest(withAcks(5, 2))).toMatchObject({ acks: 'ACKS_NONE', malformed: undefined });
    expect(decodeProduceRequest(withAcks(2, 1))).toMatchObject({ acks: 'ACKS_ALL', malformed: undefined });
    expect(decodeProduceRequest(withAcks(2, 5)).malformed).toMatch(/acks 5 is not an Acks value/);
  });

  it('reads int32 fields as the low 32 bits of their varint, exactly, even past 2^53', () => {
    const varint = (value: bigint): Buffer => {
      const bytes: number[] = [];
      let rest = BigInt.asUintN(64, value);
      while (rest >= 0x80n) {
        bytes.push(Number(rest & 0x7fn) | 0x80);
        rest >>= 7n;
      }
      bytes.push(Number(rest));
      return Buffer.from(bytes);
    };
    const withPartition = (value: bigint): Buffer => Buffer.concat([serialize({ topic: 't' }), Buffer.from([0x10]), varint(value)]);
    expect(decodeProduceRequest(withPartition(2n ** 60n + 7n))).toMatchObject({ partition: 7, malformed: undefined });
    expect(decodeProduceRequest(withPartition(0xffff_ffff_0000_0009n)).partition).toBe(9);
    expect(decodeProduceRequest(withPartition(2n ** 40n - 1n)).partition).toBe(-1);
    expect(decodeProduceRequest(withPartition(-5n)).partition).toBe(-5);
    const withAcks = (value: bigint): Buffer => Buffer.concat([serialize({ topic: 't' }), Buffer.from([0x20]), varint(value)]);
    expect(decodeProduceRequest(withAcks(2n ** 60n + 2n))).toMatchObject({ acks: 'ACKS_NONE', malformed: undefined });
    expect(decodeProduceRequest(Buffer.concat([serialize({ topic: 't' }), Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])])).malformed).toMatch(/longer than 10 bytes/);
  });

  it('reports a header key that is not UTF-8 as malformed', () => {
    const wire = serialize({ topic: 't', records: [{ value: Buffer.from('a'), headers: [{ key: 'QQ', value: Buffer.from('x') }] }] });
    expect(decodeProduceRequest(wire).malformed).toBeUndefined();
    const at = wire.indexOf(Buffer.from('QQ'));
    wire[at] = 0xff;
    wire[at + 1] = 0xfe;
    expect(decodeProduceRequest(wire).malformed).toMatch(/header key of 2 bytes at byte \d+ is not valid UTF-8/);
    const accented = serialize({ topic: 't', records: [{ value: Buffer.from('a'), headers: [{ key: 'clé ✓', value: null }] }] });
    expect(decodeProduceRequest(accented).malformed).toBeUndefined();
  });

  it('skips unknown fields and reports malformed bytes without throwing', () => {
    const wire = serialize({ topic: 't', records: [{ value: Buffer.from('a') }] });
    // field 15, varint 1, then field 16 (LEN) "xy": unknown to this decoder
    const extended = Buffer.concat([wire, Buffer.from([0x78, 0x01, 0x82, 0x01, 0x02, 0x78, 0x79])]);
    const view = decodeProduceRequest(extended);
    expect(view.malformed).toBeUndefined();
    expect(view.records.count).toBe(1);
    expect(decodeProduceRequest(wire.subarray(0, wire.length - 1)).malformed).toMatch(/runs past the end/);
    expect(decodeProduceRequest(Buffer.from([0x0b])).malformed).toMatch(/wire type 3/);
  });

  it('reports an acks number outside the Acks enum instead of treating it as ACKS_LEADER', () => {
    const wire = serialize({ topic: 't', records: [{ value: Buffer.from('a') }] });
    // field 4 (acks), varint 7
    const view = decodeProduceRequest(Buffer.concat([wire, Buffer.from([0x20, 0x07])]));
    expect(view.malformed).toMatch(/acks 7 is not an Acks value: expected 0 \(ACKS_LEADER\), 1 \(ACKS_ALL\), 2 \(ACKS_NONE\)/);
    expect(decodeProduceRequest(Buffer.concat([wire, Buffer.from([0x20, 0x02])]))).toMatchObject({ acks: 'ACKS_NONE', malformed: undefined });
  });
});

describe('decodeProduceStreamRequest', () => {
  const streamSerialize = (message: object): Buffer => serviceDefinition('Log').ProduceStream.requestSerialize(message);

  it('reads request_id and decodes the inner request, its batch a view into the same bytes', () => {
    const batch = encodeRecordBatch([{ value: Buffer.from('v') }]);
    const wire = streamSerialize({ requestId: 0xfffffffe, request: { topic: 't', partition: 2, recordBatch: batch } });
    const view = decodeProduceStreamRequest(wire);
    expect(view).toMatchObject({ requestId: 0xfffffffe, malformed: undefined, request: { topic: 't', partition: 2, malformed: undefined } });
    expect(view.request.recordBatch.equals(batch)).toBe(true);
    expect(view.request.recordBatch.buffer).toBe(wire.buffer);
    expect(view.request.wireBytes).toBe(serialize({ topic: 't', partition: 2, recordBatch: batch }).length);
  });

  it('reads fields in any order, skips unknown ones, and takes an absent request as an empty one', () => {
    const inner = serialize({ topic: 'x', partition: 1 });
    const wire = Buffer.concat([Buffer.from([0x12, inner.length]), inner, Buffer.from([0x18, 0x05]), Buffer.from([0x08, 0x2a])]);
    expect(decodeProduceStreamRequest(wire)).toMatchObject({ requestId: 42, request: { topic: 'x', partition: 1 }, malformed: undefined });
    expect(decodeProduceStreamRequest(Buffer.from([0x08, 0x03]))).toMatchObject({ requestId: 3, request: { topic: '', malformed: undefined }, malformed: undefined });
  });

  it('reads request_id as the low 32 bits of its varint', () => {
    // 2^32 + 5 as a varint: the low 32 bits are 5.
    const wire = Buffer.from([0x08, 0x85, 0x80, 0x80, 0x80, 0x10]);
    expect(decodeProduceStreamRequest(wire).requestId).toBe(5);
  });

  it('reports a malformed outer message, and a repeated request field, without throwing', () => {
    expect(decodeProduceStreamRequest(Buffer.from([0x08])).malformed).toMatch(/runs past the end/);
    expect(decodeProduceStreamRequest(Buffer.from([0x12, 0x05, 0x0a])).malformed).toMatch(/runs past the end/);
    const inner = serialize({ topic: 't' });
    const twice = Buffer.concat([Buffer.from([0x12, inner.length]), inner, Buffer.from([0x12, inner.length]), inner]);
    expect(decodeProduceStreamRequest(twice).malformed).toBe('request appears more than once');
    // A malformed inner request is the inner view's to report: the outer message is fine.
    const bad = decodeProduceStreamRequest(Buffer.from([0x08, 0x01, 0x12, 0x01, 0x10]));
    expect(bad).toMatchObject({ requestId: 1, malformed: undefined });
    expect(bad.request.malformed).toMatch(/runs past the end/);
  });
});
