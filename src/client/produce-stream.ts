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
 * new stream. When a request times out, the stream is cancelled and every
 * request still waiting on it fails with REQUEST_TIMED_OUT too, as a Kafka
 * client drops a connection on a request timeout: a stuck stream is not
 * kept, and no timed-out request is still queued to be written later. A
 * broker that answers UNIMPLEMENTED (one without ProduceStream) gets the
 * waiting requests, one after the other in their order, and every later
 * request of the Connection, as Produce calls: it never started them.
 */
import * as grpc from '@grpc/grpc-js';
import type { pb } from '../protocol';
import { BrookError, errorCodeForStatus, isErrorCode, type ErrorContext } from '../common/errors';
import { toBrookError } from './errors';
import type { ProduceRequestWithBytes, ProduceStreamRequestWithBytes } from './produce-wire';

type Reply = pb.ProduceResponse__Output;

const WRITTEN: Promise<void> = Promise.resolve();
/** setTimeout's largest delay; a longer one fires at once. */
const MAX_TIMER_MS = 0x7fffffff;

interface Waiting {
  readonly request: ProduceRequestWithBytes;
  readonly timeoutMs: number;
  readonly deadline: number;
  readonly resolve: (reply: Reply) => void;
  readonly reject: (error: unknown) => void;
}

type Stream = grpc.ClientDuplexStream<ProduceStreamRequestWithBytes, pb.ProduceStreamResponse__Output>;

/** An open stream and the requests waiting for their reply on it. */
interface OpenStream {
  readonly call: Stream;
  readonly waiting: Map<number, Waiting>;
}

/** The Log client's way of opening a ProduceStream; the Connection keeps the call for close(). */
export type OpenProduceStream = () => Stream;

/** A Produce call in flight: `written` settles (never rejects) once its bytes are on the connection or the call ended. */
export interface ProduceCall {
  readonly written: Promise<void>;
  readonly reply: Promise<pb.ProduceResponse__Output>;
}

/** A Produce call: `written` once its bytes are on the connection (see Connection.produceInOrder). */
export type UnaryProduce = (request: ProduceRequestWithBytes, timeoutMs: number) => ProduceCall;

/** What an error about `request` names. */
function contextOf(request: ProduceRequestWithBytes): ErrorContext {
  return { topic: request.topic, partition: request.partition ?? undefined };
}

/** The broker's failure of one request, as the BrookError a failed Produce call would have become. */
export function produceErrorToBrookError(error: pb.ProduceError__Output, context: ErrorContext): BrookError {
  const code = isErrorCode(error.code) ? error.code : errorCodeForStatus(error.status);
  return new BrookError(code, error.message || code, context);
}

export class ProduceStreamClient {
  private current: OpenStream | undefined;
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private timerDeadline = Infinity;
  /** The broker has no ProduceStream: requests go through `unary`. */
  private unsupported = false;
  /** After the fallback: settles once the latest Produce call's bytes are on the wire. */
  private wire: Promise<void> = WRITTEN;

  constructor(
    private readonly open: OpenProduceStream,
    private readonly unary: UnaryProduce,
    private readonly addr: string,
  ) {}

  /** False once the broker has answered that it has no ProduceStream: the caller should make Produce calls. */
  get supported(): boolean {
    return !this.unsupported;
  }

  /** Requests waiting for their reply. */
  get inFlight(): number {
    return this.current?.waiting.size ?? 0;
  }

  /**
   * Sends `request` on the stream (opening one if there is none); `written`
   * at once, since a stream keeps its messages in order. Against a broker
   * without ProduceStream, a Produce call that starts once every earlier
   * request is on the wire.
   */
  produceInOrder(request: ProduceRequestWithBytes, timeoutMs: number): ProduceCall {
    if (this.unsupported) return this.callAfterEarlier(request, timeoutMs);
    return { written: WRITTEN, reply: this.produce(request, timeoutMs) };
  }

