/**
 * Brook side by side with Redis Streams and NATS JetStream, on this machine,
 * in one run: the same workloads (W1–W5, see compare/workload.ts) at two
 * durability levels, plus the machine's ceilings, written to
 *   bench/results/latest.json   every figure, every run, settings, versions
 *   bench/results/latest.md     the table (same row order every run)
 *   bench/results/latest.svg    the chart
 *
 *   make bench-quick            node dist/bench/compare.js --quick   (< 2 min)
 *   node dist/bench/compare.js [--quick] [--systems brook,redis,nats]
 *        [--levels fsync,buffered] [--no-ceilings] [--out DIR]
 *
 * Needs redis-server, redis-benchmark and nats-server on PATH
 * (scripts/install-system-deps.sh bench) and `make build`.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { Command } from 'commander';
import { measureCeilings, type Ceilings } from './compare/ceilings';
import { renderChart } from './compare/chart';
import { natsVersion, hasSyncAlways } from './compare/nats';
import { redisVersion } from './compare/redis';
import { markdownTable, type Results } from './compare/results';
import { runLevel, type RunOptions } from './compare/run';
import { makeSdkDriver } from './compare/brook-sdk';
import { DURABILITY_LEVELS, PROFILES, RECORD_BYTES, type Durability } from './compare/workload';

const ROOT = path.resolve(__dirname, '..', '..');

function log(line: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).trim();
    return dirty ? `${commit}+changes` : commit;
  } catch {
    return 'unknown';
  }
}

function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

async function main(): Promise<void> {
  const program = new Command()
    .name('compare')
    .option('--quick', 'smaller counts, same shape (make bench-quick)', false)
    .option('--systems <list>', 'comma-separated subset of brook,redis,nats', 'brook,redis,nats')
    .option('--levels <list>', 'comma-separated subset of fsync,buffered', DURABILITY_LEVELS.join(','))
    .option('--no-ceilings', 'skip the ceiling measurements')
    .option('--out <dir>', 'where latest.{json,md,svg} go', path.join(ROOT, 'bench', 'results'))
    .option('--render-only', 'rewrite latest.md and latest.svg from latest.json without running anything', false)
    .parse(process.argv);
  const opts = program.opts<{ quick: boolean; systems: string; levels: string; ceilings: boolean; out: string; renderOnly: boolean }>();
  if (opts.renderOnly) {
    const saved = JSON.parse(fs.readFileSync(path.join(opts.out, 'latest.json'), 'utf8')) as Results;
    writeAtomically(path.join(opts.out, 'latest.md'), markdownTable(saved));
    writeAtomically(path.join(opts.out, 'latest.svg'), renderChart(saved));
    log(`re-rendered latest.md and latest.svg from ${path.join(opts.out, 'latest.json')}`);
    return;
  }

  const profile = PROFILES[opts.quick ? 'quick' : 'full'];
  const systems = new Set(opts.systems.split(',').map((s) => s.trim())) as RunOptions['systems'];
  for (const s of systems) if (!['brook', 'redis', 'nats'].includes(s)) throw new Error(`--systems: unknown system ${JSON.stringify(s)}`);
  const levels = opts.levels.split(',').map((s) => s.trim()) as Durability[];
  for (const l of levels) if (!DURABILITY_LEVELS.includes(l)) throw new Error(`--levels: unknown level ${JSON.stringify(l)}`);

  const startedAt = new Date();
  const started = performance.now();
  const cpus = os.cpus();
  const [load1] = os.loadavg();
  const versions: Record<string, string> = { brook: gitCommit(), node: process.versions.node };
  if (systems.has('redis')) versions['redis-server'] = await redisVersion();
  if (systems.has('nats')) versions['nats-server'] = await natsVersion();
  const notes: string[] = [
    `Producers keep up to ${profile.inFlight} batches of ${profile.batch} unacknowledged (redis-benchmark: 1 pipeline of 1000 per connection; Brook SDK in W1: send() calls of ${profile.batch} records with up to 50,000 records unacknowledged, which the Producer packs into batches of up to 1 MiB, 5 requests in flight); W1/W2 are medians of ${profile.runs} runs, interleaved across clients.`,
    'All Node clients run in one harness process (one core for all client work), except W4: each client runs it in a fresh Node process of its own, so no client inherits the heap state (GC limits, pretenuring) that W1–W3 left in the harness. Each producer/consumer has its own connection. The servers are separate processes.',
    'Every timed step starts after sync(2), a full GC of the harness (with --expose-gc, as `make bench` runs it) and a 300 ms pause, so no system pays for the previous one\'s write-back or garbage.',
    `W4 latency counts from each record's scheduled send time (open loop at ${profile.e2eRate} rec/s), over ${profile.e2eDurationMs / 1000} s after an unrecorded 1 s warm-up run on its own topic (W1 likewise starts with an unrecorded run of up to 200,000 records per client); W5 keeps a producer adding ${profile.groupBackgroundRate} rec/s while the group consumes the ${profile.multiRecords}-record backlog.`,
  ];
  if (systems.has('nats') && !hasSyncAlways(versions['nats-server'])) {
    notes.push(
      `nats-server ${versions['nats-server']} (the installed one) has no sync setting (sync_interval arrived in 2.10), so its "fsync" figures are OS-buffered and marked †.`,
    );
  }
  if (load1 > 1) notes.push(`Load average was ${load1.toFixed(2)} at start: the machine was busy with other work.`);

  log(`profile ${profile.name}: ${profile.records} records of ${RECORD_BYTES} B, levels ${levels.join(', ')}, systems ${[...systems].join(', ')}`);
  let ceilings: Ceilings | null = null;
  if (opts.ceilings) ceilings = await measureCeilings(profile, log);

  const clients: Record<string, string> = {};
  const results: Results = {
    meta: {
      startedAt: startedAt.toISOString(),
      durationS: 0,
      profile: profile.name,
      machine: `${cpus.length} × ${cpus[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${load1.toFixed(2)} at start`,
      command: opts.quick ? 'make bench-quick' : 'make bench',
      versions,
      clients,
      sizes: { ...profile, name: undefined } as unknown as Record<string, number>,
      notes,
    },
    ceilings,
    levels: [],
  };
  for (const level of levels) {
    results.levels.push(await runLevel(level, { profile, levels, systems, log, sdkDriver: makeSdkDriver }, clients));
  }
  results.meta.durationS = (performance.now() - started) / 1000;

  fs.mkdirSync(opts.out, { recursive: true });
  const markdown = markdownTable(results);
  writeAtomically(path.join(opts.out, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeAtomically(path.join(opts.out, 'latest.md'), markdown);
  writeAtomically(path.join(opts.out, 'latest.svg'), renderChart(results));
  process.stdout.write(markdown);
  log(`wrote ${path.relative(process.cwd(), path.join(opts.out, 'latest.{json,md,svg}'))} in ${Math.round(results.meta.durationS)} s`);
}

main().then(
  () => process.exit(0),
  (err) => {
    log(`compare failed: ${err instanceof Error ? err.stack : String(err)}`);
    process.exit(1);
  },
);
