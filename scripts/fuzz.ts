/**
 * `make fuzz`: hostile input against every RPC (test/reliability/fuzz-run.ts)
 * for many calls (default 100,000), printing progress, the status histogram
 * and the crash count. Exits 1 on a crash, a hang, an INTERNAL answer, lost
 * SERVING or changed data.
 *
 *   node dist/scripts/fuzz.js [--calls N] [--seed S]
 */
import { stopAllBrokers } from '../test/helpers/broker';
import { formatFuzzReport, runFuzz } from '../test/reliability/fuzz-run';
import { seedFrom } from '../test/reliability/random';
import { flag, stopBrokersOnSignal } from './script-support';

stopBrokersOnSignal();

async function main(): Promise<void> {
  const calls = Number(flag('--calls') ?? process.env.BROOK_FUZZ_CALLS ?? 100_000);
  const seed = flag('--seed') !== undefined ? Number(flag('--seed')) >>> 0 : seedFrom('BROOK_FUZZ_SEED');
  if (!Number.isSafeInteger(calls) || calls < 1) throw new Error(`--calls must be a positive integer, got ${flag('--calls')}`);
  console.log(`fuzz: ${calls} calls, seed ${seed}`);
  const report = await runFuzz({ calls, seed, onProgress: (r) => console.log(`[${(r.elapsedMs / 1000).toFixed(0)} s] calls=${r.calls} crashes=${r.crashes} hangs=${r.deadlineExceeded.length} internal_errors=${r.internalErrors.length} max_rss_kib=${r.maxRssKiB}`) });
  await stopAllBrokers();
  console.log(formatFuzzReport(report));
  for (const h of report.deadlineExceeded.slice(0, 20)) console.log(`hang: call ${h.call} ${h.method}`);
  for (const e of report.internalErrors) console.log(`internal: call ${e.call} ${e.method}: ${e.details}`);
  const ok = report.crashes === 0 && report.deadlineExceeded.length === 0 && report.internalErrors.length === 0 && report.servingAtEnd && report.dataUnchanged;
  console.log(`calls ${report.calls}, crashes ${report.crashes}`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
