/**
 * Hostile input: every unary RPC of Log, Admin and Groups (and Subscribe,
 * and ProduceStream with one request) gets random and mutated messages over a grpc-js client whose serializers
 * pass bytes through, so anything can go on the wire:
 *   - structurally valid messages with hostile values (names with `..`, `/`,
 *     NUL, 100 KB strings; negative, huge and boundary integers; unknown
 *     enum numbers; unknown config keys and unparsable values),
 *   - huge repeated fields (tens of thousands of records, topics, partitions,
 *     offsets),
 *   - `record_batch` bytes: random, a valid batch with bits flipped, with its
 *     length / count / magic fields changed, truncated or padded,
 *   - protobuf bytes mutated after encoding: bit flips, truncation, spliced
 *     random bytes, overlong varints, huge length prefixes, and unknown groups
 *     nested thousands deep.
 * Call i uses its own generator seeded from (seed, i), so a failing call can
 * be replayed alone. The run checks that the broker process stays alive,
 * that every call ends with a status before its deadline, the broker's RSS,
 * and that a topic and a group written before the run are byte-for-byte the
 * same after it.
 */
import * as grpc from '@grpc/grpc-js';
import { brookPackageDefinition } from '../../src/protocol';
import { encodeRecordBatch } from '../../src/record';
import { TOPIC_CONFIG_KEYS } from '../../src/storage';
import { startBroker, type BrokerProcess } from '../helpers/broker';
import { grpcClients } from '../helpers/grpc';
import { alive, rssKiB } from '../helpers/process-stats';
import { Random } from './random';

export interface FuzzOptions {
  calls: number;
  seed: number;
  /** Calls in flight at once (default 16). */
  concurrency?: number;
  /** Per-call deadline (default 30 s); the broker caps long polls at 1 s, so hitting it means a hang. */
  deadlineMs?: number;
  onProgress?: (report: FuzzReport) => void;
}

export interface FuzzReport {
  seed: number;
  calls: number;
  /** gRPC status name (or STREAM_CANCELLED_BY_FUZZER for Subscribe and ProduceStream calls the fuzzer ended) → count. */
  statuses: Record<string, number>;
  /** Broker exits observed (the run restarts it to go on, and reports them). */
  crashes: number;
  /** Calls that ran into their deadline: hangs. */
  deadlineExceeded: Array<{ call: number; method: string }>;
  /** INTERNAL / UNKNOWN answers from the broker (not grpc-js's undecodable-request answer), with the call that caused them (first 20). */
  internalErrors: Array<{ call: number; method: string; details: string }>;
  maxRssKiB: number;
  startRssKiB: number;
  endRssKiB: number;
  /** Health/Check SERVING at the end. */
  servingAtEnd: boolean;
  /** The known topic and group read back the same after the run. */
  dataUnchanged: boolean;
  elapsedMs: number;
}

export interface Method {
  service: 'Log' | 'Admin' | 'Groups';
  name: string;
  path: string;
  streaming: boolean;
  serialize: (value: object) => Buffer;
}

const KNOWN_TOPIC = 'fuzz-known-data';
const KNOWN_GROUP = 'fuzz-known-group';
const FUZZ_TOPICS = ['fz-0', 'fz-1', 'fz-2', 'fz-3'];

function methods(): Method[] {
  const def = brookPackageDefinition();
  const out: Method[] = [];
  for (const service of ['Log', 'Admin', 'Groups'] as const) {
    const svc = def[`brook.v1.${service}`] as Record<string, { path: string; requestStream: boolean; responseStream: boolean; requestSerialize: (v: object) => Buffer }>;
    for (const [name, m] of Object.entries(svc)) out.push({ service, name, path: m.path, streaming: m.responseStream, serialize: m.requestSerialize });
  }
  return out;
}

// ------------------------------------------------------------ value pools

function hostileString(r: Random): string {
  switch (r.int(0, 14)) {
    case 0: return '';
    case 1: return '.';
    case 2: return '..';
    case 3: return '../../etc/passwd';
    case 4: return '/tmp/x';
    case 5: return 'a'.repeat(r.pick([249, 250, 1000, 100_000]));
    case 6: return '__consumer_offsets';
    case 7: return '__internal-' + r.int(0, 9);
    case 8: return 'nul\u0000byte';
    case 9: return 'üñí€😀';
    case 10: return 'a/b';
    case 11: return r.bytes(r.int(1, 40)).toString('latin1');
    default: return r.pick(FUZZ_TOPICS);
  }
}

