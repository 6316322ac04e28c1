/**
 * Subscribe against a real broker: streaming several partitions from a start
 * position, and HTTP/2 flow control keeping the broker's memory bounded when
 * the reader stops reading.
 */
import fs from 'fs';
import type * as grpc from '@grpc/grpc-js';
import type { pb } from '../../src/protocol';
import { grpcClients, randomTopicName, startBroker, stopAllBrokers, type BrokerProcess, type GrpcClients } from '../helpers/broker';

type Fetched = pb.FetchResponse__Output;

let broker: BrokerProcess;
let clients: GrpcClients;

beforeAll(async () => {
  broker = await startBroker({ config: { 'topic.flush.policy': 'never' } });
  clients = grpcClients(broker.addr);
});

afterAll(async () => {
  clients?.close();
  if (broker) await broker.stop();
  await stopAllBrokers();
});

function rssBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Collects streamed records until `want` have arrived. */
function collect(stream: grpc.ClientReadableStream<Fetched>, want: number): Promise<Array<[number, number, string]>> {
  const seen: Array<[number, number, string]> = [];
  return new Promise((resolve, reject) => {
    stream.on('data', (msg: Fetched) => {
      for (const r of msg.records) seen.push([msg.partition, r.offset, r.value!.toString()]);
      if (seen.length >= want) resolve(seen);
    });
    stream.on('error', (e: grpc.ServiceError) => {
      if (e.code !== 1) reject(e); // CANCELLED is ours
    });
  });
}

it('streams several partitions from earliest, then follows new records', async () => {
  const topic = randomTopicName();
  await clients.admin.CreateTopic({ name: topic, partitions: 3 });
  for (const partition of [0, 1, 2]) {
    await clients.log.Produce({ topic, partition, records: [0, 1].map((i) => ({ value: Buffer.from(`${partition}:${i}`) })) });
  }
  const stream = clients.log.raw.Subscribe({ topic, position: 'START_POSITION_EARLIEST', partitions: [0, 2] }) as grpc.ClientReadableStream<Fetched>;
  const done = collect(stream, 6);
  await new Promise((r) => setTimeout(r, 200));
  await clients.log.Produce({ topic, partition: 2, records: [{ value: Buffer.from('2:2') }] });
  await clients.log.Produce({ topic, partition: 0, records: [{ value: Buffer.from('0:2') }] });
  const seen = await done;
  stream.cancel();
  for (const p of [0, 2]) expect(seen.filter((s) => s[0] === p).map((s) => [s[1], s[2]])).toEqual([[0, `${p}:0`], [1, `${p}:1`], [2, `${p}:2`]]);
});

it('starts at an offset per partition and refuses one outside the log', async () => {
  const topic = randomTopicName();
  await clients.admin.CreateTopic({ name: topic, partitions: 2 });
  for (const partition of [0, 1]) await clients.log.Produce({ topic, partition, records: [0, 1, 2].map((i) => ({ value: Buffer.from(`${i}`) })) });
  const stream = clients.log.raw.Subscribe({ topic, offset: 1, partitionOffsets: { 1: 2 } }) as grpc.ClientReadableStream<Fetched>;
  const seen = await collect(stream, 3);
  stream.cancel();
  expect(seen.map(([p, o]) => `${p}@${o}`).sort()).toEqual(['0@1', '0@2', '1@2']);

  const bad = clients.log.raw.Subscribe({ topic, offset: 99 }) as grpc.ClientReadableStream<Fetched>;
  const status = await new Promise<grpc.ServiceError>((resolve) => bad.on('error', resolve));
  expect(status.code).toBe(11); // OUT_OF_RANGE
});

it('a reader that stops reading does not grow the broker RSS without bound', async () => {
  const topic = randomTopicName();
  await clients.admin.CreateTopic({ name: topic, partitions: 1 });
  const stream = clients.log.raw.Subscribe({ topic, position: 'START_POSITION_LATEST', maxBytes: 256 * 1024, raw: true }) as grpc.ClientReadableStream<Fetched>;
  let received = 0;
  stream.on('data', (msg: Fetched) => {
    received += msg.recordBatches.length;
    stream.pause(); // stop reading after the first message
  });
  stream.on('error', () => undefined);
  await new Promise((r) => setTimeout(r, 200));

  const value = Buffer.alloc(256 * 1024, 7);
  const produceMiB = async (mib: number): Promise<void> => {
    for (let i = 0; i < mib * 4; i += 8) {
      await Promise.all(Array.from({ length: 8 }, () => clients.log.Produce({ topic, partition: 0, records: [{ value }] })));
    }
  };
  await produceMiB(32); // warm up: allocations, page cache, socket buffers
  const baseline = rssBytes(broker.pid);
  await produceMiB(256);
  const growth = rssBytes(broker.pid) - baseline;
  stream.cancel();
  // Without flow control the broker would hold the whole 256 MiB for this reader.
  expect(received).toBeLessThan(8 * 1024 * 1024);
  expect(growth).toBeLessThan(96 * 1024 * 1024);
}, 120_000);

it('a Subscribe stream and a long-poll Fetch end with NOT_FOUND when their topic is deleted', async () => {
  const topic = randomTopicName();
  await clients.admin.CreateTopic({ name: topic, partitions: 2 });
  await clients.log.Produce({ topic, partition: 0, records: [{ value: Buffer.from('a') }] });
  const stream = clients.log.raw.Subscribe({ topic, position: 'START_POSITION_EARLIEST' }) as grpc.ClientReadableStream<Fetched>;
  const ended = new Promise<grpc.ServiceError>((resolve) => {
    stream.on('data', () => undefined);
    stream.on('error', resolve);
  });
  const fetched = clients.log.Fetch({ topic, partition: 1, offset: 0, maxWaitMs: 25_000, minBytes: 1 }).then(
    () => null,
    (e: grpc.ServiceError) => e,
  );
  await new Promise((r) => setTimeout(r, 300));
  const deletedAt = Date.now();
  await clients.admin.DeleteTopic({ name: topic });
  const [streamError, fetchError] = await Promise.all([ended, fetched]);
  expect(Date.now() - deletedAt).toBeLessThan(5000);
  expect(streamError).toMatchObject({ code: 5 }); // NOT_FOUND
  expect(streamError.details).toContain(topic);
  expect(fetchError).toMatchObject({ code: 5 });
});

it('a Subscribe to 12 partitions prints no MaxListenersExceededWarning', async () => {
  // Its own broker, stopped before its output is read: all of it is in.
  const own = await startBroker({ config: { 'topic.flush.policy': 'never' } });
  const ownClients = grpcClients(own.addr);
  try {
    const topic = randomTopicName();
    await ownClients.admin.CreateTopic({ name: topic, partitions: 12 });
    const stream = ownClients.log.raw.Subscribe({ topic, position: 'START_POSITION_EARLIEST' }) as grpc.ClientReadableStream<Fetched>;
    const done = collect(stream, 12);
    for (let partition = 0; partition < 12; partition++) await ownClients.log.Produce({ topic, partition, records: [{ value: Buffer.from(`${partition}`) }] });
    const seen = await done;
    stream.cancel();
    expect(seen.map((s) => s[0]).sort((a, b) => a - b)).toEqual([...Array(12).keys()]);
  } finally {
    ownClients.close();
    expect(await own.stop()).toBe(0);
  }
  expect(own.logs()).not.toContain('MaxListenersExceededWarning');
});
