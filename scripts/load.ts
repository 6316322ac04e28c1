/**
 * `make load`: 1,000 client connections and 2,000 partitions (20 topics ×
 * 100) against one broker (test/reliability/load-run.ts); prints rates,
 * latencies with and without a slow consumer, RSS and start-up times.
 *
 *   node dist/scripts/load.js [--connections N] [--topics T] [--partitions-per-topic P] [--phase-ms MS]
 */
import { stopAllBrokers } from '../test/helpers/broker';
import { runLoad } from '../test/reliability/load-run';
import { positiveIntegerFlag, stopBrokersOnSignal } from './script-support';

stopBrokersOnSignal();

async function main(): Promise<void> {
  const report = await runLoad({
    connections: positiveIntegerFlag('--connections', 1000),
    topics: positiveIntegerFlag('--topics', 20),
    partitionsPerTopic: positiveIntegerFlag('--partitions-per-topic', 100),
    phaseMs: positiveIntegerFlag('--phase-ms', 20_000),
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
