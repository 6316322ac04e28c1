/**
 * Crash-consistency rounds: producers with acks and consumers that read and
 * commit run against a real broker that is SIGKILLed at a random moment and
 * restarted, again and again. After every restart the log is checked against
 * what the clients were told.
 *
 * What counts (all per run, summed over partitions):
 * - acknowledged: records whose Produce (ACKS_LEADER) returned OK. The reply
 *   gives each record's offset; the harness remembers offset → digest of
 *   (key, value, headers, timestamp).
 * - lost: an acknowledged record missing at its offset after a restart, or
 *   present there with other bytes.
 * - duplicated: a record id (every value starts with a unique
 *   `run:producer:seq:` id) found at more than one offset. Sends are never
 *   retried here: a Produce that fails — typically because the broker died
 *   while it was in flight — is "in doubt" and simply dropped, so without an
 *   idempotent producer the only way a record can appear twice is the broker
 *   writing it twice. In-doubt records that did land are counted separately
 *   (`inDoubtLanded`); they are neither lost nor duplicated.
 * - phantom reads: a Fetch returned offset → digest, and after a later
 *   restart that offset is gone or holds something else. Fetches only see
 *   below the high watermark, which under flush.policy=always is the durable
 *   end, so this must be 0.
 * - gaps: offsets in [log start, high watermark) that no record holds.
 * - commitsPastEnd: a committed offset (FetchOffsets after restart) above the
 *   partition's high watermark after restart.
 * - commitsLost: a committed offset after restart below the last commit the
 *   broker acknowledged (commits are issued one at a time per group, so the
 *   committed value after a crash is the last acknowledged one or the one in
 *   flight).
 *
 * The log is checked incrementally after every round (from the lowest offset
 * touched since the previous check) and in full at the end, so each round
 * stays cheap while nothing written earlier escapes the final check.
 */
import * as grpc from '@grpc/grpc-js';
import { createHash, randomBytes } from 'crypto';
import fs from 'fs';
import path from 'path';
import type { pb } from '../../src/protocol';
import { BATCH_HEADER_SIZE, encodeRecordBatch, readBatchHeader, type RecordInput } from '../../src/record';
import { startBroker, type BrokerProcess } from '../helpers/broker';
import { grpcClients, type GrpcClients } from '../helpers/grpc';
import { Random } from './random';

export interface CrashRunOptions {
  rounds: number;
  partitions?: number;
  producers?: number;
  consumers?: number;
  /** Each round lasts a random time in [min, max] ms before the SIGKILL. */
  roundMinMs?: number;
  roundMaxMs?: number;
  /** Small segments so rolls happen across kills. */
  segmentBytes?: number;
  seed?: number;
  /** Called after each round with the running counts. */
  onRound?: (counts: CrashCounts) => void;
  /** Broker data dir to use (kept); a fresh temp dir otherwise. */
  dataDir?: string;
  /**
   * Self-check of the harness: after each kill, drop partition 0's log from
   * the batch holding its last acknowledged offset onwards (what a lost page
   * cache would do), so the checks must report losses. Off by default.
   */
  dropAcknowledgedTail?: boolean;
}

export interface CrashCounts {
  rounds: number;
  acknowledged: number;
  /** Produce requests that failed (broker died while they were in flight). */
  inDoubtRequests: number;
  inDoubtRecords: number;
  inDoubtLanded: number;
  lost: number;
  duplicated: number;
  phantomReads: number;
  gaps: number;
  recordsRead: number;
  commitsAcknowledged: number;
  commitsPastEnd: number;
  commitsLost: number;
  /** Human-readable descriptions of the first failures (at most 20). */
  problems: string[];
  seed: number;
  recordsInLog: number;
}

const TOPIC = 'crash-consistency';
const GROUP = 'crash-consistency-readers';
const MAX_PROBLEMS = 20;

type Fetched = pb.FetchResponse__Output;
type Produced = pb.ProduceResponse__Output;

interface LoggedRecord {
  offset: number;
  digest: string;
  id: string;
}

