/**
 * sleep() and withRetry() waits: however many wait on one signal at once,
 * the signal carries one 'abort' listener, and none once they are over.
 */
import { getEventListeners } from 'events';
import { BrookError } from '../../src/common/errors';
import { sleep, withRetry } from '../../src/client/retry';

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

describe('sleep', () => {
  it('puts one listener on a signal for 12 sleeps at once (12 would pass the limit of 10 and print a warning), and none after they end', async () => {
    const controller = new AbortController();
    const sleeps = Array.from({ length: 12 }, (_, i) => sleep(1000 + i, controller.signal));
    expect(abortListeners(controller.signal)).toBe(1);
    jest.advanceTimersByTime(1005);
    expect(abortListeners(controller.signal)).toBe(1);
    jest.advanceTimersByTime(10);
    await Promise.all(sleeps);
    expect(abortListeners(controller.signal)).toBe(0);
    // A later wave starts over with one listener.
    const later = [sleep(10, controller.signal), sleep(20, controller.signal)];
    expect(abortListeners(controller.signal)).toBe(1);
    jest.advanceTimersByTime(20);
    await Promise.all(later);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('ends every sleep on the signal when it aborts, leaving no timer or listener', async () => {
    const controller = new AbortController();
    const other = new AbortController();
    const ended: number[] = [];
    const sleeps = Array.from({ length: 12 }, (_, i) => sleep(60_000, controller.signal).then(() => ended.push(i)));
    const unrelated = sleep(60_000, other.signal);
    controller.abort();
    await Promise.all(sleeps);
    expect(ended).toHaveLength(12);
    expect(abortListeners(controller.signal)).toBe(0);
    expect(abortListeners(other.signal)).toBe(1);
    expect(jest.getTimerCount()).toBe(1); // the unrelated sleep's
    other.abort();
    await unrelated;
    expect(jest.getTimerCount()).toBe(0);
    // An aborted signal: no wait, no listener.
    await sleep(60_000, controller.signal);
    expect(abortListeners(controller.signal)).toBe(0);
  });
});

describe('withRetry', () => {
  it('leaves no listener on its signal after retries that waited on it', async () => {
    const controller = new AbortController();
    const retry = { retries: 5, initialBackoffMs: 10, maxBackoffMs: 10, multiplier: 1, jitter: 0 };
    const runs = Array.from({ length: 12 }, () => {
      let attempts = 0;
      return withRetry(
        async () => {
          if (++attempts < 4) throw new BrookError('CONNECTION_FAILED', 'not yet');
          return attempts;
        },
        retry,
        controller.signal,
      );
    });
    await jest.advanceTimersByTimeAsync(0); // every first attempt failed: 12 waits
    expect(jest.getTimerCount()).toBe(12);
    expect(abortListeners(controller.signal)).toBe(1);
    await jest.advanceTimersByTimeAsync(100);
    expect(await Promise.all(runs)).toEqual(Array(12).fill(4));
    expect(abortListeners(controller.signal)).toBe(0);
  });
});
