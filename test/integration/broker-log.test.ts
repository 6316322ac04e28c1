/**
 * The broker as a process: Produce/Fetch/ListOffsets/Admin over gRPC against
 * a real `brook serve` on a free port with a temp data dir.
 */
import * as grpc from '@grpc/grpc-js';
import { partitionForKey } from '../../src/common/partitioner';
import type { pb } from '../../src/protocol';
import { encodeRecordBatch } from '../../src/record';
import { grpcClients, randomTopicName, startBroker, stopAllBrokers, type BrokerProcess, type GrpcClients } from '../helpers/broker';
import { expectStatus } from '../helpers/grpc';

type Produced = pb.ProduceResponse__Output;
type Fetched = pb.FetchResponse__Output;

let broker: BrokerProcess;
let clients: GrpcClients;

beforeAll(async () => {
  broker = await startBroker({ config: { 'limits.max_records_per_request': 5000 } });
  clients = grpcClients(broker.addr);
});

afterAll(async () => {
  clients?.close();
  if (broker) expect(await broker.stop()).toBe(0);
  await stopAllBrokers();
});

async function createTopic(partitions = 1, config: Record<string, string> = {}): Promise<string> {
  const name = randomTopicName();
  await clients.admin.CreateTopic({ name, partitions, config });
  return name;
}

const text = (b: Buffer | undefined): string | undefined => b?.toString('utf8');