function topicName(r: Random): string {
  return r.chance(0.7) ? r.pick(FUZZ_TOPICS) : hostileString(r);
}

function hostileInt32(r: Random): number {
  return r.pick([0, 1, 2, 3, -1, -2, 2 ** 31 - 1, -(2 ** 31), 10_001, 1_000_000, r.int(-100, 100)]);
}

function hostileInt64(r: Random): number {
  return r.pick([0, 1, -1, 2 ** 53 - 1, -(2 ** 53 - 1), 2 ** 31, 2 ** 32, 1e15, r.int(-1000, 100_000), Date.now()]);
}

function smallPartitions(r: Random): number {
  return r.pick([-1, 0, 1, 2, 3, 2 ** 31 - 1, -(2 ** 31), 10_001, 1_000_000]);
}

function hostileBytes(r: Random): Buffer | undefined {
  switch (r.int(0, 4)) {
    case 0: return undefined;
    case 1: return Buffer.alloc(0);
    case 2: return r.bytes(r.int(1, 64));
    case 3: return r.chance(0.02) ? Buffer.alloc(r.pick([1 << 20, 2 << 20]), 0x61) : r.bytes(r.int(64, 4096));
    default: return Buffer.from('v');
  }
}

function configMap(r: Random): Record<string, string> {
  const out: Record<string, string> = {};
  const keys = Object.keys(TOPIC_CONFIG_KEYS);
  for (let i = r.int(0, 4); i > 0; i--) {
    const key = r.chance(0.8) ? r.pick(keys) : hostileString(r);
    out[key] = r.pick(['', '-1', '0', '1', '100', '1e9', '9999999999999999999', 'always', 'interval', 'never', 'LogAppendTime', 'x', ' 12', hostileString(r)]);
  }
  return out;
}

function records(r: Random): object[] {
  const huge = r.chance(0.01);
  const n = huge ? r.pick([10_000, 50_000, 100_001]) : r.int(0, 6);
  const out: object[] = [];
  for (let i = 0; i < n; i++) {
    out.push(huge ? { value: Buffer.from('x') } : {
      key: hostileBytes(r),
      value: hostileBytes(r),
      headers: r.chance(0.3) ? Array.from({ length: r.int(0, 5) }, () => ({ key: r.chance(0.5) ? 'h' : hostileString(r), value: hostileBytes(r) })) : [],
      timestampMs: r.chance(0.5) ? 0 : hostileInt64(r),
    });
  }
  return out;
}

/** RecordBatch v2 bytes, valid or damaged in one of many ways. */
function recordBatchBytes(r: Random): Buffer {
  const count = r.int(1, 5);
  const batch = encodeRecordBatch(Array.from({ length: count }, (_, i) => ({ key: Buffer.from(`k${i}`), value: r.bytes(r.int(0, 200)) })), { baseTimestampMs: Date.now() });
  switch (r.int(0, 11)) {
    case 0: return batch; // valid
    case 1: return r.bytes(r.int(1, 200));
    case 2: { batch[r.int(0, batch.length - 1)] ^= 1 << r.int(0, 7); return batch; }
    case 3: return batch.subarray(0, r.int(0, batch.length - 1));
    case 4: return Buffer.concat([batch, r.bytes(r.int(1, 100))]);
    case 5: { batch.writeInt32BE(r.pick([0, -1, 1, 2 ** 31 - 1, batch.length * 2]), 8); return batch; } // batch length
    case 6: { batch.writeInt32BE(r.pick([0, -1, count + 1, 2 ** 31 - 1]), 57); return batch; } // record count
    case 7: { batch[16] = r.pick([0, 1, 3, 255]); return batch; } // magic
    case 8: { batch.writeInt16BE(r.pick([1, 2, 3, 4, 0x20, 0x10, -1]), 21); return batch; } // attributes: compression, control, transactional
    case 9: return Buffer.concat([batch, batch]); // two batches where one is allowed
    case 10: { batch.writeInt32BE(r.pick([-1, 0, 2 ** 31 - 1]), 23); return batch; } // last offset delta
    default: { for (let i = r.int(1, 8); i > 0; i--) batch[r.int(0, batch.length - 1)] = r.int(0, 255); return batch; }
  }
}