interface PartitionState {
  /** offset → digest of every acknowledged record. */
  acked: Map<number, string>;
  /** offset → digest of everything any consumer read. */
  read: Map<number, string>;
  /** id → partition-local offset, for records verified in the log. */
  idAt: Map<string, number>;
  /** One past the highest offset any consumer read. */
  readEnd: number;
  /** Lowest offset not yet checked against the log (incremental checks start here). */
  checkedUpTo: number;
  /** Last committed offset the broker acknowledged, and the one in flight (if any). */
  lastAckedCommit: number;
  inFlightCommit: number | null;
}

interface FetchedLike {
  offset: number;
  timestampMs: number;
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: { key: string; value?: Buffer | null }[];
}

/** Digest of what identifies a record's content; null key/value differ from empty ones. */
export function recordDigest(record: FetchedLike): string {
  const hash = createHash('sha1');
  const part = (b: Buffer | null | undefined): void => {
    if (b === null || b === undefined) hash.update('N');
    else {
      hash.update(`B${b.length}:`);
      hash.update(b);
    }
  };
  part(record.key);
  part(record.value);
  for (const h of record.headers ?? []) {
    hash.update(`H${Buffer.byteLength(h.key)}:${h.key}`);
    part(h.value);
  }
  hash.update(`T${record.timestampMs}`);
  return hash.digest('hex');
}

function recordId(value: Buffer | null | undefined): string {
  if (!value) return '';
  const text = value.subarray(0, 64).toString('latin1');
  const parts = text.split(':');
  return parts.length >= 4 ? parts.slice(0, 3).join(':') : '';
}

function isStatus(e: unknown, code: grpc.status): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: number }).code === code;
}

