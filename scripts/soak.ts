/**
 * `make soak`: the crash-consistency harness for many kill/restart rounds
 * (default 200), printing the running counts every 10 rounds and a summary.
 * Exits 1 if anything acknowledged was lost or duplicated, or a read turned
 * out to be a phantom.
 *
 *   node dist/scripts/soak.js [--rounds N] [--seed S]
 */
import { formatCrashCounts, runCrashRounds } from '../test/reliability/crash-rounds';
import { seedFrom } from '../test/reliability/random';
import { stopAllBrokers } from '../test/helpers/broker';
import { flag, stopBrokersOnSignal } from './script-support';

stopBrokersOnSignal();

async function main(): Promise<void> {
  const rounds = Number(flag('--rounds') ?? process.env.BROOK_SOAK_ROUNDS ?? 200);
  const seed = flag('--seed') !== undefined ? Number(flag('--seed')) : seedFrom('BROOK_CRASH_SEED');
  if (!Number.isSafeInteger(rounds) || rounds < 1) throw new Error(`--rounds must be a positive integer, got ${flag('--rounds')}`);
  console.log(`soak: ${rounds} SIGKILL/restart rounds, seed ${seed}`);
  const started = Date.now();
  const counts = await runCrashRounds({
    rounds,
    seed,
    onRound: (c) => {
      if (c.rounds % 10 === 0) console.log(`[${((Date.now() - started) / 1000).toFixed(0)} s] ${formatCrashCounts(c)}`);
    },
  });
  await stopAllBrokers();
  console.log(`soak done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  console.log(formatCrashCounts(counts));
  for (const p of counts.problems) console.log(`problem: ${p}`);
  const bad = counts.lost + counts.duplicated + counts.phantomReads + counts.gaps + counts.commitsPastEnd + counts.commitsLost + counts.problems.length;
  console.log(`rounds ${counts.rounds}, records acknowledged ${counts.acknowledged}, lost ${counts.lost}, duplicated ${counts.duplicated}, phantom reads ${counts.phantomReads}`);
  process.exit(bad === 0 ? 0 : 1);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
