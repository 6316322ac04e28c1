/**
 * One partition's raw `Log.Subscribe` stream, for a PartitionReader in
 * 'stream' mode: the broker sends the stored RecordBatch v2 bytes from an
 * offset on, message after message (each up to `maxBytes`), and keeps
 * sending while the reader decodes; a new record on the tail is pushed
 * without a request. The replies wait here until the reader takes them.
 *
 * Bounded: once `maxBufferedBytes` of replies are waiting, the grpc-js stream
 * is paused and holds at most one more message (see Connection.subscribe);
 * Node then stops granting the stream HTTP/2 window, and the broker, whose
 * Subscribe writes only while its call accepts more, stops reading the log
 * for this reader. take() resumes it. So a reader that stops fetching holds
 * about maxBufferedBytes + one message + the connection's stream window
 * (4 MiB), however large the partition.
 *
 * Failures: a stream that ends or fails with a retriable error (broker
 * restart or shutdown, connection lost) is reopened after the retry backoff
 * where the last reply ended, keeping the replies waiting here; the retries
 * count consecutive attempts, and a stream that delivered a reply or stayed
 * open for `retry.maxBackoffMs` starts the count again (an idle tail can
 * outlive many restarts). A non-retriable error (OFFSET_OUT_OF_RANGE,
 * UNKNOWN_TOPIC after a delete, ...) or running out of retries sets
 * `failure`, which the reader reports once it has taken the replies that
 * came before it.
 *
 * Concurrency: grpc-js events (a message, the call's status), the reopen
 * timer and the reader's calls interleave on the event loop, each running to
 * completion. Events of a call that was replaced or cancelled are ignored.
 */
import type * as grpc from '@grpc/grpc-js';
import { BrookError, GrpcStatus, type ErrorContext } from '../common/errors';
import type { pb } from '../protocol';
import type { Connection } from './connection';
import { toBrookError } from './errors';
import type { RetryOptions } from './options';
import { backoffDelayMs } from './retry';

/** A streamed message as it waits for the reader. */
export interface StreamedReply {
  /** Whole RecordBatch v2 batches; the first may start before the offset asked for. */
  readonly bytes: Buffer;
  /** The offset after the reply's last batch: where the next reply starts. */
  readonly nextOffset: number;
}

export interface PartitionStreamOptions {
  maxBytes: number;
  maxBufferedBytes: number;
  retry: RetryOptions;
}

type SubscribeCall = grpc.ClientReadableStream<pb.FetchResponse__Output>;

export class PartitionStream {
  /** Where the next reply starts: after the last one received, or the start offset. A reopen starts here. */
  nextOffset: number;
  /** From the latest reply; -1 before the first. */
  highWatermark = -1;
  logStartOffset = -1;
  /** Bytes of the replies waiting to be taken. */
  bufferedBytes = 0;
  /** Why the stream stopped for good; undefined while it runs or waits to reopen. */
  failure: BrookError | undefined;
  private queue: StreamedReply[] = [];
  private call: SubscribeCall | undefined;
  private openedAt = 0;
  /** Consecutive failed attempts, for the backoff. */
  private failures = 0;
  private reopenTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private closed = false;
  private waiters: Array<() => void> = [];

  constructor(
    private readonly connection: Connection,
    readonly topic: string,
    readonly partition: number,
    startOffset: number,
    private readonly options: PartitionStreamOptions,
  ) {
    this.nextOffset = startOffset;
    this.open();
  }

  get hasReplies(): boolean {
    return this.queue.length > 0;
  }

  /** Whether the grpc-js stream is paused because the buffer is full. */
  get isPaused(): boolean {
    return this.paused;
  }

  /** Removes the waiting replies, oldest first, up to `maxBytes` together (at least one); resumes a paused stream once below the bound. */
  take(maxBytes: number): StreamedReply[] {
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length && (count === 0 || bytes + this.queue[count].bytes.length <= maxBytes)) {
      bytes += this.queue[count].bytes.length;
      count++;
    }
    const taken = count === this.queue.length ? this.queue : this.queue.slice(0, count);
    this.queue = count === this.queue.length ? [] : this.queue.slice(count);
    this.bufferedBytes -= bytes;
    if (this.paused && this.bufferedBytes < this.options.maxBufferedBytes) {
      this.paused = false;
      this.call?.resume();
    }
    return taken;
  }

  /**
   * Resolves at the next change — a reply arrived, the stream failed for
   * good, or close() — or after `timeoutMs` (none: no limit), or when
   * `signal` aborts.
   */
  changed(timeoutMs: number | undefined, signal?: AbortSignal): Promise<void> {
    if (this.closed || signal?.aborted || timeoutMs === 0) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        const i = this.waiters.indexOf(done);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** Cancels the stream and drops what waits. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const call = this.call;
    this.call = undefined;
    call?.cancel();
    this.queue = [];
    this.bufferedBytes = 0;
    this.notify();
  }

  private context(): ErrorContext {
    return { topic: this.topic, partition: this.partition, offset: this.nextOffset };
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }

  private open(): void {
    if (this.closed) return;
    let call: SubscribeCall;
    try {
      call = this.connection.subscribe({ topic: this.topic, partitions: [this.partition], offset: this.nextOffset, maxBytes: this.options.maxBytes, raw: true });
    } catch (e) {
      this.fail(toBrookError(e, this.context()));
      return;
    }
    this.call = call;
    this.openedAt = Date.now();
    this.paused = false;
    call.on('data', (message: pb.FetchResponse__Output) => this.onMessage(call, message));
    // The status carries the error (grpc-js emits 'error' with the same status first; handled here instead).
    call.on('error', () => undefined);
    call.on('status', (status: grpc.StatusObject) => this.onStatus(call, status));
  }

  private onMessage(call: SubscribeCall, message: pb.FetchResponse__Output): void {
    if (call !== this.call) return;
    this.failures = 0;
    this.highWatermark = Number(message.highWatermark);
    this.logStartOffset = Number(message.logStartOffset);
    const nextOffset = Number(message.nextOffset);
    if (nextOffset <= this.nextOffset) return; // nothing past what we have (the broker sends only replies with batches)
    this.queue.push({ bytes: message.recordBatches, nextOffset });
    this.bufferedBytes += message.recordBatches.length;
    this.nextOffset = nextOffset;
    if (!this.paused && this.bufferedBytes >= this.options.maxBufferedBytes) {
      this.paused = true;
      call.pause();
    }
    this.notify();
  }

  private onStatus(call: SubscribeCall, status: grpc.StatusObject): void {
    if (call !== this.call) return; // cancelled by us, or replaced
    this.call = undefined;
    let error: BrookError;
    if (status.code === GrpcStatus.OK) {
      // The broker ends its streams when it shuts down.
      error = new BrookError('SHUTTING_DOWN', 'the broker ended the stream', this.context());
    } else {
      error = toBrookError(status, this.context(), this.connection.addr);
      if (error.code === 'CLIENT_CLOSED' && !this.connection.isClosed) {
        // Not cancelled by us: the connection went away under the call.
        error = new BrookError('CONNECTION_FAILED', `the stream was cut: ${status.details || 'cancelled'}`, this.context(), { cause: error });
      }
    }
    if (!error.retriable) return this.fail(error);
    if (Date.now() - this.openedAt >= this.options.retry.maxBackoffMs) this.failures = 0;
    if (this.failures >= this.options.retry.retries) return this.fail(error);
    const delay = backoffDelayMs(this.failures++, this.options.retry);
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      this.open();
    }, delay);
  }

  private fail(error: BrookError): void {
    this.failure = error;
    this.notify();
  }
}
