import { connectionOptions, consumerOptions, defaultProducerOptions, defaultReaderOptions, producerOptions, readerOptions, retryOptions } from '../../src/client/options';
import { backoffDelayMs } from '../../src/client/retry';

describe('client options', () => {
  it('fills defaults from one place and freezes the result', () => {
    const o = producerOptions({});
    expect(o).toEqual(defaultProducerOptions());
    expect(Object.isFrozen(o)).toBe(true);
  });

  it('names the bad field and value', () => {
    expect(() => producerOptions({ lingerMs: -1 })).toThrow(/lingerMs: -1/);
    expect(() => producerOptions({ acks: 'most' })).toThrow(/acks: "most" \(want leader \| all \| none\)/);
    expect(() => producerOptions({ lingerMS: 5 })).toThrow(/unknown option lingerMS/);
    expect(() => retryOptions({ jitter: 2 })).toThrow(/retry.jitter/);
    expect(() => connectionOptions({ addr: 'nohost' })).toThrow(/addr/);
    expect(() => consumerOptions({})).toThrow(/groupId/);
    expect(() => consumerOptions({ groupId: 'g', assignor: 'greedy' })).toThrow(/assignor/);
  });

  it('reads through a stream by default, and checks the mode and buffer bound', () => {
    expect(readerOptions({})).toEqual(defaultReaderOptions());
    expect(readerOptions({}).mode).toBe('stream');
    expect(readerOptions({ mode: 'fetch' }).mode).toBe('fetch');
    expect(() => readerOptions({ mode: 'poll' })).toThrow(/mode: "poll" \(want stream \| fetch\)/);
    expect(() => readerOptions({ maxBufferedBytes: 0 })).toThrow(/maxBufferedBytes: 0/);
  });

  it('accepts host:port and [v6]:port', () => {
    expect(connectionOptions({ addr: 'localhost:7070' }).addr).toBe('localhost:7070');
    expect(connectionOptions({ addr: '[::1]:7070' }).addr).toBe('[::1]:7070');
  });

  it('backs off exponentially within the jitter band and the cap', () => {
    const retry = retryOptions({ initialBackoffMs: 100, maxBackoffMs: 1000, multiplier: 2, jitter: 0.2 });
    expect(backoffDelayMs(0, retry, () => 0.5)).toBe(100);
    expect(backoffDelayMs(2, retry, () => 0.5)).toBe(400);
    expect(backoffDelayMs(10, retry, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(0, retry, () => 0)).toBe(80);
    expect(backoffDelayMs(0, retry, () => 1)).toBe(120);
  });
});