/** A message object for `method` with hostile values (serialized by the real serializer). */
function messageFor(method: Method, r: Random): object {
  const topic = topicName(r);
  switch (method.name) {
    case 'Produce':
      return r.chance(0.5)
        ? { topic, partition: r.chance(0.8) ? hostileInt32(r) : undefined, recordBatch: recordBatchBytes(r), acks: r.pick(['ACKS_LEADER', 'ACKS_ALL', 'ACKS_NONE']) }
        : { topic, partition: r.chance(0.5) ? hostileInt32(r) : undefined, records: records(r), acks: r.pick(['ACKS_LEADER', 'ACKS_ALL', 'ACKS_NONE']), recordBatch: r.chance(0.1) ? recordBatchBytes(r) : undefined };
    case 'ProduceStream':
      return { requestId: r.chance(0.5) ? r.int(0, 2 ** 31 - 1) : r.pick([0, 2 ** 32 - 1]), request: messageFor({ ...method, name: 'Produce' }, r) };
    case 'Fetch':
      return { topic, partition: hostileInt32(r), offset: hostileInt64(r), maxBytes: hostileInt32(r), maxWaitMs: r.pick([0, 10, 200, -1, 2 ** 31 - 1]), minBytes: hostileInt32(r), raw: r.chance(0.5) };
    case 'Subscribe': {
      const start = r.int(0, 3);
      return {
        topic,
        partitions: Array.from({ length: r.chance(0.02) ? 50_000 : r.int(0, 4) }, () => hostileInt32(r)),
        ...(start === 0 ? { offset: hostileInt64(r) } : start === 1 ? { position: r.pick(['START_POSITION_EARLIEST', 'START_POSITION_LATEST']) } : start === 2 ? { timestampMs: hostileInt64(r) } : {}),
        partitionOffsets: r.chance(0.3) ? { [hostileInt32(r)]: hostileInt64(r) } : {},
        maxBytes: hostileInt32(r),
        raw: r.chance(0.5),
      };
    }
    case 'ListOffsets':
      return { topic, partition: hostileInt32(r), spec: r.pick(['OFFSET_SPEC_EARLIEST', 'OFFSET_SPEC_LATEST', 'OFFSET_SPEC_TIMESTAMP']), timestampMs: hostileInt64(r) };
    case 'CreateTopic':
      return { name: topic, partitions: smallPartitions(r), config: configMap(r) };
    case 'DeleteTopic':
    case 'DescribeTopic':
      return { name: topic };
    case 'ListTopics':
      return { includeInternal: r.chance(0.5) };
    case 'AlterTopicConfig':
      return { name: topic, config: configMap(r), deleteKeys: Array.from({ length: r.int(0, 3) }, () => (r.chance(0.5) ? r.pick(Object.keys(TOPIC_CONFIG_KEYS)) : hostileString(r))) };
    case 'CreatePartitions':
      return { name: topic, count: smallPartitions(r) };
    case 'Heartbeat':
      return {
        groupId: groupId(r), memberId: r.chance(0.5) ? '' : hostileString(r), memberEpoch: hostileInt32(r),
        instanceId: r.chance(0.3) ? hostileString(r) : undefined,
        // Huge lists use short names (a 100,000-entry list of 100 KB names would be a 10 GB message).
        topics: r.chance(0.02) ? Array.from({ length: 100_000 }, (_, k) => `t${k % 1000}`) : Array.from({ length: r.int(0, 3) }, () => topicName(r)),
        owned: Array.from({ length: r.int(0, 3) }, () => ({ topic: topicName(r), partitions: Array.from({ length: r.chance(0.05) ? 100_000 : r.int(0, 3) }, () => hostileInt32(r)) })),
        sessionTimeoutMs: r.pick([0, 1, 999, 1000, 45_000, 1_800_001, -1, 2 ** 31 - 1]),
        assignor: r.chance(0.5) ? r.pick(['range', 'roundrobin', 'sticky', '', 'bogus']) : undefined,
      };
    case 'Leave':
      return { groupId: groupId(r), memberId: hostileString(r), memberEpoch: hostileInt32(r) };
    case 'CommitOffsets':
      return {
        groupId: groupId(r), memberId: r.chance(0.7) ? '' : hostileString(r), memberEpoch: r.chance(0.7) ? 0 : hostileInt32(r),
        offsets: Array.from({ length: r.chance(0.02) ? 20_000 : r.int(0, 4) }, () => ({ topic: topicName(r), partition: hostileInt32(r), offset: hostileInt64(r), metadata: r.chance(0.3) ? hostileString(r) : undefined })),
      };
    case 'FetchOffsets':
      return { groupId: groupId(r), topics: Array.from({ length: r.int(0, 3) }, () => topicName(r)) };
    case 'DescribeGroup':
    case 'DeleteGroup':
      return { groupId: groupId(r) };
    case 'ListGroups':
      return {};
    case 'ResetOffsets':
      return {
        groupId: groupId(r), topic, partitions: Array.from({ length: r.int(0, 3) }, () => hostileInt32(r)),
        to: r.pick(['RESET_TO_EARLIEST', 'RESET_TO_LATEST', 'RESET_TO_OFFSET', 'RESET_TO_TIMESTAMP']), offset: hostileInt64(r), timestampMs: hostileInt64(r), dryRun: r.chance(0.5),
      };
    default:
      return {};
  }
}

