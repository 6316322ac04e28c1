/**
 * A fixed block of V8 heap the broker holds for its whole life, so that V8
 * sizes its old-generation limits for a server rather than for a script.
 *
 * Why: V8 starts with old-generation limits of a few MB above the live heap
 * (the broker's live heap is ~13 MB). Every Produce brings ~116 KB request
 * Buffers that V8 counts against those limits, so under load it began an
 * incremental mark-compact every ~70-100 ms — ~30 per 2000 requests, each
 * 2-25 ms, ~40% of the broker's busy CPU in a profile (record_batch produce,
 * 1000 × 100 B, flush=never). With this 32 MiB reserve on the heap, the same
 * run did 1 mark-compact and broker CPU fell from ~1060 to ~740 µs per
 * request (median of runs on the shared 2-core machine); the scavenges of
 * short-lived objects are unchanged. `node --initial-old-space-size=128` has
 * the same effect, but a flag is lost whenever the broker is started as
 * `node dist/src/cli/main.js serve` (tests, the benchmarks) and V8 ignores
 * it when set at run time.
 *
 * The reserve is an array of doubles (HOLEY_DOUBLE_ELEMENTS, as `new
 * Array(n).fill(0.5)` makes it): one object backed by a FixedDoubleArray
 * with no pointers in it, so marking it costs nothing per element. It costs
 * its size in resident memory: `server.heap_reserve_mb` (default 32; 0
 * disables it, e.g. for a broker embedded in a small process).
 */
const MIB = 1024 * 1024;

let reserve: number[] | undefined;

/**
 * Holds a reserve of `mib` MiB for the rest of the process. A process keeps
 * one reserve: a later call only ever grows it, and 0 does nothing.
 */
export function reserveHeap(mib: number): void {
  const doubles = (mib * MIB) / 8;
  if (doubles <= (reserve?.length ?? 0)) return;
  reserve = new Array<number>(doubles).fill(0.5);
}
