/**
 * ProduceStreamClient over a fake bidi stream: replies find their requests by
 * request_id, errors become the BrookErrors a Produce call would give, a failed
 * stream fails what waits on it and the next request opens another, a broker
 * without ProduceStream gets Produce calls, and each request has its timeout.
 */
import { EventEmitter } from 'events';
import { status } from '@grpc/grpc-js';
import { ProduceStreamClient, type OpenProduceStream } from '../../src/client/produce-stream';
import type { ProduceStreamRequestWithBytes } from '../../src/client/produce-wire';
import type { pb } from '../../src/protocol';

class FakeStream extends EventEmitter {
  readonly written: ProduceStreamRequestWithBytes[] = [];
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
  const unary: Array<{ topic?: string; timeoutMs: number }> = [];
  const open = (() => {
    const stream = new FakeStream();
    streams.push(stream);
    return stream;
  }) as unknown as OpenProduceStream;
  const client = new ProduceStreamClient(
    open,
    async (request, timeoutMs) => {
      unary.push({ topic: request.topic, timeoutMs });
      return { results: [{ partition: 0, baseOffset: 100 + unary.length, recordCount: 1, recordIndexes: [], logAppendTimeMs: -1 }] };
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

  it('sends the waiting requests, and every later one, as Produce calls when the broker has no ProduceStream', async () => {
    const { client, streams, unary } = setup();
    const waiting = client.produce(request('a'), 5000);
    streams[0].end(status.UNIMPLEMENTED, 'The server does not implement the method /brook.v1.Log/ProduceStream');
    await expect(waiting).resolves.toMatchObject({ results: [{ baseOffset: 101 }] });
    await expect(client.produce(request('b'), 5000)).resolves.toMatchObject({ results: [{ baseOffset: 102 }] });
    expect(streams).toHaveLength(1);
    expect(unary.map((u) => u.topic)).toEqual(['a', 'b']);
    expect(unary[0].timeoutMs).toBeGreaterThan(4000); // what was left of its own timeout
    expect(unary[0].timeoutMs).toBeLessThanOrEqual(5000);
  });

  it('fails a request at its own timeout and ignores its late reply; the others keep waiting', async () => {
    jest.useFakeTimers();
    try {
      const { client, streams } = setup();
      const slow = client.produce(request(), 100);
      const patient = client.produce(request(), 10_000);
      const failed = expect(slow).rejects.toMatchObject({ code: 'REQUEST_TIMED_OUT', retriable: true, message: expect.stringContaining('100 ms') });
      jest.advanceTimersByTime(150);
      await failed;
      expect(client.inFlight).toBe(1);
      streams[0].reply(streams[0].written[0].requestId, 1); // too late: nobody waits on it
      streams[0].reply(streams[0].written[1].requestId, 2);
      await expect(patient).resolves.toMatchObject({ results: [{ baseOffset: 2 }] });
    } finally {
      jest.useRealTimers();
    }
  });
});
