/**
 * Broker benchmark over gRPC (`make bench`; or `node dist/bench/broker-bench.js`
 * after `make build`). In one run, against a real `brook serve` process:
 *
 *   - batched produce: 1000 × 100-byte records per request, one partition,
 *     flush.policy always and never, as `records` and as `record_batch`;
 *   - fetch from offset 0 to the end, decoded (`records`) and `raw`;
 *   - single-record produce latency p50/p99 (one request at a time);
 *   - end-to-end latency at 20,000 records/s: records-form produces paced
 *     every ~1 ms, a Subscribe tailing the partition (flush always and never);
 *
 * each next to the grpc-js ceiling measured in the same run: a no-op server
 * process (this file with --noop-server) that answers the same RPCs with
 * canned replies of the same size, so the gap is what Brook itself costs.
 *
 * Flags: --quick (fewer requests), --json (machine-readable rows),
 * --profile DIR (write the broker's and the bench client's .cpuprofile there).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'child_process';
import fs from 'fs';
import { performance } from 'perf_hooks';
import { serviceDefinition } from '../src/protocol';
import { encodeRecordBatch } from '../src/record';
import { widenReceiveWindows } from '../src/server/grpc-server';
import { grpcClients, randomTopicName, startBroker, stopAllBrokers, type GrpcClients } from '../test/helpers/broker';

const RECORDS_PER_REQUEST = 1000;
const RECORD_BYTES = 100;
const IN_FLIGHT = 4;
const quick = process.argv.includes('--quick');
const profileIndex = process.argv.indexOf('--profile');
const profileDir = profileIndex > 0 ? process.argv[profileIndex + 1] : undefined;
const BATCH_REQUESTS = quick ? 40 : 300;
const LATENCY_REQUESTS = quick ? 300 : 3000;
const TAIL_RATE = 20_000;
const TAIL_SECONDS = quick ? 1 : 4;

const value = Buffer.alloc(RECORD_BYTES, 0x61);
const records = Array.from({ length: RECORDS_PER_REQUEST }, (_, i) => ({ key: Buffer.from(`key-${i % 100}`), value }));
const batch = (): Buffer => encodeRecordBatch(records.map((r) => ({ key: r.key, value: r.value })));

interface Row {
  scenario: string;
  form: string;
  brook: string;
  ceiling: string;
  ratio: string;
  /** Broker CPU (user + system) per request in the Brook run: robust to a busy machine, unlike the rates. */
  brokerCpu: string;
}

/** CPU milliseconds (user + system) the process `pid` has used so far, from /proc (Linux). */
function cpuMsOf(pid: number): number {
  try {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    // utime and stime are fields 14 and 15 of stat(5); here counted from field 3 ("state").
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------------------
// The no-op server: same service, canned replies.

function runNoopServer(): void {
  const fetchRecords = Array.from({ length: 10_000 }, (_, i) => ({ offset: i, timestampMs: Date.now(), key: Buffer.from(`key-${i % 100}`), value, headers: [] }));
  const fetchRaw = Buffer.concat(Array.from({ length: 10 }, batch));
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  server.addService(serviceDefinition('Log'), {
    Produce: (call: grpc.ServerUnaryCall<{ records: unknown[] }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { results: [{ partition: 0, baseOffset: 0, recordCount: call.request.records.length || 1, recordIndexes: [], logAppendTimeMs: -1 }] }),
    Fetch: (call: grpc.ServerUnaryCall<{ raw: boolean; offset: number }, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, call.request.raw
        ? { recordBatches: fetchRaw, highWatermark: 1e9, nextOffset: call.request.offset + 10_000, topic: 't', partition: 0 }
        : { records: fetchRecords, highWatermark: 1e9, nextOffset: call.request.offset + 10_000, topic: 't', partition: 0 }),
    Subscribe: (call: grpc.ServerWritableStream<unknown, unknown>) => call.end(),
    ListOffsets: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { offset: 0, timestampMs: -1 }),
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => {
    if (error) throw error;
    // The broker's receive window, so the ceiling rides the same transport.
    widenReceiveWindows(server);
    process.stdout.write(`${JSON.stringify({ msg: 'listening', addr: `127.0.0.1:${port}` })}\n`);
  });
}

async function startNoopServer(): Promise<{ addr: string; stop(): void }> {
  const child = spawn(process.execPath, [__filename, '--noop-server'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const addr = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString().split('\n')[0]).addr));
    child.once('exit', (code) => reject(new Error(`no-op server exited with ${code}`)));
  });
  return { addr, stop: () => child.kill('SIGKILL') };
}

