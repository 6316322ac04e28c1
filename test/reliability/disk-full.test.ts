/**
 * A broker on a 48 MiB ext4 filesystem of its own (mostly taken by a ballast
 * file, so ~10 MiB are left), filled until writes fail:
 * - Produce answers RESOURCE_EXHAUSTED with brook-error-code DISK_FULL, the
 *   broker stays up and keeps serving fetches and group calls;
 * - nothing acknowledged is lost, offsets stay contiguous, and the segment
 *   files hold only whole, valid batches (no half-written batch left behind),
 *   both right after the episode and after an unclean restart on the full disk;
 * - once a topic deletion frees space, writes are accepted again.
 * Skipped, saying why, when the test cannot mount a filesystem (needs root).
 */
import * as grpc from '@grpc/grpc-js';
import { execFileSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import { ERROR_CODE_METADATA_KEY } from '../../src/common/errors';
import type { pb } from '../../src/protocol';
import { splitBatches, validateRecordBatch } from '../../src/record';
import { grpcClients, startBroker, stopAllBrokers, type BrokerProcess, type GrpcClients } from '../helpers/broker';
import { recordDigest } from './crash-rounds';
import { freeBytes, mountSmallFilesystem, type SmallFilesystem } from './small-filesystem';
import { Random } from './random';

type Fetched = pb.FetchResponse__Output;
type Produced = pb.ProduceResponse__Output;

const mounted = mountSmallFilesystem(48);
const skipReason = 'skipReason' in mounted ? mounted.skipReason : undefined;
if (skipReason) console.warn(`SKIPPED disk-full tests: ${skipReason}`);
const describeIfMounted = skipReason ? describe.skip : describe;

const FILL = 'fill';
const KEEP = 'keep';
const GROUP = 'disk-full-group';

let broker: BrokerProcess | undefined;
let clients: GrpcClients | undefined;

afterAll(async () => {
  clients?.close();
  if (broker) await broker.kill().catch(() => undefined);
  await stopAllBrokers();
  if (!skipReason) (mounted as SmallFilesystem).remove();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every .log file of a partition: whole valid batches back to back, contiguous offsets. Returns the next offset. */
function checkSegmentFiles(dir: string): { nextOffset: number; bytes: number } {
  const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
  let expected: number | undefined;
  let bytes = 0;
  for (const file of logs) {
    const data = fs.readFileSync(path.join(dir, file));
    bytes += data.length;
    const { batches, partial } = splitBatches(data, 0);
    if (partial) throw new Error(`${file}: ${data.length - partial.position} bytes of a partial batch at position ${partial.position}`);
    for (const b of batches) {
      const header = validateRecordBatch(data, b.position, b.header.sizeInBytes);
      if (expected !== undefined && header.baseOffset !== expected) throw new Error(`${file}: batch at ${b.position} starts at offset ${header.baseOffset}, expected ${expected}`);
      expected = header.lastOffset + 1;
    }
  }
  return { nextOffset: expected ?? 0, bytes };
}

describeIfMounted('a broker on a full disk', () => {
  const random = new Random(7);
  const acked: Array<Map<number, string>> = [new Map(), new Map()];
  const keepDigests = new Map<number, string>();
  const statuses = new Map<string, number>();
  let dataDir: string;

  beforeAll(async () => {
    dataDir = path.join((mounted as SmallFilesystem).dir, 'data');
    broker = await startBroker({ dataDir, config: { 'topic.segment.bytes': 1024 * 1024 } });
    clients = grpcClients(broker.addr);
    await clients.admin.CreateTopic({ name: KEEP, partitions: 1 });
    await clients.admin.CreateTopic({ name: FILL, partitions: 2 });
    const records = Array.from({ length: 20 }, (_, i) => ({ key: Buffer.from(`k${i}`), value: random.bytes(100), timestampMs: 1_700_000_000_000 + i }));
    const res = await clients.log.Produce<Produced>({ topic: KEEP, partition: 0, records });
    records.forEach((r, i) => keepDigests.set(Number(res.results[0].baseOffset) + i, recordDigest({ ...r, offset: 0, headers: [] })));
    await clients.groups.CommitOffsets({ groupId: GROUP, memberId: '', memberEpoch: 0, offsets: [{ topic: KEEP, partition: 0, offset: 10 }] });
    // Ballast outside the data dir leaves ~10 MiB for the broker, so filling
    // it takes a few hundred fdatasynced produces rather than thousands.
    const ballast = freeBytes(dataDir) - 10 * 1024 * 1024;
    if (ballast > 0) execFileSync('fallocate', ['-l', String(ballast), path.join((mounted as SmallFilesystem).dir, 'ballast')]);
  });

  it('answers RESOURCE_EXHAUSTED / DISK_FULL when space runs out and acknowledges nothing it did not keep', async () => {
    const c = clients!;
    let diskFull = 0;
    let afterFirstFull = 0;
    const producer = async (id: number): Promise<void> => {
      // Bounded: 10 MiB / ~120 KiB per request is ~100 requests in all; stop 60 attempts after the first DISK_FULL.
      for (let i = 0; i < 5000 && afterFirstFull < 60; i++) {
        if (diskFull > 0) afterFirstFull++;
        const partition = (id + i) % 2;
        const n = random.int(1, 4);
        const now = Date.now();
        const records = Array.from({ length: n }, (_, j) => ({ key: Buffer.from(`p${id}-${i}-${j}`), value: random.bytes(random.int(10, 120_000)), timestampMs: now }));
        try {
          const res = await c.log.Produce<Produced>({ topic: FILL, partition, records }, { timeoutMs: 20_000 });
          records.forEach((r, j) => acked[partition].set(Number(res.results[0].baseOffset) + j, recordDigest({ ...r, offset: 0, headers: [] })));
        } catch (e) {
          const err = e as grpc.ServiceError;
          const key = `${grpc.status[err.code]}/${err.metadata?.get(ERROR_CODE_METADATA_KEY)[0] ?? '-'}`;
          statuses.set(key, (statuses.get(key) ?? 0) + 1);
          if (err.code === grpc.status.RESOURCE_EXHAUSTED) diskFull++;
          else throw new Error(`produce failed with ${key}: ${err.details}`);
        }
      }
    };
    await Promise.all([0, 1, 2, 3].map(producer));
    console.log(`disk full: acknowledged ${acked[0].size + acked[1].size} records, refused: ${JSON.stringify(Object.fromEntries(statuses))}, free bytes ${freeBytes(dataDir)}`);
    expect(diskFull).toBeGreaterThan(0);
    expect([...statuses.keys()]).toEqual(['RESOURCE_EXHAUSTED/DISK_FULL']);
    expect(alive(broker!.pid)).toBe(true);
  }, 120_000);

  it('keeps serving fetches and group calls while the disk is full', async () => {
    const c = clients!;
    const keep = await c.log.Fetch<Fetched>({ topic: KEEP, partition: 0, offset: 0 });
    expect(keep.records.map((r) => recordDigest({ ...r, offset: 0, timestampMs: Number(r.timestampMs) }))).toEqual([...keepDigests.values()]);
    const offsets = await c.groups.FetchOffsets<pb.FetchOffsetsResponse__Output>({ groupId: GROUP, topics: [KEEP] });
    expect(offsets.offsets.map((o) => [o.topic, o.partition, Number(o.offset)])).toEqual([[KEEP, 0, 10]]);
    await c.groups.DescribeGroup({ groupId: GROUP });
    await c.groups.ListGroups({});
    await c.admin.DescribeTopic({ name: FILL });
    // A commit needs space in __consumer_offsets: it either lands or is refused as DISK_FULL, never hangs.
    try {
      await c.groups.CommitOffsets({ groupId: GROUP, memberId: '', memberEpoch: 0, offsets: [{ topic: KEEP, partition: 0, offset: 12 }] }, { timeoutMs: 10_000 });
    } catch (e) {
      expect((e as grpc.ServiceError).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    }
    for (let partition = 0; partition < 2; partition++) {
      const got = await readPartition(c, FILL, partition);
      for (const [offset, digest] of acked[partition]) expect([offset, got.get(offset)]).toEqual([offset, digest]);
    }
  }, 60_000);

  it('leaves only whole, valid batches on disk, and an unclean restart on the full disk loses nothing acknowledged', async () => {
    await broker!.kill();
    for (let partition = 0; partition < 2; partition++) {
      const { nextOffset } = checkSegmentFiles(path.join(dataDir, 'topics', FILL, String(partition)));
      expect(nextOffset).toBeGreaterThanOrEqual(Math.max(0, ...acked[partition].keys()) + 1);
    }
    broker = await startBroker({ dataDir, config: { 'topic.segment.bytes': 1024 * 1024 } });
    clients!.close();
    clients = grpcClients(broker.addr);
    expect(broker.logs()).not.toMatch(/truncat/i);
    for (let partition = 0; partition < 2; partition++) {
      const got = await readPartition(clients, FILL, partition);
      for (const [offset, digest] of acked[partition]) expect([offset, got.get(offset)]).toEqual([offset, digest]);
    }
  }, 90_000);

  it('accepts writes again once deleting a topic frees space', async () => {
    const c = clients!;
    const before = freeBytes(dataDir);
    await c.admin.DeleteTopic({ name: FILL });
    expect(freeBytes(dataDir)).toBeGreaterThan(before + 8 * 1024 * 1024);
    const res = await c.log.Produce<Produced>({ topic: KEEP, partition: 0, records: [{ value: Buffer.from('after') }] });
    expect(Number(res.results[0].baseOffset)).toBe(20);
    await c.admin.CreateTopic({ name: 'again', partitions: 1 });
    await c.log.Produce<Produced>({ topic: 'again', partition: 0, records: [{ value: random.bytes(100_000) }] });
    await c.groups.CommitOffsets({ groupId: GROUP, memberId: '', memberEpoch: 0, offsets: [{ topic: KEEP, partition: 0, offset: 21 }] });
    expect(await broker!.stop()).toBe(0);
  }, 60_000);
});

async function readPartition(c: GrpcClients, topic: string, partition: number): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  let offset = 0;
  for (let i = 0; i < 100_000; i++) {
    const res = await c.log.Fetch<Fetched>({ topic, partition, offset, maxBytes: 8 * 1024 * 1024 });
    for (const r of res.records) {
      const o = Number(r.offset);
      out.set(o, recordDigest({ ...r, offset: o, timestampMs: Number(r.timestampMs) }));
    }
    if (Number(res.nextOffset) >= Number(res.highWatermark) || Number(res.nextOffset) === offset) break;
    offset = Number(res.nextOffset);
  }
  const offsets = [...out.keys()];
  offsets.forEach((o, i) => {
    if (o !== i) throw new Error(`${topic}-${partition}: offset ${o} at position ${i} (offsets not contiguous)`);
  });
  return out;
}