describe('produce and fetch', () => {
  it('round-trips keys, values, null values, headers and timestamps', async () => {
    const topic = await createTopic();
    const records = [
      { key: Buffer.from('k1'), value: Buffer.from('v1'), headers: [{ key: 'h', value: Buffer.from('x') }, { key: 'h', value: undefined }], timestampMs: 1_700_000_000_123 },
      { value: Buffer.from('no key'), timestampMs: 0 },
      { key: Buffer.from('tombstone') },
    ];
    const before = Date.now();
    const produced = await clients.log.Produce<Produced>({ topic, partition: 0, records });
    expect(produced.results).toEqual([expect.objectContaining({ partition: 0, baseOffset: 0, recordCount: 3, recordIndexes: [] })]);
    const fetched = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 0 });
    expect(fetched).toMatchObject({ topic, partition: 0, highWatermark: 3, logStartOffset: 0, nextOffset: 3 });
    const [a, b, c] = fetched.records;
    expect([a.offset, text(a.key), text(a.value), a.timestampMs]).toEqual([0, 'k1', 'v1', 1_700_000_000_123]);
    expect(a.headers.map((h) => [h.key, text(h.value)])).toEqual([['h', 'x'], ['h', undefined]]);
    expect([b.offset, b.key, text(b.value)]).toEqual([1, undefined, 'no key']);
    expect(b.timestampMs).toBeGreaterThanOrEqual(before - 1000);
    expect([c.offset, text(c.key), c.value]).toEqual([2, 'tombstone', undefined]);

    // Fetch from the middle drops the records below the offset.
    const middle = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 1 });
    expect(middle.records.map((r) => r.offset)).toEqual([1, 2]);
    // Raw returns the stored batch, starting before the offset.
    const raw = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 1, raw: true });
    expect(raw.records).toEqual([]);
    expect(raw.recordBatches.length).toBeGreaterThan(61);
    expect(raw.nextOffset).toBe(3);
  });

  it('accepts a client-built record_batch and stamps its base offset', async () => {
    const topic = await createTopic();
    await clients.log.Produce({ topic, partition: 0, records: [{ value: Buffer.from('first') }] });
    const batch = encodeRecordBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }]);
    const produced = await clients.log.Produce<Produced>({ topic, partition: 0, recordBatch: batch });
    expect(produced.results[0]).toMatchObject({ partition: 0, baseOffset: 1, recordCount: 2 });
    const fetched = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 0 });
    expect(fetched.records.map((r) => [r.offset, text(r.value)])).toEqual([[0, 'first'], [1, 'a'], [2, 'b']]);
  });

  it('fetches across segment boundaries, and returns an oversized batch alone', async () => {
    const topic = await createTopic(1, { 'segment.bytes': '2048' });
    for (let i = 0; i < 20; i++) {
      await clients.log.Produce({ topic, partition: 0, records: [{ value: Buffer.alloc(300, i) }] });
    }
    const described = await clients.admin.DescribeTopic<pb.DescribeTopicResponse__Output>({ name: topic });
    expect(described.topic!.partitions[0].segmentCount).toBeGreaterThan(2);
    const seen: number[] = [];
    let offset = 0;
    while (offset < 20) {
      const res = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset, maxBytes: 1000 });
      expect(res.records.length).toBeGreaterThan(0);
      for (const r of res.records) {
        seen.push(r.offset);
        expect(r.value![0]).toBe(r.offset);
      }
      offset = res.nextOffset;
    }
    expect(seen).toEqual([...Array(20).keys()]);
    const tiny = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 5, maxBytes: 1 });
    expect(tiny.records.map((r) => r.offset)).toEqual([5]);
  });

  it('gives 16 concurrent producers on one partition contiguous offsets', async () => {
    const topic = await createTopic();
    const producers = Array.from({ length: 16 }, async (_, p) => {
      const bases: Array<[number, number]> = [];
      for (let i = 0; i < 10; i++) {
        const records = Array.from({ length: 5 }, (_, j) => ({ value: Buffer.from(`${p}-${i}-${j}`) }));
        const res = await clients.log.Produce<Produced>({ topic, partition: 0, records });
        bases.push([res.results[0].baseOffset, res.results[0].recordCount]);
      }
      return bases;
    });
    const ranges = (await Promise.all(producers)).flat().sort((a, b) => a[0] - b[0]);
    let expected = 0;
    for (const [base, count] of ranges) {
      expect(base).toBe(expected);
      expected += count;
    }
    expect(expected).toBe(800);
    const hw = await clients.log.ListOffsets<pb.ListOffsetsResponse__Output>({ topic, partition: 0, spec: 'OFFSET_SPEC_LATEST' });
    expect(hw.offset).toBe(800);
  });

  it('puts keyed records on their murmur2 partition and keyless ones of a request together', async () => {
    const topic = await createTopic(7);
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    const records = [...keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from(k) })), { value: Buffer.from('x') }, { value: Buffer.from('y') }];
    const res = await clients.log.Produce<Produced>({ topic, records });
    const partitionOfIndex = new Map<number, number>();
    for (const r of res.results) for (const i of r.recordIndexes) partitionOfIndex.set(i, r.partition);
    keys.forEach((k, i) => expect(partitionOfIndex.get(i)).toBe(partitionForKey(Buffer.from(k), 7)));
    expect(partitionOfIndex.get(40)).toBe(partitionOfIndex.get(41));
    expect(res.results.map((r) => r.partition)).toEqual([...res.results.map((r) => r.partition)].sort((a, b) => a - b));
    // Kafka's vector: toPositive(murmur2("foobar")) % 7 = 1357151166 % 7.
    const one = await clients.log.Produce<Produced>({ topic, records: [{ key: Buffer.from('foobar'), value: Buffer.from('v') }] });
    expect(one.results[0].partition).toBe(1357151166 % 7);
  });

  it('ListOffsets answers earliest, latest and by timestamp', async () => {
    const topic = await createTopic();
    await clients.log.Produce({ topic, partition: 0, records: [100, 200, 300].map((t) => ({ value: Buffer.from('v'), timestampMs: 1_000_000 + t })) });
    const lo = (spec: string, timestampMs = 0): Promise<pb.ListOffsetsResponse__Output> => clients.log.ListOffsets({ topic, partition: 0, spec, timestampMs });
    expect((await lo('OFFSET_SPEC_EARLIEST')).offset).toBe(0);
    expect((await lo('OFFSET_SPEC_LATEST')).offset).toBe(3);
    expect(await lo('OFFSET_SPEC_TIMESTAMP', 1_000_150)).toEqual({ offset: 1, timestampMs: 1_000_200 });
    expect(await lo('OFFSET_SPEC_TIMESTAMP', 2_000_000)).toEqual({ offset: 3, timestampMs: -1 });
  });
});

describe('long poll', () => {
  it('returns promptly when data arrives', async () => {
    const topic = await createTopic();
    const started = Date.now();
    const pending = clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 0, maxWaitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 300));
    await clients.log.Produce({ topic, partition: 0, records: [{ value: Buffer.from('wake') }] });
    const res = await pending;
    expect(res.records.map((r) => text(r.value))).toEqual(['wake']);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('returns empty after max_wait_ms when nothing arrives', async () => {
    const topic = await createTopic();
    const started = Date.now();
    const res = await clients.log.Fetch<Fetched>({ topic, partition: 0, offset: 0, maxWaitMs: 500 });
    const elapsed = Date.now() - started;
    expect(res.records).toEqual([]);
    expect(res.nextOffset).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(15_000);
  });
});