export async function runCrashRounds(options: CrashRunOptions): Promise<CrashCounts> {
  const seed = options.seed ?? Date.now() % 2 ** 31;
  const random = new Random(seed);
  const partitions = options.partitions ?? 2;
  const producerCount = options.producers ?? 4;
  const consumerCount = options.consumers ?? 2;
  const roundMinMs = options.roundMinMs ?? 150;
  const roundMaxMs = options.roundMaxMs ?? 900;
  const runTag = randomBytes(3).toString('hex');
  const counts: CrashCounts = {
    rounds: 0, acknowledged: 0, inDoubtRequests: 0, inDoubtRecords: 0, inDoubtLanded: 0, lost: 0, duplicated: 0, phantomReads: 0, gaps: 0,
    recordsRead: 0, commitsAcknowledged: 0, commitsPastEnd: 0, commitsLost: 0, problems: [], seed, recordsInLog: 0,
  };
  const problem = (text: string): void => {
    if (counts.problems.length < MAX_PROBLEMS) counts.problems.push(text);
  };
  const state: PartitionState[] = Array.from({ length: partitions }, () => ({
    acked: new Map(), read: new Map(), idAt: new Map(), readEnd: 0, checkedUpTo: 0, lastAckedCommit: 0, inFlightCommit: null,
  }));
  /** ids of records whose Produce failed: partition → ids. */
  const inDoubt = new Set<string>();

  // ---- the workers of one round; each stops once `stop.now` is set after the kill
  async function produceLoop(c: GrpcClients, stop: { now: boolean }, producer: number, r: number): Promise<void> {
    let seq = 0;
    while (!stop.now) {
      const partition = random.int(0, partitions - 1);
      const n = random.int(1, 12);
      const now = Date.now();
      const records: RecordInput[] = [];
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const id = `${runTag}.${r}:${producer}:${seq++}`;
        ids.push(id);
        const value = Buffer.concat([Buffer.from(`${id}:`), randomBytes(random.int(0, 300))]);
        const key = random.chance(0.3) ? null : randomBytes(random.int(1, 16));
        const headers = random.chance(0.2) ? [{ key: 'h', value: random.chance(0.5) ? null : randomBytes(4) }] : [];
        records.push({ key, value, headers, timestampMs: now - random.int(0, 1000) });
      }
      const asBatch = random.chance(0.5);
      const request = asBatch
        ? { topic: TOPIC, partition, acks: 'ACKS_LEADER', recordBatch: encodeRecordBatch(records, { baseTimestampMs: now }) }
        : {
            topic: TOPIC, partition, acks: 'ACKS_LEADER',
            records: records.map((rec) => ({ key: rec.key ?? undefined, value: rec.value ?? undefined, headers: (rec.headers ?? []).map((h) => ({ key: h.key, value: h.value ?? undefined })), timestampMs: rec.timestampMs })),
          };
      try {
        const res = await c.log.Produce<Produced>(request, { timeoutMs: 10_000 });
        const result = res.results[0];
        if (!result || result.partition !== partition || result.recordCount !== n) {
          problem(`produce reply does not match the request: ${JSON.stringify(res)}`);
          continue;
        }
        for (let i = 0; i < n; i++) {
          const offset = Number(result.baseOffset) + i;
          const digest = recordDigest({ ...records[i], offset, timestampMs: records[i].timestampMs! });
          const s = state[partition];
          if (s.acked.has(offset)) problem(`offset ${partition}/${offset} acknowledged twice (an acknowledged record was overwritten)`);
          s.acked.set(offset, digest);
          s.checkedUpTo = Math.min(s.checkedUpTo, offset);
          counts.acknowledged++;
        }
      } catch (e) {
        counts.inDoubtRequests++;
        counts.inDoubtRecords += n;
        for (const id of ids) inDoubt.add(id);
        if (!isStatus(e, grpc.status.UNAVAILABLE) && !isStatus(e, grpc.status.DEADLINE_EXCEEDED) && !isStatus(e, grpc.status.CANCELLED) && !isStatus(e, grpc.status.INTERNAL)) {
          problem(`produce failed with an unexpected status: ${(e as Error).message}`);
        }
        await sleep(5);
      }
    }
  }

  async function consumeLoop(c: GrpcClients, stop: { now: boolean }, consumer: number): Promise<void> {
    const position = state.map((s) => Math.max(0, s.checkedUpTo - random.int(0, 50)));
    let partition = consumer % partitions;
    while (!stop.now) {
      partition = (partition + 1) % partitions;
      try {
        const res = await c.log.Fetch<Fetched>({ topic: TOPIC, partition, offset: position[partition], maxBytes: 64 * 1024, maxWaitMs: 50 }, { timeoutMs: 5000 });
        const s = state[partition];
        for (const record of res.records) {
          const offset = Number(record.offset);
          const digest = recordDigest({ ...record, offset, timestampMs: Number(record.timestampMs) });
          const before = s.read.get(offset);
          if (before !== undefined && before !== digest) {
            counts.phantomReads++;
            problem(`offset ${partition}/${offset} read as ${before.slice(0, 8)} earlier and ${digest.slice(0, 8)} now`);
          }
          s.read.set(offset, digest);
          if (offset + 1 > s.readEnd) s.readEnd = offset + 1;
          s.checkedUpTo = Math.min(s.checkedUpTo, offset);
          counts.recordsRead++;
          if (offset >= Number(res.highWatermark)) problem(`fetch returned offset ${partition}/${offset} at or past the high watermark ${res.highWatermark}`);
        }
        position[partition] = Number(res.nextOffset);
      } catch (e) {
        if (isStatus(e, grpc.status.OUT_OF_RANGE)) position[partition] = 0;
        await sleep(5);
      }
    }
  }

  // One committer for the group, one commit at a time (so the value after a crash is known).
  async function commitLoop(c: GrpcClients, stop: { now: boolean }): Promise<void> {
    while (!stop.now) {
      const partition = random.int(0, partitions - 1);
      const s = state[partition];
      // Commit somewhere at or below what a consumer has read (as a consumer would).
      const offset = Math.max(s.lastAckedCommit, s.readEnd);
      s.inFlightCommit = offset;
      try {
        await c.groups.CommitOffsets({ groupId: GROUP, memberId: '', memberEpoch: 0, offsets: [{ topic: TOPIC, partition, offset }] }, { timeoutMs: 5000 });
        s.lastAckedCommit = Math.max(s.lastAckedCommit, offset);
        s.inFlightCommit = null;
        counts.commitsAcknowledged++;
      } catch {
        // in doubt: leave inFlightCommit set; the next round's check accepts it or the last acked one
        await sleep(5);
        if (stop.now) return;
        s.inFlightCommit = null;
      }
      await sleep(random.int(5, 40));
    }
  }

  let broker: BrokerProcess = await startBroker({
    dataDir: options.dataDir,
    config: { 'topic.segment.bytes': options.segmentBytes ?? 64 * 1024 },
  });
  let clients: GrpcClients = grpcClients(broker.addr);
  try {
    await clients.admin.CreateTopic({ name: TOPIC, partitions });

    for (let round = 0; round < options.rounds; round++) {
      const stop = { now: false };
      const workers: Promise<void>[] = [];
      for (let p = 0; p < producerCount; p++) workers.push(produceLoop(clients, stop, p, round));
      for (let c = 0; c < consumerCount; c++) workers.push(consumeLoop(clients, stop, c));
      workers.push(commitLoop(clients, stop));
      await sleep(random.int(roundMinMs, roundMaxMs));
      await broker.kill();
      stop.now = true;
      await Promise.all(workers);
      clients.close();
      if (options.dropAcknowledgedTail && state[0].acked.size > 0) {
        dropTailFrom(path.join(broker.dataDir, 'topics', TOPIC, '0'), Math.max(...state[0].acked.keys()));
      }

      broker = await startBroker({ dataDir: broker.dataDir, config: { 'topic.segment.bytes': options.segmentBytes ?? 64 * 1024 } });
      clients = grpcClients(broker.addr);
      await verify(false);
      counts.rounds++;
      options.onRound?.({ ...counts });

    }
    await verify(true);
    return counts;
  } finally {
    clients.close();
    await broker.kill().catch(() => undefined);
  }

  /** Reads each partition from `from` to its high watermark and checks it against what clients saw. */
  async function verify(full: boolean): Promise<void> {
    const committed = await clients.groups.FetchOffsets<pb.FetchOffsetsResponse__Output>({ groupId: GROUP, topics: [TOPIC] }, { timeoutMs: 30_000 }).catch((e) => {
      if (isStatus(e, grpc.status.NOT_FOUND)) return { offsets: [] };
      throw e;
    });
    let inLog = 0;
    for (let partition = 0; partition < partitions; partition++) {
      const s = state[partition];
      const from = full ? 0 : s.checkedUpTo;
      const { records, highWatermark, logStartOffset } = await readAll(partition, from);
      if (logStartOffset !== 0) problem(`partition ${partition}: log start offset moved to ${logStartOffset}`);
      const seen = new Map<number, LoggedRecord>();
      let expected = from;
      for (const r of records) {
        if (r.offset !== expected) {
          if (r.offset > expected) {
            counts.gaps += r.offset - expected;
            problem(`partition ${partition}: offsets ${expected}..${r.offset - 1} missing (high watermark ${highWatermark})`);
          } else {
            problem(`partition ${partition}: offset ${r.offset} out of order after ${expected - 1}`);
          }
        }
        expected = r.offset + 1;
        seen.set(r.offset, r);
        if (r.id) {
          const at = s.idAt.get(r.id);
          if (at !== undefined && at !== r.offset) {
            counts.duplicated++;
            problem(`partition ${partition}: record ${r.id} at offsets ${at} and ${r.offset}`);
          }
          s.idAt.set(r.id, r.offset);
          if (inDoubt.delete(r.id)) counts.inDoubtLanded++;
        }
      }
      if (expected < highWatermark) {
        counts.gaps += highWatermark - expected;
        problem(`partition ${partition}: fetch stopped at ${expected} below the high watermark ${highWatermark}`);
      }
      inLog += highWatermark;
      for (const [offset, digest] of s.acked) {
        if (offset < from) continue;
        const got = seen.get(offset);
        if (!got || got.digest !== digest) {
          counts.lost++;
          problem(`partition ${partition}: acknowledged offset ${offset} ${got ? 'holds other bytes' : 'is missing'} (high watermark ${highWatermark})`);
        }
      }
      for (const [offset, digest] of s.read) {
        if (offset < from) continue;
        const got = seen.get(offset);
        if (!got || got.digest !== digest) {
          counts.phantomReads++;
          problem(`partition ${partition}: offset ${offset} was read but ${got ? 'now holds other bytes' : 'is gone'} (high watermark ${highWatermark})`);
        }
      }
      const commit = committed.offsets.find((o: pb.CommittedOffset__Output) => o.topic === TOPIC && o.partition === partition);
      const committedOffset = commit ? Number(commit.offset) : 0;
      if (committedOffset > highWatermark) {
        counts.commitsPastEnd++;
        problem(`partition ${partition}: committed offset ${committedOffset} is past the high watermark ${highWatermark}`);
      }
      if (committedOffset < s.lastAckedCommit) {
        counts.commitsLost++;
        problem(`partition ${partition}: committed offset ${committedOffset} is below the acknowledged commit ${s.lastAckedCommit}`);
      }
      if (committedOffset > s.lastAckedCommit) s.lastAckedCommit = committedOffset; // the in-flight one landed
      s.inFlightCommit = null;
      s.checkedUpTo = highWatermark;
    }
    counts.recordsInLog = inLog;
  }

  async function readAll(partition: number, from: number): Promise<{ records: LoggedRecord[]; highWatermark: number; logStartOffset: number }> {
    const records: LoggedRecord[] = [];
    let offset = from;
    let highWatermark = 0;
    let logStartOffset = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const res = await clients.log.Fetch<Fetched>({ topic: TOPIC, partition, offset, maxBytes: 4 * 1024 * 1024 }, { timeoutMs: 30_000 });
      highWatermark = Number(res.highWatermark);
      logStartOffset = Number(res.logStartOffset);
      for (const r of res.records) {
        const o = Number(r.offset);
        records.push({ offset: o, digest: recordDigest({ ...r, offset: o, timestampMs: Number(r.timestampMs) }), id: recordId(r.value) });
      }
      const next = Number(res.nextOffset);
      if (next >= highWatermark || next === offset) break;
      offset = next;
    }
    return { records, highWatermark, logStartOffset };
  }
}

