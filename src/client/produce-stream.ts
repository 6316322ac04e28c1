/**
 * Log.ProduceStream from the client side: the produce requests of a
 * Connection go out as messages of one long-lived bidi stream instead of a
 * Produce call each.
 *
 * Why: a grpc-js call is an HTTP/2 stream with its own headers, metadata,
 * deadline timer and a dozen call objects on each side — about 240 µs of
 * client CPU per call on the 2-core benchmark machine, and as much again in
 * the broker — while a message on an open stream is one framed write. At
 * W4's 20,000 records/s the producer sends several hundred requests a
 * second, and that per-call work and its garbage set the latency tail.
 *
 * Semantics match Produce calls: each request gets its own reply or error
 * (the broker's ProduceError becomes the same BrookError a failed call
 * would), each has its own timeout, and requests go out in the order they
 * were sent, on one HTTP/2 stream, so none overtakes another on the way.
 * When the stream fails (connection lost, broker shutting down), every
 * request waiting on it fails with that error — retriable ones are retried
 * by the producer, as after a failed call — and the next request opens a
 * new stream. A broker that answers UNIMPLEMENTED (one without
 * ProduceStream) gets the waiting requests, and every later one, as Produce
 * calls: it never started them.
 */
import * as grpc from '@grpc/grpc-js';
import type { pb } from '../protocol';
import { BrookError, errorCodeForStatus, isErrorCode, type ErrorContext } from '../common/errors';
import { toBrookError } from './errors';
import type { ProduceRequestWithBytes, ProduceStreamRequestWithBytes } from './produce-wire';

type Reply = pb.ProduceResponse__Output;

interface Waiting {
  readonly request: ProduceRequestWithBytes;
  readonly context: ErrorContext;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: unknown) => void;
}

/** The Log client's way of opening a ProduceStream; the Connection keeps the call for close(). */
export type OpenProduceStream = () => grpc.ClientDuplexStream<ProduceStreamRequestWithBytes, pb.ProduceStreamResponse__Output>;

/** The broker's failure of one request, as the BrookError a failed Produce call would have become. */
export function produceErrorToBrookError(error: pb.ProduceError__Output, context: ErrorContext): BrookError {
  const code = isErrorCode(error.code) ? error.code : errorCodeForStatus(error.status);
  return new BrookError(code, error.message || code, context);
}

export class ProduceStreamClient {
  private stream: ReturnType<OpenProduceStream> | undefined;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  /** The broker has no ProduceStream: every request goes through `unary`. */
  private unsupported = false;

  constructor(
    private readonly open: OpenProduceStream,
    private readonly unary: (request: ProduceRequestWithBytes, timeoutMs: number) => Promise<Reply>,
    private readonly addr: string,
  ) {}

  /** Sends `request` on the stream (opening one if there is none); settles with its reply or error. */
  produce(request: ProduceRequestWithBytes, timeoutMs: number): Promise<Reply> {
    if (this.unsupported) return this.unary(request, timeoutMs);
    const stream = this.stream ?? this.openStream();
    const requestId = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    const context: ErrorContext = { topic: request.topic, partition: request.partition ?? undefined };
    return new Promise<Reply>((resolve, reject) => {
      this.waiting.set(requestId, { request, context, timeoutMs, deadline: Date.now() + timeoutMs, resolve, reject });
      this.armTimer();
      stream.write({ requestId, request });
    });
  }

  /** Requests waiting for their reply. */
  get inFlight(): number {
    return this.waiting.size;
  }

  private openStream(): ReturnType<OpenProduceStream> {
    const stream = this.open();
    this.stream = stream;
    stream.on('data', (message: pb.ProduceStreamResponse__Output) => {
      const waiting = this.waiting.get(message.requestId);
      if (!waiting) return; // timed out already
      this.waiting.delete(message.requestId);
      if (message.error) waiting.reject(produceErrorToBrookError(message.error, waiting.context));
      else if (message.response) waiting.resolve(message.response);
      else waiting.reject(new BrookError('INTERNAL', `the broker's reply to produce request ${message.requestId} has neither a response nor an error`, waiting.context));
    });
    stream.on('error', () => undefined); // reported on 'status' below
    stream.on('status', (status: grpc.StatusObject) => {
      if (this.stream === stream) this.stream = undefined;
      if (status.code === grpc.status.OK && this.waiting.size === 0) return;
      const waiting = [...this.waiting.values()];
      this.waiting.clear();
      this.disarmTimer();
      if (status.code === grpc.status.UNIMPLEMENTED) {
        // A broker without ProduceStream has started none of them.
        this.unsupported = true;
        for (const w of waiting) this.unary(w.request, Math.max(1, w.deadline - Date.now())).then(w.resolve, w.reject);
        return;
      }
      const failure = status.code === grpc.status.OK ? { ...status, code: grpc.status.UNAVAILABLE, details: 'the broker ended the produce stream before replying' } : status;
      for (const w of waiting) w.reject(toBrookError(Object.assign(new Error(failure.details), failure), w.context, this.addr));
    });
    return stream;
  }

  /** One timer for every waiting request's deadline: it fires at the earliest one. */
  private armTimer(): void {
    if (this.timer || this.waiting.size === 0) return;
    let earliest = Infinity;
    for (const w of this.waiting.values()) earliest = Math.min(earliest, w.deadline);
    this.timer = setTimeout(() => this.expire(), Math.max(0, earliest - Date.now()));
    this.timer.unref?.();
  }

  private disarmTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [id, w] of this.waiting) {
      if (w.deadline > now) continue;
      this.waiting.delete(id);
      w.reject(new BrookError('REQUEST_TIMED_OUT', `request timed out after ${w.timeoutMs} ms (broker ${this.addr})`, w.context));
    }
    this.armTimer();
  }
}