describe('bad input gets its status and writes nothing', () => {
  let topic: string;
  beforeAll(async () => {
    topic = await createTopic(2, { 'max.message.bytes': '2000' });
    await clients.log.Produce({ topic, partition: 0, records: [{ value: Buffer.from('only') }] });
  });
  afterEach(async () => {
    const described = await clients.admin.DescribeTopic<pb.DescribeTopicResponse__Output>({ name: topic });
    expect(described.topic!.partitions.map((p) => p.logEndOffset)).toEqual([1, 0]);
  });
  const { INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, RESOURCE_EXHAUSTED } = grpc.status;
  const value = Buffer.from('v');

  it('unknown topic and partition', async () => {
    await expectStatus(clients.log.Produce({ topic: 'no-such-topic', records: [{ value }] }), NOT_FOUND, 'UNKNOWN_TOPIC');
    await expectStatus(clients.log.Produce({ topic, partition: 2, records: [{ value }] }), NOT_FOUND, 'UNKNOWN_PARTITION');
    await expectStatus(clients.log.Fetch({ topic, partition: 9, offset: 0 }), NOT_FOUND, 'UNKNOWN_PARTITION');
    await expectStatus(clients.admin.DescribeTopic({ name: 'no-such-topic' }), NOT_FOUND, 'UNKNOWN_TOPIC');
  });

  it('bad names and path traversal', async () => {
    for (const name of ['', '.', '..', '../etc', 'a/b', 'x'.repeat(250), 'sp ace', '__consumer_offsets']) {
      await expectStatus(clients.admin.CreateTopic({ name, partitions: 1 }), INVALID_ARGUMENT);
    }
    await expectStatus(clients.log.Produce({ topic: '../../tmp', records: [{ value }] }), INVALID_ARGUMENT, 'INVALID_TOPIC_NAME');
    await expectStatus(clients.log.Produce({ topic: '__consumer_offsets', records: [{ value }] }), INVALID_ARGUMENT, 'INVALID_TOPIC_NAME');
    await expectStatus(clients.log.Fetch({ topic: '../x', partition: 0, offset: 0 }), INVALID_ARGUMENT);
  });

  it('oversized record names the limit', async () => {
    const error = await expectStatus(clients.log.Produce({ topic, partition: 1, records: [{ value: Buffer.alloc(5000) }] }), INVALID_ARGUMENT, 'RECORD_TOO_LARGE');
    expect(error.details).toContain('2000');
  });

  it('negative or past-the-end offsets, bad sizes, partitions < 1, unknown config', async () => {
    await expectStatus(clients.log.Fetch({ topic, partition: 0, offset: -1 }), INVALID_ARGUMENT);
    const past = await expectStatus(clients.log.Fetch({ topic, partition: 0, offset: 5 }), OUT_OF_RANGE, 'OFFSET_OUT_OF_RANGE');
    expect(past.details).toContain('[0, 1]');
    await expectStatus(clients.log.Fetch({ topic, partition: -1, offset: 0 }), INVALID_ARGUMENT);
    await expectStatus(clients.log.Fetch({ topic, partition: 0, offset: 0, maxBytes: -5 }), INVALID_ARGUMENT);
    await expectStatus(clients.log.Produce({ topic, partition: -1, records: [{ value }] }), INVALID_ARGUMENT);
    await expectStatus(clients.log.Produce({ topic, records: [] }), INVALID_ARGUMENT);
    await expectStatus(clients.log.Produce({ topic, partition: 1, records: [{ value, timestampMs: -5 }] }), INVALID_ARGUMENT);
    await expectStatus(clients.admin.CreateTopic({ name: randomTopicName(), partitions: -1 }), INVALID_ARGUMENT, 'INVALID_PARTITIONS');
    const badKey = await expectStatus(clients.admin.CreateTopic({ name: randomTopicName(), partitions: 1, config: { 'retention.mss': '1' } }), INVALID_ARGUMENT, 'INVALID_CONFIG');
    expect(badKey.details).toContain('retention.mss');
    await expectStatus(clients.admin.CreatePartitions({ name: topic, count: 1 }), INVALID_ARGUMENT);
    await expectStatus(clients.log.Produce({ topic, records: Array.from({ length: 5001 }, () => ({ value })) }), RESOURCE_EXHAUSTED, 'REQUEST_TOO_LARGE');
  });

  it('garbage record_batch: bad CRC, wrong count, wrong magic, junk', async () => {
    const good = encodeRecordBatch([{ value: Buffer.from('a') }, { value: Buffer.from('b') }]);
    const badCrc = Buffer.from(good);
    badCrc[badCrc.length - 1] ^= 0xff;
    const wrongCount = Buffer.from(good);
    wrongCount.writeInt32BE(3, 57);
    const wrongMagic = Buffer.from(good);
    wrongMagic[16] = 1;
    for (const recordBatch of [badCrc, wrongCount, wrongMagic, Buffer.from('garbage'), Buffer.concat([good, Buffer.from('x')])]) {
      await expectStatus(clients.log.Produce({ topic, partition: 1, recordBatch }), INVALID_ARGUMENT, 'CORRUPT_RECORD_BATCH');
    }
    await expectStatus(clients.log.Produce({ topic, recordBatch: good }), INVALID_ARGUMENT);
  });
});

