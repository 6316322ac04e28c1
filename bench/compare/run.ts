/**
 * Runs the workloads against every server at both durability levels.
 *
 * Per level: start redis-server, nats-server and the broker (fresh temp data
 * dirs), then W1 runs interleaved across clients (run 1 of every client,
 * then run 2, ...) so a burst of outside load hits all of them alike, W2
 * over each W1 run's partition, then W1 multi, W3, W4, W5 client by client.
 * Every step is bounded in time; a failure is recorded in its cell and the
 * run goes on. Servers are stopped by PID before the next level starts.
 *
 * Each step starts from a settled machine (see `settle`), so one system's
 * leftover work (dirty pages still being written back, the harness's
 * garbage) is not billed to the next. W1 and W4 run once first, unrecorded,
 * on topics of their own (W1_WARMUP_RECORDS, WARMUP_E2E_MS): the first
 * second of a fresh connection (JIT, buffers, first segment) is not steady
 * state. W4 runs each client in a Node process of its own (e2e-child.ts).
 */
import { spawn } from 'child_process';
import path from 'path';
import * as hdr from 'hdr-histogram-js';
import type { EndToEndSpec } from './e2e-child';
import { settle } from './settle';
import { BrookGrpcDriver, brokerAvailable, startBrook, type BrookServer } from './brook';
import { NatsNodeDriver, startNats, type NatsServer } from './nats';
import { RedisNodeDriver, redisBenchmarkXadd, startRedis, type RedisServer } from './redis';
import type { Cell, LevelResult } from './results';
import { median, newHistogram, summarize, withTimeout } from './stats';
import type { Driver, Durability, Profile } from './workload';

export type Log = (line: string) => void;

/** Makes the SDK driver once the broker runs; undefined while the SDK is not there. */
export type SdkDriverFactory = (address: string, level: Durability) => Promise<Driver | undefined>;

export interface RunOptions {
  profile: Profile;
  levels: readonly Durability[];
  /** Which systems to run (default all). */
  systems: ReadonlySet<'brook' | 'redis' | 'nats'>;
  sdkDriver?: SdkDriverFactory;
  log: Log;
}

const STEP_TIMEOUT_MS = 300_000;
/** W1's unrecorded warm-up run, per client: at most this many records, started within this budget. */
const W1_WARMUP_RECORDS = 200_000;
const W1_WARMUP_BUDGET_MS = 2000;
/** W4's unrecorded warm-up run, per client. */
const WARMUP_E2E_MS = 1000;
/**
 * Runs W4 for one client in a fresh `node --expose-gc` (e2e-child.ts) and
 * returns its histogram. The child is stopped by its PID if it outlives the
 * step's timeout.
 */
function runEndToEndInChild(spec: EndToEndSpec): Promise<hdr.Histogram> {
  const script = path.join(__dirname, 'e2e-child.js');
  const child = spawn(process.execPath, ['--expose-gc', script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
  return new Promise((resolve, reject) => {
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) {
        reject(new Error(`W4 ${spec.column} child exited ${signal ?? code}: ${stderr.trim().split('\n').pop() || 'no output'}`));
        return;
      }
      resolve(hdr.decodeFromCompressedBase64((JSON.parse(last) as { histogram: string }).histogram));
    });
  });
}

/** Says so when a run stopped at its time budget before `target` records. */
function capNote(done: number, target: number): string | undefined {
  return done < target ? `time-capped: ${done} of ${target} records` : undefined;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] : String(err);
}