/**
 * Removes a partition's records from the batch that holds `offset` onwards:
 * truncates the segment containing it at that batch's first byte (found by
 * walking batch headers, so preallocated zeros past the end do not matter) and
 * deletes every later segment's files.
 */
function dropTailFrom(dir: string, offset: number): void {
  const bases = fs
    .readdirSync(dir)
    .filter((f) => /^\d{20}\.log$/.test(f))
    .map((f) => Number(f.slice(0, 20)))
    .sort((a, b) => a - b);
  const holding = bases.filter((b) => b <= offset).pop();
  if (holding === undefined) throw new Error(`no segment in ${dir} holds offset ${offset}`);
  for (const base of bases.filter((b) => b > holding)) {
    for (const ext of ['.log', '.index', '.timeindex']) fs.rmSync(path.join(dir, segmentName(base) + ext), { force: true });
  }
  const file = path.join(dir, segmentName(holding) + '.log');
  const bytes = fs.readFileSync(file);
  let position = 0;
  while (position + BATCH_HEADER_SIZE <= bytes.length) {
    const header = readBatchHeader(bytes, position);
    if (header.magic !== 2 || header.batchLength <= 0) break;
    if (header.lastOffset >= offset) {
      fs.truncateSync(file, position);
      return;
    }
    position += header.sizeInBytes;
  }
  throw new Error(`offset ${offset} not found in ${file}`);
}

function segmentName(baseOffset: number): string {
  return String(baseOffset).padStart(20, '0');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** One line of counts, as `make soak` prints it. */
export function formatCrashCounts(c: CrashCounts): string {
  return (
    `rounds=${c.rounds} acknowledged=${c.acknowledged} lost=${c.lost} duplicated=${c.duplicated} phantom_reads=${c.phantomReads} ` +
    `gaps=${c.gaps} commits_past_end=${c.commitsPastEnd} commits_lost=${c.commitsLost} | in_doubt_requests=${c.inDoubtRequests} ` +
    `in_doubt_records=${c.inDoubtRecords} in_doubt_landed=${c.inDoubtLanded} records_read=${c.recordsRead} commits=${c.commitsAcknowledged} ` +
    `records_in_log=${c.recordsInLog} seed=${c.seed}`
  );
}
