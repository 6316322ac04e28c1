import { isUtf8 } from 'buffer';
import { serviceDefinition } from '../../src/protocol';
import { decodeRecordBatch, encodeRecordBatch, setLogAppendTime, stampBaseOffset, type RecordInput } from '../../src/record';
import { fetchResponseSerializer, rawHeadroomFor, StoredRecords } from '../../src/server/fetch-response';

const fetchDefinition = serviceDefinition('Log').Fetch;
const serialize = fetchResponseSerializer(fetchDefinition.responseSerialize);

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

/** What the broker sent before: decoded records, with undefined for null. */
function expected(data: Buffer[], fromOffset: number): unknown[] {
  const out: unknown[] = [];
  for (const batch of data) {
    for (const r of decodeRecordBatch(batch).records) {
      if (r.offset < fromOffset) continue;
      out.push({ offset: r.offset, timestampMs: r.timestampMs, key: r.key ?? undefined, value: r.value ?? undefined, headers: r.headers.map((h) => ({ key: h.key, value: h.value ?? undefined })) });
    }
  }
  return out;
}

function strip(records: Array<Record<string, unknown>>): unknown[] {
  return records.map((r) => ({
    offset: r.offset,
    timestampMs: r.timestampMs,
    key: r.key === undefined ? undefined : Buffer.from(r.key as Buffer),
    value: r.value === undefined ? undefined : Buffer.from(r.value as Buffer),
    headers: (r.headers as Array<{ key: string; value?: Buffer }>).map((h) => ({ key: h.key, value: h.value === undefined ? undefined : Buffer.from(h.value) })),
  }));
}

