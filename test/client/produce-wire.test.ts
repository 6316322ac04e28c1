import { BatchBuilder, BufferPool, POOLED_MIN_BYTES } from '../../src/client/batch-encoding';
import {
  PRODUCE_STREAM_PREFIX_ROOM,
  produceRequestPrefix,
  produceRequestPrefixRoom,
  produceSerializer,
  produceStreamSerializer,
  SERIALIZED,
  withSerialized,
  type ProduceRequestWithBytes,
} from '../../src/client/produce-wire';
import { brookServices } from '../../src/protocol';
import type { pb } from '../../src/protocol';

const produce = brookServices().Log.service.Produce;
const decode = (bytes: Buffer) => produce.requestDeserialize(bytes) as pb.ProduceRequest__Output;

describe('Produce request bytes written around the batch', () => {
  const cases: Array<[string, number, pb.Acks | undefined]> = [
    ['t', 0, 'ACKS_LEADER'],
    ['orders.eu-west_1', 5, 'ACKS_ALL'],
    ['é'.repeat(100), 2_000_000_000, 'ACKS_NONE'],
    ['x'.repeat(249), 127, undefined],
  ];
  it.each(cases)('decodes as the same request with protobufjs (topic %s, partition %d, %s)', (topic, partition, acks) => {
    const headroom = produceRequestPrefixRoom(Buffer.byteLength(topic));
    const builder = new BatchBuilder(64, { headroom });
    for (let i = 0; i < 200; i++) builder.append(null, Buffer.from(`value-${i}`), null, 1_700_000_000_000 + i);
    const batch = builder.seal();
    const prefix = produceRequestPrefix(topic, partition, acks, batch.length);
    expect(prefix.length).toBeLessThanOrEqual(headroom);
    const bytes = builder.withPrefix(prefix)!;
    expect(bytes.subarray(bytes.length - batch.length).equals(batch)).toBe(true);
    const decoded = decode(bytes);
    expect(decoded.topic).toBe(topic);
    expect(decoded.partition).toBe(partition);
    expect(decoded.acks).toBe(acks ?? 'ACKS_LEADER');
    expect(Buffer.from(decoded.recordBatch).equals(batch)).toBe(true);
    // The same bytes protobufjs writes for it.
    const reference = produce.requestSerialize({ topic, partition, acks, recordBatch: batch });
    expect(bytes.equals(reference)).toBe(true);
  });

  it('refuses what it cannot encode', () => {
    expect(() => produceRequestPrefix('t', -1, 'ACKS_LEADER', 10)).toThrow(RangeError);
    expect(() => produceRequestPrefix('t', 1.5, 'ACKS_LEADER', 10)).toThrow(RangeError);
    expect(() => produceRequestPrefix('t', 0, 'ACKS_SOMETIMES' as pb.Acks, 10)).toThrow(RangeError);
  });

  it('gives no bytes when the headroom is too small, and the serializer then falls back to protobufjs', () => {
    const builder = new BatchBuilder(64, { headroom: 4 });
    builder.append(null, Buffer.from('v'), null, 1);
    const batch = builder.seal();
    expect(builder.withPrefix(produceRequestPrefix('topic', 0, 'ACKS_LEADER', batch.length))).toBeUndefined();
    const serialize = produceSerializer(produce.requestSerialize);
    const request: ProduceRequestWithBytes = { topic: 'topic', partition: 0, recordBatch: batch };
    expect(decode(serialize(request)).topic).toBe('topic');
    withSerialized(request, Buffer.from('already serialized'));
    expect(serialize(request).toString()).toBe('already serialized');
    // A spread copy (a transport changing a field) is serialized from its fields.
    const moved = { ...request, partition: 3 };
    expect(moved[SERIALIZED]).toBeUndefined();
    expect(decode(serialize(moved)).partition).toBe(3);
  });
});

describe('ProduceStream request bytes written around the batch', () => {
  const stream = brookServices().Log.service.ProduceStream;
  const serialize = produceStreamSerializer(stream.requestSerialize);

  it.each([0, 1, 300, 0xffffffff])('are the bytes protobufjs writes, in the batch buffer itself (request_id %d)', (requestId) => {
    const topic = 'orders';
    const headroom = produceRequestPrefixRoom(Buffer.byteLength(topic)) + PRODUCE_STREAM_PREFIX_ROOM;
    const builder = new BatchBuilder(64, { headroom });
    for (let i = 0; i < 2000; i++) builder.append(null, Buffer.from(`value-${i}`), null, 1_700_000_000_000 + i); // past 16 KiB: a 3-byte length
    const batch = builder.seal();
    const prefix = produceRequestPrefix(topic, 3, 'ACKS_ALL', batch.length);
    const request: ProduceRequestWithBytes = { topic, partition: 3, acks: 'ACKS_ALL', recordBatch: batch };
    withSerialized(request, builder.withPrefix(prefix), headroom - prefix.length);
    const bytes = serialize({ requestId, request });
    expect(bytes.buffer).toBe(batch.buffer); // no copy
    expect(bytes.equals(stream.requestSerialize({ requestId, request: { topic, partition: 3, acks: 'ACKS_ALL', recordBatch: batch } }))).toBe(true);
  });

  it('falls back to protobufjs without room before the bytes, or without bytes', () => {
    const batch = Buffer.from('not a batch, but bytes all the same');
    const request: ProduceRequestWithBytes = { topic: 't', partition: 0, recordBatch: batch };
    const reference = stream.requestSerialize({ requestId: 9, request });
    expect(serialize({ requestId: 9, request }).equals(reference)).toBe(true);
    withSerialized(request, produce.requestSerialize(request), 0);
    expect(serialize({ requestId: 9, request }).equals(reference)).toBe(true);
  });
});

describe('BufferPool', () => {
  it('keeps only buffers that own their memory, from POOLED_MIN_BYTES up, at most its size', () => {
    const pool = new BufferPool(2);
    pool.give(Buffer.allocUnsafe(POOLED_MIN_BYTES - 1));
    pool.give(Buffer.allocUnsafe(POOLED_MIN_BYTES * 2).subarray(1));
    expect(pool.size).toBe(0);
    const a = Buffer.allocUnsafe(POOLED_MIN_BYTES);
    const b = Buffer.allocUnsafe(POOLED_MIN_BYTES * 4);
    const c = Buffer.allocUnsafe(POOLED_MIN_BYTES * 2);
    pool.give(a);
    pool.give(b);
    pool.give(c); // full: replaces the smallest, a
    expect(pool.size).toBe(2);
    expect(pool.take(POOLED_MIN_BYTES * 3)).toBe(b);
    expect(pool.take(POOLED_MIN_BYTES * 3)).toBeUndefined();
    expect(pool.take(POOLED_MIN_BYTES)).toBe(c);
    expect(pool.size).toBe(0);
  });

  it('a builder grows into pooled buffers and gives its outgrown and released ones back', () => {
    const pool = new BufferPool(4);
    const builder = new BatchBuilder(POOLED_MIN_BYTES, { pool, headroom: 16 });
    const value = Buffer.alloc(1000, 1);
    for (let i = 0; i < 200; i++) builder.append(null, value, null, i);
    expect(pool.size).toBeGreaterThan(0); // outgrown buffers
    const sealed = Buffer.from(builder.seal());
    builder.release();
    builder.release(); // twice is harmless
    const next = new BatchBuilder(64, { pool, headroom: 16, buffer: pool.take(sealed.length + 16) });
    for (let i = 0; i < 200; i++) next.append(null, value, null, i);
    expect(next.seal().equals(sealed)).toBe(true);
  });
});