  /** Sends `request` on the stream (opening one if there is none); settles with its reply or error. */
  produce(request: ProduceRequestWithBytes, timeoutMs: number): Promise<Reply> {
    if (this.unsupported) return this.callAfterEarlier(request, timeoutMs).reply;
    const stream = this.current ?? this.openStream();
    const requestId = this.nextId;
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1;
    const deadline = Date.now() + timeoutMs;
    return new Promise<Reply>((resolve, reject) => {
      stream.waiting.set(requestId, { request, timeoutMs, deadline, resolve, reject });
      if (deadline < this.timerDeadline) this.armTimer(deadline);
      stream.call.write({ requestId, request });
    });
  }

  private openStream(): OpenStream {
    const stream: OpenStream = { call: this.open(), waiting: new Map() };
    this.current = stream;
    const { call, waiting } = stream;
    call.on('data', (message: pb.ProduceStreamResponse__Output) => {
      const w = waiting.get(message.requestId);
      if (!w) return;
      waiting.delete(message.requestId);
      if (message.error) w.reject(produceErrorToBrookError(message.error, contextOf(w.request)));
      else if (message.response) w.resolve(message.response);
      else w.reject(new BrookError('INTERNAL', `the broker's reply to produce request ${message.requestId} has neither a response nor an error`, contextOf(w.request)));
    });
    call.on('error', () => undefined); // reported on 'status' below
    call.on('status', (status: grpc.StatusObject) => {
      if (this.current === stream) this.current = undefined;
      const left = [...waiting.values()];
      waiting.clear();
      if (left.length === 0) return;
      if (status.code === grpc.status.UNIMPLEMENTED) {
        this.unsupported = true;
        this.resendAsCalls(left);
        return;
      }
      const failure = status.code === grpc.status.OK ? { ...status, code: grpc.status.UNAVAILABLE, details: 'the broker ended the produce stream before replying' } : status;
      for (const w of left) w.reject(toBrookError(Object.assign(new Error(failure.details), failure), contextOf(w.request), this.addr));
    });
    return stream;
  }

  /** A broker without ProduceStream started none of `left`: they go as Produce calls, in their order. */
  private resendAsCalls(left: readonly Waiting[]): void {
    for (const w of left) {
      const call = this.callAfterEarlier(w.request, Math.max(1, w.deadline - Date.now()));
      call.reply.then(w.resolve, w.reject);
    }
  }

  /**
   * A Produce call that starts once the previous one's bytes are on the wire
   * (its `written`), so calls made after the fallback cannot overtake the
   * requests it resent. `written` settles even when the call could not start.
   */
  private callAfterEarlier(request: ProduceRequestWithBytes, timeoutMs: number): ProduceCall {
    const deadline = Date.now() + timeoutMs;
    const started = this.wire.then(() => this.unary(request, Math.max(1, deadline - Date.now())));
    const written = started.then(
      (call) => call.written,
      () => undefined,
    );
    this.wire = written;
    return { written, reply: started.then((call) => call.reply) };
  }

  /** One timer for the earliest deadline of any waiting request. */
  private armTimer(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timerDeadline = deadline;
    this.timer = setTimeout(() => this.expire(), Math.min(MAX_TIMER_MS, Math.max(0, deadline - Date.now())));
    this.timer.unref?.();
  }

  /**
   * A request is past its deadline: the stream is given up. Every request
   * waiting on it fails with REQUEST_TIMED_OUT (retriable; whether it was
   * written is unknown), and the call is cancelled, so nothing still queued
   * on it is sent later. The next request opens a new stream.
   */
  private expire(): void {
    this.timer = undefined;
    this.timerDeadline = Infinity;
    const stream = this.current;
    if (!stream || stream.waiting.size === 0) return;
    const now = Date.now();
    let earliest = Infinity;
    let late: Waiting | undefined;
    for (const w of stream.waiting.values()) {
      if (w.deadline <= now) late ??= w;
      else earliest = Math.min(earliest, w.deadline);
    }
    if (!late) return this.armTimer(earliest);
    this.current = undefined;
    const left = [...stream.waiting.values()];
    stream.waiting.clear();
    stream.call.cancel();
    for (const w of left) {
      const message =
        w.deadline <= now
          ? `request timed out after ${w.timeoutMs} ms (broker ${this.addr})`
          : `request given up with the produce stream it was on, after another request on it timed out (${late.timeoutMs} ms; broker ${this.addr})`;
      w.reject(new BrookError('REQUEST_TIMED_OUT', message, contextOf(w.request)));
    }
  }
}