// ---------------------------------------------------------------------------
// Measurements

/** Runs `count` calls of `fn`, IN_FLIGHT at a time; returns seconds. */
async function timed(count: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await fn(next++);
  }));
  return (performance.now() - started) / 1000;
}

function percentiles(samples: number[]): { p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: sorted[Math.floor(sorted.length * 0.5)], p99: sorted[Math.floor(sorted.length * 0.99)] };
}

const fmtRate = (recordsPerSecond: number): string => `${(recordsPerSecond / 1e6).toFixed(2)} M rec/s (${((recordsPerSecond * RECORD_BYTES) / 1e6).toFixed(0)} MB/s)`;
const fmtLatency = (l: { p50: number; p99: number }): string => `p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms`;

async function producePayload(c: GrpcClients, topic: string, form: 'records' | 'record_batch', perRequest: 'batch' | 'single'): Promise<(i: number) => Promise<unknown>> {
  if (perRequest === 'single') {
    const one = [{ key: Buffer.from('k'), value }];
    return form === 'records'
      ? () => c.log.Produce({ topic, partition: 0, records: one })
      : () => c.log.Produce({ topic, partition: 0, recordBatch: encodeRecordBatch(one) });
  }
  return form === 'records'
    ? () => c.log.Produce({ topic, partition: 0, records })
    : () => c.log.Produce({ topic, partition: 0, recordBatch: batch() });
}

