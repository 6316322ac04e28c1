/**
 * Short crash-consistency run for `make test`: a broker SIGKILLed and
 * restarted 8 times under producers (records and record_batch forms, ACKS_LEADER),
 * fetching consumers and a committer. `make soak` runs the same harness for
 * 200+ rounds (scripts/soak.ts). Replay a run with BROOK_CRASH_SEED=<seed>.
 */
import { stopAllBrokers } from '../helpers/broker';
import { formatCrashCounts, runCrashRounds } from './crash-rounds';
import { seedFrom } from './random';

afterAll(async () => {
  await stopAllBrokers();
});

it('keeps every acknowledged record once, at its offset, across 8 SIGKILLs', async () => {
  const counts = await runCrashRounds({ rounds: 8, seed: seedFrom('BROOK_CRASH_SEED'), roundMinMs: 200, roundMaxMs: 1200 });
  const line = formatCrashCounts(counts);
  if (counts.problems.length > 0) throw new Error(`${line}\n${counts.problems.join('\n')}`);
  expect(counts.rounds).toBe(8);
  expect(counts.acknowledged).toBeGreaterThan(100);
  expect(counts.recordsRead).toBeGreaterThan(0);
  expect(counts.commitsAcknowledged).toBeGreaterThan(0);
  expect({ lost: counts.lost, duplicated: counts.duplicated, phantomReads: counts.phantomReads, gaps: counts.gaps, commitsPastEnd: counts.commitsPastEnd, commitsLost: counts.commitsLost }).toEqual({
    lost: 0, duplicated: 0, phantomReads: 0, gaps: 0, commitsPastEnd: 0, commitsLost: 0,
  });
}, 120_000);

it('notices lost records when the tail holding acknowledged records goes missing after the kill (harness self-check)', async () => {
  const counts = await runCrashRounds({ rounds: 2, partitions: 1, seed: seedFrom('BROOK_CRASH_SEED'), roundMinMs: 400, roundMaxMs: 600, dropAcknowledgedTail: true });
  const line = formatCrashCounts(counts);
  expect({ line, lostSome: counts.lost > 0 }).toEqual({ line, lostSome: true });
  expect(counts.problems.join('\n')).toMatch(/acknowledged offset \d+ is missing/);
}, 60_000);
