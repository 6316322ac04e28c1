/**
 * Retries with exponential backoff and jitter. Only an error whose
 * `retriable` flag is true is retried; everything else fails at once.
 */
import { BrookError } from '../common/errors';
import type { RetryOptions } from './options';

/** Delay before retry number `attempt` (0-based): initial * multiplier^attempt, capped, then jittered. */
export function backoffDelayMs(attempt: number, retry: RetryOptions, random: () => number = Math.random): number {
  const base = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * Math.pow(retry.multiplier, attempt));
  const factor = 1 - retry.jitter + 2 * retry.jitter * random();
  return Math.max(0, Math.round(base * factor));
}

/** The sleeps waiting on a signal, and the one 'abort' listener that ends them all. */
interface Sleepers {
  readonly wakes: Set<() => void>;
  readonly onAbort: () => void;
}

const sleepersBySignal = new WeakMap<AbortSignal, Sleepers>();

/**
 * Calls `wake` when `signal` aborts; returns what stops that. However many
 * sleeps wait on one signal at once (a producer's partitions all back off on
 * its close signal), the signal carries one listener: one per sleep would
 * print a MaxListenersExceededWarning past 10.
 */
function whenAborted(signal: AbortSignal, wake: () => void): () => void {
  let sleepers = sleepersBySignal.get(signal);
  if (sleepers === undefined) {
    const wakes = new Set<() => void>();
    const entry: Sleepers = {
      wakes,
      onAbort: () => {
        sleepersBySignal.delete(signal);
        for (const w of [...wakes]) w();
      },
    };
    sleepers = entry;
    sleepersBySignal.set(signal, entry);
    signal.addEventListener('abort', entry.onAbort, { once: true });
  }
  const entry = sleepers;
  entry.wakes.add(wake);
  return () => {
    entry.wakes.delete(wake);
    if (entry.wakes.size === 0 && sleepersBySignal.get(signal) === entry) {
      sleepersBySignal.delete(signal);
      signal.removeEventListener('abort', entry.onAbort);
    }
  };
}

/** Resolves after `ms`, or at once when `signal` aborts; either way it leaves no timer or listener behind. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    const stopWaiting = signal === undefined ? undefined : whenAborted(signal, done);
    function done(): void {
      clearTimeout(timer);
      stopWaiting?.();
      resolve();
    }
  });
}

export function isRetriable(e: unknown): boolean {
  return e instanceof BrookError && e.retriable;
}

/**
 * Runs `attempt` until it succeeds, fails with a non-retriable error, the
 * retries are used up, or `signal` aborts (then the last error is thrown).
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  retry: RetryOptions,
  signal?: AbortSignal,
  onRetry?: (error: unknown, attemptNumber: number, delayMs: number) => void,
): Promise<T> {
  for (let n = 0; ; n++) {
    try {
      return await attempt();
    } catch (e) {
      if (!isRetriable(e) || n >= retry.retries || signal?.aborted) throw e;
      const delay = backoffDelayMs(n, retry);
      onRetry?.(e, n + 1, delay);
      await sleep(delay, signal);
      if (signal?.aborted) throw e;
    }
  }
}
