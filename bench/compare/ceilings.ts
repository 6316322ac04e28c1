/**
 * Ceilings measured in the same run as the comparison: what this machine
 * allows before any broker logic.
 *   - raw fs append of W1's bytes (one RecordBatch-sized write per 1000
 *     records), with an fdatasync after every batch (fsync level) or none
 *     (buffered level), synchronous calls on one thread: no broker can append
 *     faster through the same file system;
 *   - fdatasync's own latency: write 100 B, fdatasync, repeat;
 *   - a no-op grpc-js server (its own process) carrying the same payloads:
 *     Produce with 1000 `records`, Produce with one ~110 KB `record_batch`,
 *     Produce with 1 record one in flight (latency), Fetch answering ~1 MiB
 *     of `record_batches` one in flight (the next asked for as a reply
 *     arrives, as a read-ahead does) on a channel with the SDK's 4 MiB
 *     receive window, and the same bytes pushed by a raw Subscribe stream
 *     (how the SDK's PartitionReader reads).
 */
import fs from 'fs';
import path from 'path';
import type * as grpc from '@grpc/grpc-js';
import { ServerProcess, makeTempDir, removeTempDir } from './server-process';
import { SDK_FLOW_CONTROL_WINDOW, makeClient, plainRecords, recordBatchBytes, unary, waitReady } from './grpc-util';
import { median, newHistogram, nowUs, summarize, windowed, type LatencySummary } from './stats';
import { RECORD_BYTES, type Profile } from './workload';

export interface RpcCeiling {
  callsPerSec: number;
  recordsPerSec: number;
  /** Bytes of payload one call carries. */
  payloadBytes: number;
}

export interface Ceilings {
  fsAppendFsync: number;
  fsAppendBuffered: number;
  fdatasync: LatencySummary;
  rpcProduceRecords: RpcCeiling;
  rpcProduceBytes: RpcCeiling;
  rpcFetchBytes: RpcCeiling;
  /** The same bytes pushed by a no-op raw Subscribe stream; absent in results from before it was measured. */
  rpcStreamBytes?: RpcCeiling;
  rpcProduceOne: LatencySummary;
}