async function main(): Promise<void> {
  const broker = await startBroker({ nodeArgs: profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-name=broker.cpuprofile'] : [] });
  const noop = await startNoopServer();
  const brook = grpcClients(broker.addr);
  const ceiling = grpcClients(noop.addr);
  const rows: Row[] = [];
  const add = (scenario: string, form: string, b: string, c: string, ratio: number, cpuPerRequestMs: number): void => {
    const brokerCpu = Number.isNaN(cpuPerRequestMs) ? '—' : `${(cpuPerRequestMs * 1000).toFixed(0)} µs`;
    rows.push({ scenario, form, brook: b, ceiling: c, ratio: Number.isNaN(ratio) ? '—' : `${(ratio * 100).toFixed(0)}%`, brokerCpu });
  };
  const brokerCpu = (): number => cpuMsOf(broker.pid);

  try {
    const topics: Record<string, string> = {};
    for (const flush of ['always', 'never']) {
      const name = randomTopicName(`bench-${flush}`);
      await brook.admin.CreateTopic({ name, partitions: 1, config: { 'flush.policy': flush } });
      topics[flush] = name;
    }

    // Batched produce.
    for (const form of ['records', 'record_batch'] as const) {
      const ceilingFn = await producePayload(ceiling, 't', form, 'batch');
      await timed(10, IN_FLIGHT, ceilingFn);
      const ceilingSeconds = await timed(BATCH_REQUESTS, IN_FLIGHT, ceilingFn);
      const ceilingRate = (BATCH_REQUESTS * RECORDS_PER_REQUEST) / ceilingSeconds;
      for (const flush of ['always', 'never']) {
        const fn = await producePayload(brook, topics[flush], form, 'batch');
        await timed(5, IN_FLIGHT, fn);
        const cpuBefore = brokerCpu();
        const seconds = await timed(BATCH_REQUESTS, IN_FLIGHT, fn);
        const rate = (BATCH_REQUESTS * RECORDS_PER_REQUEST) / seconds;
        add(`produce 1000×100 B, flush=${flush}`, form, fmtRate(rate), fmtRate(ceilingRate), rate / ceilingRate, (brokerCpu() - cpuBefore) / BATCH_REQUESTS);
      }
    }

    // Fetch from zero to the end, 1 MiB per request.
    const topic = topics.never;
    const hw = (await brook.log.ListOffsets<{ offset: number }>({ topic, partition: 0, spec: 'OFFSET_SPEC_LATEST' })).offset;
    for (const raw of [false, true]) {
      let offset = 0;
      let fetched = 0;
      let fetches = 0;
      const cpuBefore = brokerCpu();
      const started = performance.now();
      while (offset < hw) {
        const res = await brook.log.Fetch<{ nextOffset: number; records: unknown[] }>({ topic, partition: 0, offset, maxBytes: 1024 * 1024, raw });
        fetched += res.nextOffset - offset;
        offset = res.nextOffset;
        fetches++;
      }
      const cpuPerFetch = (brokerCpu() - cpuBefore) / fetches;
      const rate = fetched / ((performance.now() - started) / 1000);
      const requests = Math.max(10, Math.ceil(hw / 10_000));
      const ceilingSeconds = await timed(requests, 1, () => ceiling.log.Fetch({ topic: 't', partition: 0, offset: 0, raw }));
      const ceilingRate = (requests * 10_000) / ceilingSeconds;
      add(`fetch from 0 (${fetched} records, 1 MiB/request)`, raw ? 'raw' : 'records', fmtRate(rate), fmtRate(ceilingRate), rate / ceilingRate, cpuPerFetch);
    }

    // End-to-end latency at a fixed rate: each record carries its scheduled send time.
    for (const flush of ['always', 'never']) {
      const topic = topics[flush];
      const start = await brook.log.ListOffsets<{ offset: number }>({ topic, partition: 0, spec: 'OFFSET_SPEC_LATEST' });
      const samples: number[] = [];
      const stream = brook.log.raw.Subscribe({ topic, partitions: [0], offset: start.offset });
      stream.on('data', (response: { records: Array<{ value?: Buffer }> }) => {
        const now = performance.now();
        for (const r of response.records) if (r.value && r.value.length === RECORD_BYTES) samples.push(now - r.value.readDoubleLE(0));
      });
      stream.on('error', () => undefined); // cancelled below
      const cpuBefore = brokerCpu();
      const began = performance.now();
      let sent = 0;
      let requests = 0;
      while (performance.now() - began < TAIL_SECONDS * 1000) {
        const due = Math.floor((performance.now() - began) * (TAIL_RATE / 1000)) + 1;
        if (due > sent) {
          const batch = [];
          for (let i = sent; i < due; i++) {
            const v = Buffer.alloc(RECORD_BYTES);
            v.writeDoubleLE(began + (i * 1000) / TAIL_RATE, 0);
            batch.push({ value: v });
          }
          sent = due;
          requests++;
          brook.log.Produce({ topic, partition: 0, records: batch }).catch(() => undefined);
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const deadline = performance.now() + 15_000;
      while (samples.length < sent && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
      stream.cancel();
      const cpuPerRequest = (brokerCpu() - cpuBefore) / requests;
      add(`end-to-end at ${TAIL_RATE} rec/s (Subscribe), flush=${flush}`, 'records', `${fmtLatency(percentiles(samples))} (${samples.length}/${sent})`, '—', NaN, cpuPerRequest);
    }

    // Single-record produce latency, one request at a time.
    for (const form of ['records', 'record_batch'] as const) {
      let cpuPerRequest = NaN;
      const measure = async (fn: (i: number) => Promise<unknown>): Promise<{ p50: number; p99: number }> => {
        for (let i = 0; i < 50; i++) await fn(i);
        const samples: number[] = [];
        const cpuBefore = brokerCpu();
        for (let i = 0; i < LATENCY_REQUESTS; i++) {
          const t = performance.now();
          await fn(i);
          samples.push(performance.now() - t);
        }
        cpuPerRequest = (brokerCpu() - cpuBefore) / LATENCY_REQUESTS;
        return percentiles(samples);
      };
      const ceilingLatency = await measure(await producePayload(ceiling, 't', form, 'single'));
      for (const flush of ['always', 'never']) {
        const latency = await measure(await producePayload(brook, topics[flush], form, 'single'));
        add(`produce 1 record latency, flush=${flush}`, form, fmtLatency(latency), fmtLatency(ceilingLatency), ceilingLatency.p50 / latency.p50, cpuPerRequest);
      }
    }
  } finally {
    brook.close();
    ceiling.close();
    noop.stop();
    await broker.stop();
    await stopAllBrokers();
  }

  if (process.argv.includes('--json')) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return;
  }
  const headers = ['scenario', 'form', 'Brook', 'grpc-js no-op ceiling', 'Brook / ceiling', 'broker CPU / request'];
  process.stdout.write(`| ${headers.join(' | ')} |\n|${headers.map(() => '---').join('|')}|\n`);
  for (const r of rows) process.stdout.write(`| ${r.scenario} | ${r.form} | ${r.brook} | ${r.ceiling} | ${r.ratio} | ${r.brokerCpu} |\n`);
  process.stdout.write(`\n(${BATCH_REQUESTS} batched requests, ${IN_FLIGHT} in flight; ${LATENCY_REQUESTS} latency samples; node ${process.version})\n`);
}

if (process.argv.includes('--noop-server')) {
  runNoopServer();
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`broker-bench: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
