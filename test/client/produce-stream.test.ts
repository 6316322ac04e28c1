/**
 * ProduceStreamClient over a fake bidi stream: replies find their requests by
 * request_id, errors become the BrookErrors a Produce call would give, a failed
 * stream fails what waits on it and the next request opens another, a broker
 * without ProduceStream gets Produce calls in order, and a timeout gives up
 * the stream.
 */
import { EventEmitter } from 'events';
import { status } from '@grpc/grpc-js';
import { ProduceStreamClient, type OpenProduceStream } from '../../src/client/produce-stream';
import type { ProduceStreamRequestWithBytes } from '../../src/client/produce-wire';
import type { pb } from '../../src/protocol';

class FakeStream extends EventEmitter {
  readonly written: ProduceStreamRequestWithBytes[] = [];
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
    this.end(status.CANCELLED, 'Cancelled on client');
  }
  write(message: ProduceStreamRequestWithBytes): boolean {
    this.written.push(message);
    return true;
  }
  reply(requestId: number, baseOffset: number): void {
    this.emit('data', { requestId, response: { results: [{ partition: 0, baseOffset, recordCount: 1, recordIndexes: [], logAppendTimeMs: -1 }] }, error: null });
  }
  fail(requestId: number, error: pb.ProduceError__Output): void {
    this.emit('data', { requestId, response: null, error });
  }
  end(code: number, details: string): void {
    if (code !== status.OK) this.emit('error', Object.assign(new Error(details), { code, details }));
    this.emit('status', { code, details, metadata: undefined });
  }
}

function setup() {
  const streams: FakeStream[] = [];
  /** Produce calls made, in order; each is written when the test says so (`markWritten`). */
  const unary: Array<{ topic?: string; timeoutMs: number; markWritten: () => void }> = [];
  const open = (() => {
    const stream = new FakeStream();
    streams.push(stream);
    return stream;
  }) as unknown as OpenProduceStream;
  const client = new ProduceStreamClient(
    open,
    (request, timeoutMs) => {
      let markWritten!: () => void;
      const written = new Promise<void>((resolve) => (markWritten = resolve));
      unary.push({ topic: request.topic, timeoutMs, markWritten });
      const baseOffset = 100 + unary.length;
      return { written, reply: Promise.resolve({ results: [{ partition: 0, baseOffset, recordCount: 1, recordIndexes: [], logAppendTimeMs: -1 }] }) };
    },
    '127.0.0.1:1',
  );
  return { client, streams, unary };
}

const request = (topic = 't') => ({ topic, partition: 0, records: [{ value: Buffer.from('v') }] });