function groupId(r: Random): string {
  return r.chance(0.7) ? `fzg-${r.int(0, 3)}` : hostileString(r);
}

/** Unknown start-group fields nested `depth` deep (protobuf wire type 3/4). */
function nestedGroups(depth: number): Buffer {
  const start = 0x7b; // field 15, wire type 3
  const end = 0x7c; // field 15, wire type 4
  const out = Buffer.alloc(depth * 2);
  out.fill(start, 0, depth);
  out.fill(end, depth);
  return out;
}

/** The bytes to send: an encoded message, often mutated on the wire. */
function wireBytes(method: Method, r: Random): Buffer {
  let encoded: Buffer;
  try {
    encoded = method.serialize(messageFor(method, r));
  } catch {
    encoded = r.bytes(r.int(0, 64)); // a value the serializer rejects: send noise instead
  }
  // About 40% of calls mutate the encoded bytes; the rest reach the broker's
  // own validation with hostile values.
  switch (r.int(0, 24)) {
    case 0: return r.bytes(r.int(0, 512));
    case 1: { const b = Buffer.from(encoded); for (let i = r.int(1, 8); i > 0 && b.length > 0; i--) b[r.int(0, b.length - 1)] ^= 1 << r.int(0, 7); return b; }
    case 2: return encoded.subarray(0, r.int(0, Math.max(0, encoded.length - 1)));
    case 3: return Buffer.concat([encoded, r.bytes(r.int(1, 64))]);
    case 4: { const at = r.int(0, encoded.length); return Buffer.concat([encoded.subarray(0, at), r.bytes(r.int(1, 32)), encoded.subarray(at)]); }
    case 5: return Buffer.concat([encoded, Buffer.from([0x08]), Buffer.alloc(10, 0xff), Buffer.from([0x01])]); // overlong varint in field 1
    case 6: return Buffer.concat([Buffer.from([0x1a, 0xff, 0xff, 0xff, 0xff, 0x07]), r.bytes(16)]); // field 3 claims 2 GiB
    case 7: return Buffer.concat([encoded, nestedGroups(r.pick([100, 5_000, 50_000, 200_000]))]);
    case 8: return Buffer.concat([encoded, Buffer.from([0x7b])]); // unterminated group
    case 9: return Buffer.concat([encoded, Buffer.from([0x0f])]); // wire type 7 (invalid)
    default: return encoded;
  }
}

// ------------------------------------------------------------ running