/** Records/s of appending `records` records' bytes, `batch` records per write. */
function fsAppendRate(dir: string, records: number, batch: number, fsync: boolean): number {
  const file = path.join(dir, `append-${fsync ? 'fsync' : 'buffered'}.log`);
  const chunk = Buffer.alloc(recordBatchBytes(batch), 0x61);
  const fd = fs.openSync(file, 'a');
  try {
    const start = performance.now();
    for (let written = 0; written < records; written += batch) {
      fs.writeSync(fd, chunk);
      if (fsync) fs.fdatasyncSync(fd);
    }
    return records / ((performance.now() - start) / 1000);
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
}

function fdatasyncLatency(dir: string, samples: number): LatencySummary {
  const file = path.join(dir, 'fdatasync.log');
  const record = Buffer.alloc(RECORD_BYTES, 0x61);
  const histogram = newHistogram();
  const fd = fs.openSync(file, 'a');
  try {
    for (let i = 0; i < samples; i++) {
      fs.writeSync(fd, record);
      const start = nowUs();
      fs.fdatasyncSync(fd);
      histogram.recordValue(Math.max(1, Math.round(nowUs() - start)));
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return summarize(histogram);
}

/** Messages/s of a no-op raw Subscribe stream, after 20 messages of warm-up; `messages` are timed. */
async function streamRate(client: grpc.Client, messages: number, recordsPerMessage: number, payloadBytes: number): Promise<RpcCeiling> {
  const subscribe = (client as unknown as { Subscribe(request: unknown): grpc.ClientReadableStream<unknown> }).Subscribe.bind(client);
  const stream = subscribe({ topic: 'noop', partitions: [0], offset: 0, raw: true });
  const warmup = 20;
  let received = 0;
  let start = 0;
  const seconds = await new Promise<number>((resolve, reject) => {
    stream.on('data', () => {
      received++;
      if (received === warmup) start = performance.now();
      if (received === warmup + messages) resolve((performance.now() - start) / 1000);
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === 1 ? undefined : reject(err)));
    stream.on('end', () => reject(new Error(`no-op Subscribe ended after ${received} messages`)));
  }).finally(() => stream.cancel());
  const callsPerSec = messages / seconds;
  return { callsPerSec, recordsPerSec: callsPerSec * recordsPerMessage, payloadBytes };
}

async function rpcRate(calls: number, inFlight: number, recordsPerCall: number, payloadBytes: number, call: () => Promise<unknown>): Promise<RpcCeiling> {
  await windowed(Math.min(50, calls), inFlight, call); // warm-up
  const start = performance.now();
  await windowed(calls, inFlight, call);
  const callsPerSec = calls / ((performance.now() - start) / 1000);
  return { callsPerSec, recordsPerSec: callsPerSec * recordsPerCall, payloadBytes };
}

export async function measureCeilings(profile: Profile, log: (line: string) => void): Promise<Ceilings> {
  const dir = makeTempDir('ceiling');
  try {
    const fsyncRuns: number[] = [];
    const bufferedRuns: number[] = [];
    for (let run = 0; run < profile.runs; run++) {
      fsyncRuns.push(fsAppendRate(dir, profile.records, profile.batch, true));
      bufferedRuns.push(fsAppendRate(dir, profile.records, profile.batch, false));
    }
    const fsAppendFsync = median(fsyncRuns);
    const fsAppendBuffered = median(bufferedRuns);
    log(`ceiling fs append: ${Math.round(fsAppendFsync)} rec/s with fdatasync per batch, ${Math.round(fsAppendBuffered)} rec/s buffered`);
    const fdatasync = fdatasyncLatency(dir, profile.fdatasyncSamples);
    log(`ceiling fdatasync: p50 ${fdatasync.p50Us} µs, p99 ${fdatasync.p99Us} µs`);

    const fetchRecords = profile.readCount;
    const fetchBytes = recordBatchBytes(1000) * Math.ceil(fetchRecords / 1000);
    const server = new ServerProcess({
      name: 'noop-grpc-server',
      command: process.execPath,
      args: [path.join(__dirname, 'noop-grpc-server.js'), String(fetchBytes)],
      readyLine: /"listening".*"port":(\d+)/,
    });
    const match = await server.start();
    let client: grpc.Client | undefined;
    let fetchClient: grpc.Client | undefined;
    try {
      client = makeClient('Log', `127.0.0.1:${match[1]}`);
      await waitReady(client);
      fetchClient = makeClient('Log', `127.0.0.1:${match[1]}`, SDK_FLOW_CONTROL_WINDOW);
      await waitReady(fetchClient);
      const f = fetchClient;
      const c = client;
      const batchBytes = recordBatchBytes(profile.batch);
      const recordBatch = Buffer.alloc(batchBytes, 0x61);
      const rpcProduceRecords = await rpcRate(profile.noopCalls, profile.inFlight, profile.batch, profile.batch * RECORD_BYTES, () =>
        unary(c, 'Produce', { topic: 'noop', partition: 0, records: plainRecords(profile.batch) }),
      );
      const rpcProduceBytes = await rpcRate(profile.noopCalls, profile.inFlight, profile.batch, batchBytes, () =>
        unary(c, 'Produce', { topic: 'noop', partition: 0, recordBatch }),
      );
      const rpcFetchBytes = await rpcRate(Math.ceil(profile.noopCalls / 4), 1, fetchRecords, fetchBytes, () =>
        unary(f, 'Fetch', { topic: 'noop', partition: 0, offset: 0, maxBytes: fetchBytes, raw: true }),
      );
      const rpcStreamBytes = await streamRate(f, Math.ceil(profile.noopCalls / 4), fetchRecords, fetchBytes);
      const histogram = newHistogram();
      const one = plainRecords(1);
      for (let i = 0; i < profile.latencySamples + 50; i++) {
        const start = nowUs();
        await unary(c, 'Produce', { topic: 'noop', partition: 0, records: one });
        if (i >= 50) histogram.recordValue(Math.max(1, Math.round(nowUs() - start)));
      }
      const rpcProduceOne = summarize(histogram);
      log(
        `ceiling no-op RPC: records form ${Math.round(rpcProduceRecords.recordsPerSec)} rec/s (${Math.round(rpcProduceRecords.callsPerSec)} calls/s), ` +
          `bytes form ${Math.round(rpcProduceBytes.recordsPerSec)} rec/s (${Math.round(rpcProduceBytes.callsPerSec)} calls/s), ` +
          `fetch ${Math.round(rpcFetchBytes.recordsPerSec)} rec/s, stream ${Math.round(rpcStreamBytes.recordsPerSec)} rec/s, 1-record p50 ${rpcProduceOne.p50Us} µs p99 ${rpcProduceOne.p99Us} µs`,
      );
      return { fsAppendFsync, fsAppendBuffered, fdatasync, rpcProduceRecords, rpcProduceBytes, rpcFetchBytes, rpcStreamBytes, rpcProduceOne };
    } finally {
      client?.close();
      fetchClient?.close();
      await server.stop();
    }
  } finally {
    removeTempDir(dir);
  }
}