export async function runLevel(level: Durability, options: RunOptions, clients: Record<string, string>): Promise<LevelResult> {
  const { profile, log, systems } = options;
  const cells: LevelResult['cells'] = {};
  const settings: Record<string, string> = {};
  const put = (row: string, column: Driver['column'] | 'redis-c', cell: Cell): void => {
    (cells[row] ??= {})[column] = cell;
  };

  let redis: RedisServer | undefined;
  let nats: NatsServer | undefined;
  let brook: BrookServer | undefined;
  const drivers: Driver[] = [];
  try {
    if (systems.has('brook')) {
      if (brokerAvailable()) {
        brook = await startBrook(level);
        settings.Brook = `flush.policy=${level === 'fsync' ? 'always' : 'never'}`;
        const sdk = await options.sdkDriver?.(brook.address, level);
        if (sdk) drivers.push(sdk);
        drivers.push(new BrookGrpcDriver(brook.address, level));
      } else {
        log('brook: dist/src/cli/main.js serve not built yet; Brook left out');
      }
    }
    if (systems.has('redis')) {
      redis = await startRedis(level);
      settings.Redis = `appendonly yes, appendfsync ${level === 'fsync' ? 'always' : 'everysec'}`;
      drivers.push(new RedisNodeDriver(redis.port));
    }
    if (systems.has('nats')) {
      nats = await startNats(level);
      settings.JetStream = `file storage, ${nats.syncSetting}`;
      drivers.push(new NatsNodeDriver(nats.port));
    }
    for (const d of drivers) clients[d.column] = d.client;
    if (redis) clients['redis-c'] = `redis-benchmark ${redis.version} -P 1000`;
    const natsFlag = nats && level === 'fsync' && !nats.fsyncBeforeAck ? `JetStream ${nats.version} cannot fsync before ack` : undefined;
    const flagFor = (d: Driver): string | undefined => (d.column === 'nats-node' ? natsFlag : undefined);
    const prefix = (d: Driver | 'redis-c'): string => (d === 'redis-c' ? 'rb' : d.column.replace(/[^a-z]/g, ''));

    const step = async (what: string, fn: () => Promise<Cell>): Promise<Cell> => {
      await settle();
      const started = performance.now();
      try {
        const cell = await withTimeout(fn(), STEP_TIMEOUT_MS, what);
        log(`${level} ${what}: ${cell.value === null ? '—' : Math.round(cell.value)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
        return cell;
      } catch (err) {
        log(`${level} ${what}: FAILED ${errorMessage(err)}`);
        return { value: null, error: errorMessage(err) };
      }
    };

    // W1 warm-up, unrecorded: a short run per client on a topic of its own, so
    // the measured runs do not include first-use costs (JIT, connections,
    // buffers, a broker's first segment).
    const warmupRecords = Math.min(profile.records, W1_WARMUP_RECORDS);
    if (redis) await step('W1 warm-up redis-benchmark', async () => ({ value: await redisBenchmarkXadd(redis!.port, 'rb-w1-warmup', warmupRecords, 1, 1) }));
    for (const d of drivers) {
      await step(`W1 warm-up ${d.column}`, async () => {
        const topic = `${prefix(d)}-w1-warmup`;
        await d.createTopic(topic, 1);
        const producer = await d.openProducer();
        try {
          const start = performance.now();
          const done = await producer.produce(topic, [0], warmupRecords, profile.batch, profile.inFlight, start + W1_WARMUP_BUDGET_MS);
          return { value: done / ((performance.now() - start) / 1000) };
        } finally {
          await producer.close();
        }
      });
    }

    // W1, one partition: runs interleaved across clients; each run writes its own partition.
    const w1Runs = new Map<string, number[]>();
    const w1Produced = new Map<string, number>();
    const w1Notes = new Map<string, string>();
    const w1Failed = new Map<string, string>();
    for (let run = 0; run < profile.runs; run++) {
      if (redis) {
        const cell = await step(`W1 redis-benchmark run ${run + 1}`, async () => ({
          value: await redisBenchmarkXadd(redis!.port, `rb-w1-r${run}`, profile.records, 1, 1),
        }));
        if (cell.value !== null) (w1Runs.get('redis-c') ?? w1Runs.set('redis-c', []).get('redis-c')!).push(cell.value);
        else w1Failed.set('redis-c', cell.error!);
      }
      for (const d of drivers) {
        const cell = await step(`W1 ${d.column} run ${run + 1}`, async () => {
          const topic = `${prefix(d)}-w1-r${run}`;
          await d.createTopic(topic, 1);
          const producer = await d.openProducer();
          try {
            const start = performance.now();
            const done = await producer.produce(topic, [0], profile.records, profile.batch, profile.inFlight, start + profile.runBudgetMs);
            w1Produced.set(`${d.column}/${run}`, done);
            return { value: done / ((performance.now() - start) / 1000), note: capNote(done, profile.records) };
          } finally {
            await producer.close();
          }
        });
        if (cell.value !== null) (w1Runs.get(d.column) ?? w1Runs.set(d.column, []).get(d.column)!).push(cell.value);
        else w1Failed.set(d.column, cell.error!);
        if (cell.note) w1Notes.set(d.column, cell.note);
      }
    }
    const medianCell = (runs: number[] | undefined, error: string | undefined, flag?: string, note?: string): Cell =>
      error !== undefined || !runs?.length ? { value: null, error: error ?? 'no runs' } : { value: median(runs), runs, notAtLevel: flag, note };
    if (redis) put('w1-1p', 'redis-c', medianCell(w1Runs.get('redis-c'), w1Failed.get('redis-c')));
    for (const d of drivers) put('w1-1p', d.column, medianCell(w1Runs.get(d.column), w1Failed.get(d.column), flagFor(d), w1Notes.get(d.column)));

    // W2: each W1 run's partition read back from its first record.
    const w2Runs = new Map<string, number[]>();
    const w2Failed = new Map<string, string>();
    for (let run = 0; run < profile.runs; run++) {
      for (const d of drivers) {
        if (w1Failed.has(d.column)) continue;
        const cell = await step(`W2 ${d.column} run ${run + 1}`, async () => {
          const reader = await d.openReader();
          try {
            const start = performance.now();
            const count = w1Produced.get(`${d.column}/${run}`) ?? profile.records;
            await reader.readAll(`${prefix(d)}-w1-r${run}`, 0, count, profile.readCount);
            return { value: count / ((performance.now() - start) / 1000) };
          } finally {
            await reader.close();
          }
        });
        if (cell.value !== null) (w2Runs.get(d.column) ?? w2Runs.set(d.column, []).get(d.column)!).push(cell.value);
        else w2Failed.set(d.column, cell.error!);
      }
    }
    for (const d of drivers) put('w2', d.column, medianCell(w2Runs.get(d.column), w2Failed.get(d.column) ?? w1Failed.get(d.column)));

    // W1 multi: `multiProducers` producers, each owning partitions p ≡ m (mod producers).
    if (redis) {
      put('w1-8p', 'redis-c', await step('W1 multi redis-benchmark', async () => ({
        value: await redisBenchmarkXadd(redis!.port, 'rb-w1m', profile.multiRecords, profile.multiPartitions, profile.multiProducers),
      })));
    }
    const multiOk = new Set<Driver>();
    const multiProduced = new Map<string, number>();
    for (const d of drivers) {
      const cell = await step(`W1 multi ${d.column}`, async () => {
        const topic = `${prefix(d)}-w1m`;
        await d.createTopic(topic, profile.multiPartitions);
        const producers = await Promise.all(Array.from({ length: profile.multiProducers }, () => d.openProducer()));
        try {
          const each = profile.multiRecords / profile.multiProducers;
          const start = performance.now();
          const counts = await Promise.all(
            producers.map((producer, m) => {
              const owned = Array.from({ length: profile.multiPartitions }, (_, p) => p).filter((p) => p % profile.multiProducers === m);
              return producer.produce(topic, owned, each, profile.batch, profile.inFlight, start + profile.runBudgetMs);
            }),
          );
          const done = counts.reduce((a, b) => a + b, 0);
          multiProduced.set(d.column, done);
          return { value: done / ((performance.now() - start) / 1000), notAtLevel: flagFor(d), note: capNote(done, profile.multiRecords) };
        } finally {
          await Promise.all(producers.map((p) => p.close()));
        }
      });
      if (cell.value !== null) multiOk.add(d);
      put('w1-8p', d.column, cell);
    }

    // W3: single-record produce latency, one in flight.
    for (const d of drivers) {
      const histogram = newHistogram();
      const cell = await step(`W3 ${d.column}`, async () => {
        const topic = `${prefix(d)}-w3`;
        await d.createTopic(topic, 1);
        await d.produceLatency(topic, profile.latencySamples, histogram);
        return { value: summarize(histogram).p99Us };
      });
      const s = summarize(histogram);
      const flag = flagFor(d);
      put('w3-p50', d.column, cell.error ? cell : { value: s.p50Us, notAtLevel: flag });
      put('w3-p99', d.column, cell.error ? cell : { value: s.p99Us, notAtLevel: flag });
      put('w3-p999', d.column, cell.error ? cell : { value: s.p999Us, notAtLevel: flag });
    }

    // W4: end-to-end latency at a fixed rate, each client in a process of its own (see e2e-child.ts).
    for (const d of drivers) {
      const histogram = newHistogram();
      const cell = await step(`W4 ${d.column}`, async () => {
        const spec: EndToEndSpec = {
          column: d.column,
          address: brook?.address,
          port: d.column === 'redis-node' ? redis?.port : d.column === 'nats-node' ? nats?.port : undefined,
          level,
          topic: `${prefix(d)}-w4`,
          rate: profile.e2eRate,
          durationMs: profile.e2eDurationMs,
          warmupMs: WARMUP_E2E_MS,
        };
        histogram.add(await runEndToEndInChild(spec));
        return { value: summarize(histogram).p99Us };
      });
      const s = summarize(histogram);
      const flag = flagFor(d);
      put('w4-p50', d.column, cell.error ? cell : { value: s.p50Us, notAtLevel: flag });
      put('w4-p99', d.column, cell.error ? cell : { value: s.p99Us, notAtLevel: flag });
    }

    // W5: a group of consumers over W1 multi's partitions, with producers still adding.
    for (const d of drivers) {
      if (!d.groupConsume || !multiOk.has(d)) continue;
      const budgetMs = profile.runBudgetMs * 2;
      const started = performance.now();
      put('w5', d.column, await step(`W5 ${d.column}`, async () => ({
        value: await d.groupConsume!({
          topic: `${prefix(d)}-w1m`,
          partitions: profile.multiPartitions,
          members: profile.groupMembers,
          backlog: multiProduced.get(d.column) ?? profile.multiRecords,
          readCount: profile.readCount,
          budgetMs,
          backgroundRate: profile.groupBackgroundRate,
        }),
        notAtLevel: flagFor(d),
        note: performance.now() - started >= budgetMs ? `time-capped at ${budgetMs / 1000} s before the backlog was consumed` : undefined,
      })));
    }
  } finally {
    for (const d of drivers) await d.close().catch(() => undefined);
    await brook?.process.stop();
    await redis?.process.stop();
    await nats?.process.stop();
  }
  return { level, settings, cells };
}
