/**
 * Timing and summary helpers shared by every driver. Latencies are recorded
 * in microseconds into an HdrHistogram (3 significant digits, up to 60 s) so
 * p99.9 of a few thousand samples costs nothing to keep.
 */
import * as hdr from 'hdr-histogram-js';

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
}

/** Microseconds since an arbitrary origin, sub-microsecond resolution. */
export function nowUs(): number {
  return performance.now() * 1000;
}

export interface LatencySummary {
  samples: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
  meanUs: number;
}

export function summarize(histogram: Histogram): LatencySummary {
  return {
    samples: histogram.totalCount,
    p50Us: histogram.getValueAtPercentile(50),
    p99Us: histogram.getValueAtPercentile(99),
    p999Us: histogram.getValueAtPercentile(99.9),
    maxUs: histogram.maxValue,
    meanUs: Math.round(histogram.mean),
  };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs `fn` and returns records per second of `records` over its wall time. */
export async function ratePerSecond(records: number, fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  const seconds = (performance.now() - start) / 1000;
  return records / seconds;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves `promise` or rejects after `ms` with a message naming `what`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Keeps at most `window` operations in flight: calls `next(i)` for i in
 * [0, count) and resolves when all have settled, rejecting on the first error.
 * With `deadlineMs` (a performance.now() time) no new operation starts after
 * it. Resolves with how many operations were started (and so completed).
 */
export async function windowed(count: number, window: number, next: (i: number) => Promise<unknown>, deadlineMs = Infinity): Promise<number> {
  let issued = 0;
  let failed: unknown;
  const lane = async (): Promise<void> => {
    while (issued < count && failed === undefined && performance.now() < deadlineMs) {
      const i = issued++;
      try {
        await next(i);
      } catch (err) {
        failed ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(window, count) }, lane));
  if (failed !== undefined) throw failed;
  return issued;
}
