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

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
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