describe('max.message.bytes stays below the request size limit', () => {
  it('CreateTopic and AlterTopicConfig refuse one the broker could never receive, naming the key and the limit', async () => {
    const tooLarge = String(64 * 1024 * 1024); // the default limits.max_request_bytes
    const error = await expectStatus(clients.admin.CreateTopic({ name: randomTopicName(), partitions: 1, config: { 'max.message.bytes': tooLarge } }), grpc.status.INVALID_ARGUMENT, 'INVALID_CONFIG');
    expect(error.details).toMatch(/"max\.message\.bytes".*limits\.max_request_bytes \(67108864\)/);
    await expectStatus(clients.admin.CreateTopic({ name: randomTopicName(), partitions: 1, config: { 'max.message.bytes': '0' } }), grpc.status.INVALID_ARGUMENT, 'INVALID_CONFIG');
    const topic = await createTopic(1);
    await expectStatus(clients.admin.AlterTopicConfig({ name: topic, config: { 'max.message.bytes': tooLarge } }), grpc.status.INVALID_ARGUMENT, 'INVALID_CONFIG');
  });
});

describe('restarts', () => {
  it('keeps data, topics, configs and key placement across SIGTERM and SIGKILL', async () => {
    let b = await startBroker();
    let c = grpcClients(b.addr);
    const topic = randomTopicName();
    await c.admin.CreateTopic({ name: topic, partitions: 5, config: { 'retention.ms': '123456789' } });
    const keyed = async (): Promise<Map<string, number>> => {
      const keys = ['alpha', 'beta', 'gamma', 'delta'];
      const res = await c.log.Produce<Produced>({ topic, records: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from(k) })) });
      const out = new Map<string, number>();
      for (const r of res.results) (r.recordIndexes.length ? r.recordIndexes : [0, 1, 2, 3]).forEach((i) => out.set(keys[i], r.partition));
      return out;
    };
    const first = await keyed();
    c.close();
    expect(await b.stop()).toBe(0);

    b = await b.restart();
    c = grpcClients(b.addr);
    expect(await keyed()).toEqual(first);
    const described = await c.admin.DescribeTopic<pb.DescribeTopicResponse__Output>({ name: topic });
    expect(described.topic!.overrides).toEqual({ 'retention.ms': '123456789' });
    expect(described.topic!.partitions.reduce((n, p) => n + p.highWatermark, 0)).toBe(8);
    // Acked before SIGKILL means present after it.
    await c.log.Produce({ topic, partition: 0, records: [{ value: Buffer.from('acked') }] });
    c.close();
    await b.kill();

    b = await b.restart();
    c = grpcClients(b.addr);
    const hw = (await c.log.ListOffsets<pb.ListOffsetsResponse__Output>({ topic, partition: 0, spec: 'OFFSET_SPEC_LATEST' })).offset;
    const res = await c.log.Fetch<Fetched>({ topic, partition: 0, offset: hw - 1 });
    expect(text(res.records[0].value)).toBe('acked');
    c.close();
    expect(await b.stop()).toBe(0);
  });
});
