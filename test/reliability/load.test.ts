/**
 * Reduced load run for `make test`: 200 connections, 500 partitions (5 topics
 * × 100), producers and long-polling consumers, then a stalled subscriber and
 * a slow fetcher. `make load` runs 1,000 connections and 2,000 partitions.
 */
import { stopAllBrokers } from '../helpers/broker';
import { runLoad } from './load-run';

afterAll(async () => {
  await stopAllBrokers();
});

it('holds 200 connections and 500 partitions; a stalled consumer does not slow the others', async () => {
  const report = await runLoad({ connections: 200, topics: 5, partitionsPerTopic: 100, phaseMs: 5000, onLog: (line) => console.log(line) });
  console.log(JSON.stringify(report, null, 1));
  expect(report.brokerAliveThroughout).toBe(true);
  expect(report.brokerSockets).toBeGreaterThanOrEqual(200);
  const a = report.withoutSlowConsumer;
  const b = report.withSlowConsumer;
  expect(a.produceErrors + a.fetchErrors + b.produceErrors + b.fetchErrors).toBe(0);
  expect(a.consumedPerSec).toBeGreaterThan(0);
  // The others keep going with the slow consumer around. A consumer that held
  // the others up (head-of-line blocking on a shared stream or lock) would
  // collapse their rate towards 0; the bound is loose because jest runs
  // another suite beside this one on a 2-core machine, which alone can halve
  // a 5-second phase. Speed itself is measured by `make load`, not here.
  const c = report.afterSlowConsumer;
  const base = Math.min(a.consumedPerSec, c.consumedPerSec);
  expect(b.consumedPerSec).toBeGreaterThan(base * 0.4);
  expect(b.producedPerSec).toBeGreaterThan(Math.min(a.producedPerSec, c.producedPerSec) * 0.4);
  expect(c.produceErrors + c.fetchErrors).toBe(0);
  expect(report.rssMaxKiB).toBeLessThan(1024 * 1024);
}, 170_000);