/** grpc.health.v1.Health/Check for the whole server: true when SERVING. */
export function healthServing(client: grpc.Client, deadlineMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    client.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
      resolve(!err && res !== undefined && res.equals(Buffer.from([0x08, 0x01])));
    });
  });
}

/** Call `i` of the run with `seed`: its method and wire bytes (for replaying one call alone). */
export function fuzzCallAt(seed: number, i: number, all: Method[] = methods()): { method: Method; bytes: Buffer; random: Random } {
  const random = new Random(callSeed(seed, i));
  const method = random.pick(all);
  return { method, bytes: wireBytes(method, random), random };
}

function callSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

/** A snapshot of what the known topic and group hold: raw batch bytes per partition and committed offsets. */
async function snapshotKnownData(addr: string): Promise<string> {
  const clients = grpcClients(addr);
  try {
    const parts: string[] = [];
    for (let partition = 0; partition < 3; partition++) {
      const res = await clients.log.Fetch<{ recordBatches: Buffer; highWatermark: number; logStartOffset: number }>({ topic: KNOWN_TOPIC, partition, offset: 0, raw: true, maxBytes: 8 << 20 });
      parts.push(`${partition}:${res.logStartOffset}:${res.highWatermark}:${res.recordBatches.toString('base64')}`);
    }
    const offsets = await clients.groups.FetchOffsets<{ offsets: Array<{ topic: string; partition: number; offset: number; metadata: string }> }>({ groupId: KNOWN_GROUP });
    parts.push(JSON.stringify(offsets.offsets.map((o) => [o.topic, o.partition, Number(o.offset), o.metadata])));
    return parts.join('\n');
  } finally {
    clients.close();
  }
}