describe('ProduceStreamClient', () => {
  it('writes requests in order on one stream and settles each with the reply carrying its id, in any order', async () => {
    const { client, streams } = setup();
    const a = client.produce(request(), 1000);
    const b = client.produce(request(), 1000);
    expect(streams).toHaveLength(1);
    const [first, second] = streams[0].written;
    expect(second.requestId).not.toBe(first.requestId);
    streams[0].reply(second.requestId, 8);
    streams[0].reply(first.requestId, 7);
    await expect(a).resolves.toMatchObject({ results: [{ baseOffset: 7 }] });
    await expect(b).resolves.toMatchObject({ results: [{ baseOffset: 8 }] });
    expect(client.inFlight).toBe(0);
  });

  it('turns an error reply into the BrookError the Produce call would have failed with', async () => {
    const { client, streams } = setup();
    const refused = client.produce({ ...request('orders'), partition: 4 }, 1000);
    streams[0].fail(streams[0].written[0].requestId, { status: status.FAILED_PRECONDITION, code: 'OUT_OF_ORDER_SEQUENCE', message: 'expected sequence 5' });
    await expect(refused).rejects.toMatchObject({ name: 'BrookError', code: 'OUT_OF_ORDER_SEQUENCE', message: 'expected sequence 5', context: { topic: 'orders', partition: 4 } });
    // A code this client does not know falls back to the status's.
    const unknown = client.produce(request(), 1000);
    streams[0].fail(streams[0].written[1].requestId, { status: status.NOT_FOUND, code: 'SOMETHING_NEWER', message: 'gone' });
    await expect(unknown).rejects.toMatchObject({ code: 'UNKNOWN_TOPIC', message: 'gone' });
  });

  it('fails every waiting request when the stream fails, and opens a new stream for the next one', async () => {
    const { client, streams } = setup();
    const waiting = [client.produce(request(), 1000), client.produce(request(), 1000)];
    streams[0].end(status.UNAVAILABLE, 'Connection dropped');
    for (const p of waiting) await expect(p).rejects.toMatchObject({ code: 'CONNECTION_FAILED', retriable: true });
    const next = client.produce(request(), 1000);
    expect(streams).toHaveLength(2);
    streams[1].reply(streams[1].written[0].requestId, 3);
    await expect(next).resolves.toMatchObject({ results: [{ baseOffset: 3 }] });
    // A stream the broker ends OK with requests unanswered fails them too.
    const orphan = client.produce(request(), 1000);
    streams[1].end(status.OK, '');
    await expect(orphan).rejects.toMatchObject({ retriable: true });
  });

  it('sends the waiting requests one after the other, and every later one, as Produce calls when the broker has no ProduceStream', async () => {
    const { client, streams, unary } = setup();
    const waiting = [client.produce(request('a'), 5000), client.produce(request('b'), 5000)];
    expect(client.supported).toBe(true);
    streams[0].end(status.UNIMPLEMENTED, 'The server does not implement the method /brook.v1.Log/ProduceStream');
    expect(client.supported).toBe(false);
    // A request made now goes after the two being resent, not between them.
    const later = client.produceInOrder(request('c'), 5000);
    const settle = () => new Promise((r) => setImmediate(r));
    await settle();
    // b's call starts only once a's bytes are on the wire, so it cannot overtake a; c waits for b.
    expect(unary.map((u) => u.topic)).toEqual(['a']);
    unary[0].markWritten();
    await settle();
    expect(unary.map((u) => u.topic)).toEqual(['a', 'b']);
    unary[1].markWritten();
    await settle();
    expect(unary.map((u) => u.topic)).toEqual(['a', 'b', 'c']);
    let written = false;
    void later.written.then(() => (written = true));
    await settle();
    expect(written).toBe(false); // c's own call has not written yet
    unary[2].markWritten();
    await later.written;
    await expect(Promise.all(waiting)).resolves.toMatchObject([{ results: [{ baseOffset: 101 }] }, { results: [{ baseOffset: 102 }] }]);
    await expect(later.reply).resolves.toMatchObject({ results: [{ baseOffset: 103 }] });
    expect(unary[0].timeoutMs).toBeGreaterThan(4000); // what was left of its own timeout
    expect(unary[0].timeoutMs).toBeLessThanOrEqual(5000);
    expect(streams).toHaveLength(1);
  });

  it('at a request\'s timeout, cancels its stream and fails every request on it; the next request opens a new stream', async () => {
    jest.useFakeTimers();
    try {
      const { client, streams } = setup();
      const slow = client.produce(request(), 100);
      const other = client.produce(request(), 10_000);
      const failed = Promise.all([
        expect(slow).rejects.toMatchObject({ code: 'REQUEST_TIMED_OUT', retriable: true, message: expect.stringContaining('timed out after 100 ms') }),
        expect(other).rejects.toMatchObject({ code: 'REQUEST_TIMED_OUT', retriable: true, message: expect.stringContaining('another request on it timed out') }),
      ]);
      jest.advanceTimersByTime(99);
      expect(streams[0].cancelled).toBe(false);
      jest.advanceTimersByTime(2);
      await failed;
      expect(streams[0].cancelled).toBe(true);
      expect(client.inFlight).toBe(0);
      const next = client.produce(request(), 1000);
      expect(streams).toHaveLength(2);
      streams[1].reply(streams[1].written[0].requestId, 5);
      await expect(next).resolves.toMatchObject({ results: [{ baseOffset: 5 }] });
    } finally {
      jest.useRealTimers();
    }
  });

  it('times out a request with a shorter timeout than those before it at its own deadline', async () => {
    jest.useFakeTimers();
    try {
      const { client } = setup();
      const patient = client.produce(request(), 10_000);
      patient.catch(() => undefined);
      const hasty = client.produce(request(), 50);
      const failed = expect(hasty).rejects.toMatchObject({ code: 'REQUEST_TIMED_OUT', message: expect.stringContaining('50 ms') });
      jest.advanceTimersByTime(60);
      await failed;
    } finally {
      jest.useRealTimers();
    }
  });
});
