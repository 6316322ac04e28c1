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
import v8 from 'node:v8';

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

/**
 * The V8 flag for `server.heap_growing_percent`: after each mark-compact V8
 * lets the old generation grow to (1 + percent/100) x what survived before
 * the next one starts. V8's own factor adapts between 1.1 and 4 and settles
 * near 1.1-1.2 in the broker; large requests' Buffers that outlive a
 * scavenge count towards the old generation, so under W1 of the comparison
 * (1 MiB requests, flush.policy=always) a mark-compact started every ~60 ms:
 * 31-42 of them per 3M records. With 100 (factor 2): 1, and broker CPU for
 * the 3M records 2.40 / 2.69 s -> 1.68 / 1.88 s in back-to-back pairs
 * (bench/README.md, "Performance log — third pass"). The flag is read whenever V8 recomputes its limits,
 * so unlike the heap-size flags it takes effect when set at run time.
 * Returns undefined for 0: V8's adaptive factor.
 */
export function heapGrowingFlag(percent: number): string | undefined {
  if (!Number.isInteger(percent) || percent < 0) throw new RangeError(`heap growing percent must be an integer >= 0, got ${percent}`);
  return percent === 0 ? undefined : `--heap-growing-percent=${percent}`;
}

/** Sets the process's heap growing factor (see heapGrowingFlag); process-wide, like the reserve. */
export function setHeapGrowing(percent: number): void {
  const flag = heapGrowingFlag(percent);
  if (flag) v8.setFlagsFromString(flag);
}