async function writeKnownData(addr: string): Promise<void> {
  const clients = grpcClients(addr);
  try {
    await clients.admin.CreateTopic({ name: KNOWN_TOPIC, partitions: 3 });
    for (let partition = 0; partition < 3; partition++) {
      for (let i = 0; i < 5; i++) {
        await clients.log.Produce({ topic: KNOWN_TOPIC, partition, records: Array.from({ length: 20 }, (_, j) => ({ key: Buffer.from(`k${j}`), value: Buffer.from(`known ${partition}/${i}/${j}`) })) });
      }
    }
    await clients.groups.CommitOffsets({ groupId: KNOWN_GROUP, memberId: '', memberEpoch: 0, offsets: [0, 1, 2].map((p) => ({ topic: KNOWN_TOPIC, partition: p, offset: 50, metadata: 'before fuzz' })) });
    for (const name of FUZZ_TOPICS.slice(0, 2)) await clients.admin.CreateTopic({ name, partitions: 2 });
  } finally {
    clients.close();
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const concurrency = options.concurrency ?? 16;
  const deadlineMs = options.deadlineMs ?? 30_000;
  const all = methods();
  const started = Date.now();
  // Long polls capped at 1 s so that a call hitting its 30 s deadline is a hang, not a wait.
  const brokerConfig = { 'limits.max_wait_ms': 1000 };
  let broker: BrokerProcess = await startBroker({ config: brokerConfig });
  const report: FuzzReport = {
    seed: options.seed, calls: 0, statuses: {}, crashes: 0, deadlineExceeded: [], internalErrors: [], maxRssKiB: 0, startRssKiB: 0, endRssKiB: 0,
    servingAtEnd: false, dataUnchanged: false, elapsedMs: 0,
  };
  await writeKnownData(broker.addr);
  const before = await snapshotKnownData(broker.addr);
  report.startRssKiB = rssKiB(broker.pid);

  const channelOptions = { 'grpc.max_send_message_length': -1, 'grpc.max_receive_message_length': -1 };
  let client = new grpc.Client(broker.addr, grpc.credentials.createInsecure(), channelOptions);
  let next = 0;
  let restarting: Promise<void> | undefined;

  const count = (status: string): void => {
    report.statuses[status] = (report.statuses[status] ?? 0) + 1;
  };

  const checkAlive = async (): Promise<void> => {
    if (alive(broker.pid)) return;
    if (!restarting) {
      restarting = (async () => {
        report.crashes++;
        console.error(`broker pid ${broker.pid} died; log tail:\n${broker.logs().split('\n').slice(-20).join('\n')}`);
        client.close();
        broker = await startBroker({ dataDir: broker.dataDir, config: brokerConfig });
        client = new grpc.Client(broker.addr, grpc.credentials.createInsecure(), channelOptions);
      })().finally(() => (restarting = undefined));
    }
    await restarting;
  };

  const one = async (i: number): Promise<void> => {
    const { method, bytes, random: r } = fuzzCallAt(options.seed, i, all);
    const deadline = Date.now() + deadlineMs;
    const status = await new Promise<{ code: number; details: string } | 'fuzzer-cancelled'>((resolve) => {
      if (!method.streaming) {
        client.makeUnaryRequest(method.path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline }, (err) => {
          resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '' });
        });
        return;
      }
      const call = client.makeServerStreamRequest(method.path, (b: Buffer) => b, (b: Buffer) => b, bytes, new grpc.Metadata(), { deadline });
      let cancelledByUs = false;
      const timer = setTimeout(() => {
        cancelledByUs = true;
        call.cancel();
      }, r.int(20, 300));
      call.on('data', () => undefined);
      call.on('error', (err: grpc.ServiceError) => {
        clearTimeout(timer);
        resolve(cancelledByUs && err.code === grpc.status.CANCELLED ? 'fuzzer-cancelled' : { code: err.code, details: err.details });
      });
      call.on('status', (s: grpc.StatusObject) => {
        clearTimeout(timer);
        if (s.code === grpc.status.OK) resolve({ code: grpc.status.OK, details: '' });
      });
    });
    report.calls++;
    if (status === 'fuzzer-cancelled') {
      count('STREAM_CANCELLED_BY_FUZZER');
    } else {
      // grpc-js itself answers INTERNAL "Error deserializing request" for bytes
      // that are not a protobuf message of the request type; the broker's code
      // never sees them. Counted apart from INTERNAL answers the broker gave.
      const undecodable = status.code === grpc.status.INTERNAL && status.details === 'Error deserializing request';
      count(undecodable ? 'INTERNAL(undecodable, from grpc-js)' : grpc.status[status.code] ?? String(status.code));
      if (status.code === grpc.status.DEADLINE_EXCEEDED) report.deadlineExceeded.push({ call: i, method: `${method.service}/${method.name}` });
      if (!undecodable && (status.code === grpc.status.INTERNAL || status.code === grpc.status.UNKNOWN) && report.internalErrors.length < 20) {
        report.internalErrors.push({ call: i, method: `${method.service}/${method.name}`, details: status.details });
      }
      if (status.code === grpc.status.UNAVAILABLE) await checkAlive();
    }
    if (i % 250 === 0) {
      report.maxRssKiB = Math.max(report.maxRssKiB, rssKiB(broker.pid));
      await checkAlive();
    }
    if (i % 5000 === 0 && i > 0) options.onProgress?.({ ...report, elapsedMs: Date.now() - started });
  };

  const workers = Array.from({ length: concurrency }, async () => {
    while (next < options.calls) await one(next++);
  });
  await Promise.all(workers);
  await checkAlive();

  report.endRssKiB = rssKiB(broker.pid);
  report.maxRssKiB = Math.max(report.maxRssKiB, report.endRssKiB);
  report.servingAtEnd = await healthServing(client);
  client.close();
  const after = await snapshotKnownData(broker.addr);
  report.dataUnchanged = after === before;
  const code = await broker.stop();
  if (code !== 0) report.crashes++;
  report.elapsedMs = Date.now() - started;
  return report;
}

export function formatFuzzReport(r: FuzzReport): string {
  const histogram = Object.entries(r.statuses).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k}=${v}`).join(' ');
  return (
    `calls=${r.calls} crashes=${r.crashes} hangs=${r.deadlineExceeded.length} internal_errors=${r.internalErrors.length} ` +
    `serving_at_end=${r.servingAtEnd} data_unchanged=${r.dataUnchanged} rss_kib(start/max/end)=${r.startRssKiB}/${r.maxRssKiB}/${r.endRssKiB} ` +
    `elapsed_s=${(r.elapsedMs / 1000).toFixed(1)} seed=${r.seed}\nstatuses: ${histogram}`
  );
}
