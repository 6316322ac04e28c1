/**
 * What every timed step of the comparison starts with (see run.ts).
 */
import { spawnSync } from 'child_process';
import { sleep } from './stats';

const SETTLE_MS = 300;

/**
 * sync(2) so the page cache holds no dirty data from the previous step (any
 * system's) for the kernel to write back during this one; a full GC of this
 * process when node runs with --expose-gc (`make bench` does); then a short
 * pause.
 */
export async function settle(): Promise<void> {
  spawnSync('sync', [], { stdio: 'ignore', timeout: 60_000 });
  (globalThis as { gc?: () => void }).gc?.();
  await sleep(SETTLE_MS);
}
