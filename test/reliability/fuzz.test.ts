/**
 * 2,000 hostile calls across every RPC (`make fuzz` runs 100,000 through
 * scripts/fuzz.ts). Replay with BROOK_FUZZ_SEED=<seed printed below>.
 */
import { stopAllBrokers } from '../helpers/broker';
import { formatFuzzReport, runFuzz } from './fuzz-run';
import { seedFrom } from './random';

afterAll(async () => {
  await stopAllBrokers();
});

it('survives 2,000 random and mutated calls: no crash, no hang, bounded memory, data unchanged', async () => {
  const report = await runFuzz({ calls: 2000, seed: seedFrom('BROOK_FUZZ_SEED') });
  const text = formatFuzzReport(report);
  console.log(text);
  expect({ crashes: report.crashes, hangs: report.deadlineExceeded, internal: report.internalErrors }).toEqual({ crashes: 0, hangs: [], internal: [] });
  expect(report.calls).toBe(2000);
  expect(report.servingAtEnd).toBe(true);
  expect(report.dataUnchanged).toBe(true);
  expect(report.maxRssKiB).toBeLessThan(1024 * 1024);
}, 150_000);