/** Walks protobuf wire bytes: each field as [number, wire type, value (a number or the LEN bytes)]. */
function fieldsOf(message: Buffer): Array<[number, number, number | Buffer]> {
  const fields: Array<[number, number, number | Buffer]> = [];
  let position = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = message[position++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (position < message.length) {
    const tag = varint();
    if ((tag & 7) === 0) fields.push([tag >>> 3, 0, varint()]);
    else if ((tag & 7) === 2) {
      const length = varint();
      fields.push([tag >>> 3, 2, message.subarray(position, position + length)]);
      position += length;
    } else throw new Error(`unexpected wire type ${tag & 7}`);
  }
  return fields;
}

/** The raw bytes of every Header.key in a FetchResponse. */
function headerKeysOf(response: Buffer): Buffer[] {
  const keys: Buffer[] = [];
  for (const [field, , record] of fieldsOf(response)) {
    if (field !== 1) continue;
    for (const [recordField, , header] of fieldsOf(record as Buffer)) {
      if (recordField !== 5) continue;
      for (const [headerField, , key] of fieldsOf(header as Buffer)) if (headerField === 1) keys.push(key as Buffer);
    }
  }
  return keys;
}

describe('fetchResponseSerializer', () => {
  it('writes what protobufjs decodes back to the stored records, from any offset', () => {
    const random = seeded(7);
    const bytes = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    for (let round = 0; round < 100; round++) {
      const batches: Buffer[] = [];
      let base = Math.floor(random() * 3e9); // offsets past 2^31 exercise the wide varints
      for (let b = 0; b < 1 + Math.floor(random() * 4); b++) {
        const records: RecordInput[] = Array.from({ length: 1 + Math.floor(random() * 20) }, () => ({
          key: random() < 0.3 ? null : bytes(Math.floor(random() * 12)),
          value: random() < 0.1 ? null : bytes(Math.floor(random() < 0.1 ? random() * 400 : random() * 40)),
          headers: random() < 0.3 ? [{ key: 'hé', value: random() < 0.5 ? null : bytes(3) }, { key: '', value: Buffer.alloc(0) }] : [],
          timestampMs: random() < 0.5 ? 1_700_000_000_000 + Math.floor(random() * 1e6) : undefined,
        }));
        const batch = encodeRecordBatch(records, { baseTimestampMs: 1_700_000_000_000 });
        stampBaseOffset(batch, 0, base);
        if (random() < 0.2) setLogAppendTime(batch, 0, 1_800_000_000_000);
        base += records.length;
        batches.push(batch);
      }
      const data = Buffer.concat(batches);
      const first = decodeRecordBatch(batches[0]).records[0].offset;
      const fromOffset = first + Math.floor(random() * 5);
      const message = { topic: random() < 0.5 ? 'tōpic' : '', partition: Math.floor(random() * 3), records: [], recordBatches: Buffer.alloc(0), highWatermark: base, logStartOffset: random() < 0.5 ? 0 : first, nextOffset: base };
      const wire = serialize({ ...message, storedRecords: new StoredRecords(data, fromOffset) });
      const decoded = fetchDefinition.responseDeserialize(wire) as Record<string, unknown> & { records: Array<Record<string, unknown>> };
      expect(strip(decoded.records)).toEqual(expected(batches, fromOffset));
      expect(decoded).toMatchObject({ topic: message.topic, partition: message.partition, highWatermark: base, logStartOffset: message.logStartOffset, nextOffset: base });
    }
  });

  it('sends a stored header key that is not UTF-8 as the UTF-8 bytes of its decoding', () => {
    const batch = encodeRecordBatch([{ key: Buffer.from('k'), value: Buffer.from('v'), headers: [{ key: 'QQ', value: Buffer.from('x') }, { key: 'ok', value: null }] }], { baseTimestampMs: 1 });
    const at = batch.indexOf(Buffer.from('QQ'), 61); // past the batch header (the CRC could hold any bytes)
    batch[at] = 0xff; // stored before keys were checked on produce, or written by another tool
    batch[at + 1] = 0xfe;
    const message = { topic: 't', partition: 0, records: [], recordBatches: Buffer.alloc(0), highWatermark: 1, logStartOffset: 0, nextOffset: 1 };
    const wire = serialize({ ...message, storedRecords: new StoredRecords(batch, 0) });
    // What strict decoders (Python upb, Go, Java) check for a proto3 string field.
    const keys = headerKeysOf(wire);
    expect(keys.map((k) => isUtf8(k))).toEqual([true, true]);
    expect(keys.map((k) => k.toString('utf8'))).toEqual(['\uFFFD\uFFFD', 'ok']);
    const decoded = fetchDefinition.responseDeserialize(wire) as { records: Array<Record<string, unknown>>; nextOffset: unknown };
    expect(strip(decoded.records)).toEqual(expected([batch], 0));
    expect(decoded.nextOffset).toBe(1);
  });

  it('falls back to protobufjs for messages without stored records', () => {
    const message = { topic: 't', partition: 1, records: [{ offset: 5, timestampMs: -1, key: Buffer.from('k'), headers: [] }], recordBatches: Buffer.alloc(0), highWatermark: 6, logStartOffset: 0, nextOffset: 6 };
    expect(serialize(message).equals(fetchDefinition.responseSerialize(message))).toBe(true);
  });

  it('writes a raw reply around its batches in the headroom, decoding as protobufjs would', () => {
    const random = seeded(7);
    for (const topic of ['t', 'a-longer-topic.name_0', 'ü'.repeat(100)]) {
      for (const [highWatermark, partition] of [[6, 0], [2 ** 40 + 3, 7], [300, 2 ** 31 - 1]]) {
        const length = 1 + Math.floor(random() * 3000);
        const batches = Buffer.alloc(length, 0x5a);
        const headroom = rawHeadroomFor(topic);
        const underlying = Buffer.alloc(headroom + length + 3, 0xee);
        batches.copy(underlying, headroom);
        const view = underlying.subarray(headroom, headroom + length);
        const message = { topic, partition, records: [], recordBatches: view, highWatermark, logStartOffset: 1, nextOffset: highWatermark, rawHeadroom: headroom };
        const out = serialize(message);
        expect(out.buffer).toBe(underlying.buffer); // no copy of the batches
        expect(view.equals(batches)).toBe(true);
        const decoded = fetchDefinition.responseDeserialize(out) as Record<string, unknown>;
        const reference = fetchDefinition.responseDeserialize(fetchDefinition.responseSerialize({ ...message, recordBatches: batches })) as Record<string, unknown>;
        expect({ ...decoded, recordBatches: Buffer.from(decoded.recordBatches as Buffer) }).toEqual({ ...reference, recordBatches: Buffer.from(reference.recordBatches as Buffer) });
      }
    }
  });

  it('copies a raw reply whose headroom is too small', () => {
    const batches = Buffer.alloc(100, 1);
    const message = { topic: 'topic', partition: 1, records: [], recordBatches: batches, highWatermark: 6, logStartOffset: 0, nextOffset: 6, rawHeadroom: 4 };
    expect(serialize(message).equals(fetchDefinition.responseSerialize(message))).toBe(true);
  });
});
