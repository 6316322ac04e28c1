/**
 * What the comparison runs, and the contract every client driver implements.
 *
 *   W1 produce: `records` records of RECORD_BYTES bytes in batches of `batch`,
 *      one producer to one partition/stream (median of `runs` runs), and
 *      `multiProducers` producers over `multiPartitions` partitions.
 *   W2 consume: each W1 run's partition read back from the start (median).
 *   W3 single-record produce latency, one request in flight.
 *   W4 end-to-end latency: a producer paced at `e2eRate` records/s, a tailing
 *      consumer; latency is measured from each record's *scheduled* send time
 *      (so a stalled producer cannot hide its own delay).
 *   W5 a group of `groupMembers` consumers over the W1 multi-partition data
 *      while a paced producer keeps adding `groupBackgroundRate` records/s.
 *
 * A "partition" is a Brook topic partition, a Redis stream key and a NATS
 * JetStream stream: each is one ordered log with one append point.
 */
import type { Histogram } from './stats';
import { sleep } from './stats';

export const RECORD_BYTES = 100;

export type Durability = 'fsync' | 'buffered';
export const DURABILITY_LEVELS: readonly Durability[] = ['fsync', 'buffered'];

export interface Profile {
  name: 'full' | 'quick';
  records: number;
  batch: number;
  runs: number;
  /** Batches a producer may have unacknowledged at once (Kafka's max.in.flight is 5). */
  inFlight: number;
  multiPartitions: number;
  multiProducers: number;
  multiRecords: number;
  /** A W1 run (and W5) stops starting new work after this long: slow clients report a rate over fewer records. */
  runBudgetMs: number;
  /** Records asked for per read in W2/W5: about 1 MiB of 100-byte records. */
  readCount: number;
  latencySamples: number;
  e2eRate: number;
  e2eDurationMs: number;
  groupMembers: number;
  groupBackgroundRate: number;
  fdatasyncSamples: number;
  noopCalls: number;
}

export const PROFILES: Record<Profile['name'], Profile> = {
  full: {
    name: 'full',
    records: 1_000_000,
    batch: 1000,
    runs: 3,
    inFlight: 4,
    multiPartitions: 8,
    multiProducers: 4,
    multiRecords: 1_000_000,
    runBudgetMs: 8000,
    readCount: 8000,
    latencySamples: 3000,
    e2eRate: 20_000,
    e2eDurationMs: 6000,
    groupMembers: 4,
    groupBackgroundRate: 20_000,
    fdatasyncSamples: 2000,
    noopCalls: 2000,
  },
  quick: {
    name: 'quick',
    records: 30_000,
    batch: 1000,
    runs: 3,
    inFlight: 4,
    multiPartitions: 8,
    multiProducers: 4,
    multiRecords: 40_000,
    runBudgetMs: 3000,
    readCount: 8000,
    latencySamples: 400,
    e2eRate: 20_000,
    e2eDurationMs: 1500,
    groupMembers: 4,
    groupBackgroundRate: 20_000,
    fdatasyncSamples: 300,
    noopCalls: 300,
  },
};

/** Which figure a driver fills in; the table's columns, in this order. */
export const COLUMNS = ['brook-sdk', 'brook-grpc', 'redis-c', 'redis-node', 'nats-node'] as const;
export type Column = (typeof COLUMNS)[number];

export const COLUMN_LABELS: Record<Column, string> = {
  'brook-sdk': 'Brook (SDK)',
  'brook-grpc': 'Brook (records, grpc-js)',
  'redis-c': 'Redis (redis-benchmark, C)',
  'redis-node': 'Redis (ioredis)',
  'nats-node': 'JetStream (nats.js)',
};

export const BROOK_COLUMNS: readonly Column[] = ['brook-sdk', 'brook-grpc'];
export const PEER_COLUMNS: readonly Column[] = ['redis-c', 'redis-node', 'nats-node'];

export interface BatchProducer {
  /**
   * Sends `total` records in batches of `batch`, batch i to
   * partitions[i % partitions.length], with at most `inFlight` batches
   * unacknowledged; starts no batch after `deadlineMs` (a performance.now()
   * time). Resolves with the records acknowledged once every batch sent is.
   */
  produce(topic: string, partitions: number[], total: number, batch: number, inFlight: number, deadlineMs: number): Promise<number>;
  close(): Promise<void>;
}

export interface PartitionReader {
  /** Reads `count` records of one partition from its first offset. */
  readAll(topic: string, partition: number, count: number, readCount: number): Promise<void>;
  close(): Promise<void>;
}

export interface GroupRunOptions {
  topic: string;
  partitions: number;
  members: number;
  /** Records already in the partitions; the run ends once this many are consumed. */
  backlog: number;
  readCount: number;
  /** Stop and report the rate so far after this long. */
  budgetMs: number;
  backgroundRate: number;
}

/** One client of one system, against a server that is already running. */
export interface Driver {
  readonly column: Column;
  /** The client library and version that produced the figures. */
  readonly client: string;
  createTopic(topic: string, partitions: number): Promise<void>;
  openProducer(): Promise<BatchProducer>;
  openReader(): Promise<PartitionReader>;
  /** W3: `samples` single-record produces, one in flight, into `histogram` (µs). */
  produceLatency(topic: string, samples: number, histogram: Histogram): Promise<void>;
  /** W4: paced producer and tailing consumer; latencies (µs) into `histogram`. */
  endToEnd(topic: string, rate: number, durationMs: number, histogram: Histogram): Promise<void>;
  /** W5: returns the aggregate consume rate in records/s. Absent: not measured for this client. */
  groupConsume?(options: GroupRunOptions): Promise<number>;
  close(): Promise<void>;
}

/** A 100-byte record value; W4 stamps its scheduled send time into the first 8 bytes. */
export function makePayload(): Buffer {
  const payload = Buffer.alloc(RECORD_BYTES);
  for (let i = 0; i < RECORD_BYTES; i++) payload[i] = 97 + (i % 26);
  return payload;
}

export function stampedPayload(scheduledMs: number): Buffer {
  const payload = makePayload();
  payload.writeDoubleLE(scheduledMs, 0);
  return payload;
}

export function scheduledMsOf(value: Uint8Array): number {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength).readDoubleLE(0);
}

/**
 * Open-loop pacing: every ~1 ms, hands `send` the records that have come due
 * since the last tick (with record i due at start + i/rate), until `stop()`
 * says so or `durationMs` has passed. Returns the number of records handed out.
 */
export async function pacedLoop(
  rate: number,
  durationMs: number,
  send: (scheduledMs: number[]) => void,
  stop: () => boolean = () => false,
): Promise<number> {
  const start = performance.now();
  const intervalMs = 1000 / rate;
  let sent = 0;
  for (;;) {
    const elapsed = performance.now() - start;
    if (elapsed >= durationMs || stop()) break;
    const due = Math.floor(elapsed / intervalMs) + 1;
    if (due > sent) {
      const times: number[] = [];
      for (let i = sent; i < due; i++) times.push(start + i * intervalMs);
      send(times);
      sent = due;
    }
    await sleep(1);
  }
  return sent;
}

/** Recorded latency of a received W4 record, in µs (never below 1). */
export function recordLatency(histogram: Histogram, value: Uint8Array): void {
  const us = (performance.now() - scheduledMsOf(value)) * 1000;
  histogram.recordValue(Math.max(1, Math.round(us)));
}
