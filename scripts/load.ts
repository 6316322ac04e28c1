/**
 * `make load`: 1,000 client connections and 2,000 partitions (20 topics ×
 * 100) against one broker (test/reliability/load-run.ts); prints rates,
 * latencies with and without a slow consumer, RSS and start-up times.
 *
 *   node dist/scripts/load.js [--connections N] [--topics T] [--partitions-per-topic P] [--phase-ms MS]
 */
import { stopAllBrokers } from '../test/helpers/broker';
import { runLoad } from '../test/reliability/load-run';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const value = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void stopAllBrokers().finally(() => process.exit(130));
  });
}

async function main(): Promise<void> {
  const report = await runLoad({
    connections: flag('--connections', 1000),
    topics: flag('--topics', 20),
    partitionsPerTopic: flag('--partitions-per-topic', 100),
    phaseMs: flag('--phase-ms', 20_000),
    onLog: (line) => console.log(line),
  });
  await stopAllBrokers();
  console.log(JSON.stringify(report, null, 2));
  process.exit(report.brokerAliveThroughout ? 0 : 1);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.stack : e);
  process.exit(1);
});
