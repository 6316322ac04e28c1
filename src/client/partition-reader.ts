/**
 * Reads one partition from an offset, in one of two modes (ReaderOptions.mode).
 *
 * 'stream' (the default): one raw `Log.Subscribe` stream for the partition,
 * opened at the reader's position on the first fetch() and kept open while
 * fetch() is called where the previous one left off; a seek, or a fetch at
 * another position, cancels it and opens one there. The broker sends the
 * stored RecordBatch v2 bytes while the caller decodes and works, up to a
 * bounded buffer (see PartitionStream), and fetch() takes and decodes what
 * has arrived. Reading 1M x 100 B records from offset 0 on a 2-core VM, a
 * plain grpc-js raw Subscribe ran at 3.4-4.9 M records/s where the
 * request/reply loop below ran at 1.2-1.7 M: with one request at a time the
 * broker waits while the client decodes and the client waits while the
 * broker reads. A tailing reader gets a new record without a request after
 * each wake.
 *
 * 'fetch': one raw `Log.Fetch` per fetch(). As soon as a reply with records
 * arrives, and before it is decoded, the reader asks for the next offset, so
 * the broker reads and sends the next megabyte while the caller decodes and
 * works through this one (a tailing reader always has a long poll waiting).
 * One request ahead is as deep as a reader can go: the offset to ask for
 * next is known only from the latest reply. Reading 1 MiB replies of
 * 100-byte records, the client spends ~1 ms decoding and ~3 ms in all per
 * reply (grpc-js receiving it, and the garbage collector) and the broker ~3
 * ms serving it, so the broker is busy for most of each round trip; larger
 * `maxBytes` did not help (2 and 4 MiB: more client GC per reply, no higher
 * rate). A seek, a different `maxWaitMs` or a failed read-ahead discards it
 * (a failure is then met again, and retried, by an ordinary fetch).
 *
 * Either way the reader drops records below the offset it asked for (a
 * batch may start before it), and a fetch with nothing to return waits up
 * to `maxWaitMs` (long poll) and then returns no records; with maxWaitMs 0
 * it still returns the records the broker has at the position (a stream
 * reader asks the broker's high watermark when it does not know of any).
 * Retriable errors are retried with backoff; an offset outside the log
 * either fails (OFFSET_OUT_OF_RANGE, naming both bounds) or, with
 * `offsetReset`, moves to the log start or the high watermark. A stream
 * that gave up on retriable errors while nobody was fetching (the caller
 * busy elsewhere) is reopened once, with the full retry budget, by the next
 * fetch() instead of failing it: the broker may well be back by then; only
 * failures the fetch waited through count against it. close() cancels the
 * stream and aborts any retries (ListOffsets included), and a fetch()
 * waiting then rejects with CLIENT_CLOSED at once. Leaving a `for await`
 * loop over the reader (break, return, throw) closes its stream; a later
 * fetch() opens a new one.
 *
 * Not safe for concurrent fetch() calls: one caller drives a reader.
 */
import { BrookError } from '../common/errors';
import type { pb } from '../protocol';
import { splitBatches } from '../record/record-batch';
import { decodeFetchedBatches, offsetAfter } from './batch-encoding';
import type { Connection } from './connection';
import { readerOptions, type ReaderOptions } from './options';
import { PartitionStream } from './partition-stream';
import { withRetry } from './retry';
import type { ConsumedRecord } from './types';

/** Where to start: an offset, the log start, the high watermark, or the first record at or after a time. */
export type StartPosition = number | 'earliest' | 'latest' | { timestampMs: number };

export interface FetchResult {
  records: ConsumedRecord[];
  highWatermark: number;
  logStartOffset: number;
}

/** Resolves a start position to an offset with ListOffsets. */
export async function resolveOffset(connection: Connection, topic: string, partition: number, position: StartPosition): Promise<number> {
  if (typeof position === 'number') return position;
  const spec: pb.OffsetSpec = position === 'earliest' ? 'OFFSET_SPEC_EARLIEST' : position === 'latest' ? 'OFFSET_SPEC_LATEST' : 'OFFSET_SPEC_TIMESTAMP';
  const timestampMs = typeof position === 'object' ? position.timestampMs : 0;
  const response = await connection.listOffsets({ topic, partition, spec, timestampMs });
  return Number(response.offset);
}

export class PartitionReader {
  readonly options: Readonly<ReaderOptions>;
  /** The next offset to read. */
  position: number | undefined;
  /** From the latest reply. */
  highWatermark = -1;
  logStartOffset = -1;
  /** 'fetch' mode's read-ahead: a fetch at `offset` started when the previous reply came. */
  private ahead: { offset: number; maxWaitMs: number; reply: Promise<pb.FetchResponse__Output | undefined> } | undefined;
  /** 'stream' mode: the open stream, and the reader position its next reply continues from. */
  private stream: PartitionStream | undefined;
  private streamPosition = -1;
  private closed = false;
  /** Aborted by close(): ends retries and waits of a pending fetch(). */
  private readonly closing = new AbortController();
  /** The caller's latest signal and its combination with `closing` (a caller usually passes the same signal to every fetch). */
  private callerSignal: AbortSignal | undefined;
  private combinedSignal: AbortSignal | undefined;

  constructor(
    private readonly connection: Connection,
    readonly topic: string,
    readonly partition: number,
    private start: StartPosition = 'earliest',
    options: Partial<ReaderOptions> = {},
  ) {
    this.options = readerOptions(options);
    if (typeof start === 'number') this.position = start;
  }

  /** 'stream' mode: bytes received and not yet returned by fetch() (bounded by `maxBufferedBytes` plus one message). */
  get bufferedBytes(): number {
    return this.stream?.bufferedBytes ?? 0;
  }

  /** 'stream' mode: whether the reader has stopped reading its stream because `maxBufferedBytes` are waiting. */
  get isStreamPaused(): boolean {
    return this.stream?.isPaused ?? false;
  }

  /** 'stream' mode: whether the reader holds a Subscribe stream (open, reopening, or failed and not yet reported). */
  get hasStream(): boolean {
    return this.stream !== undefined;
  }

  /** 'stream' mode: why the stream stopped for good, until a fetch() reports it or reopens the stream. */
  get streamFailure(): BrookError | undefined {
    return this.stream?.failure;
  }

  /** Moves the reader; the next fetch starts there. */
  seek(position: StartPosition): void {
    this.ahead = undefined;
    if (typeof position === 'number') {
      this.position = position;
    } else {
      this.position = undefined;
      this.start = position;
    }
    if (this.stream && this.position !== this.streamPosition) this.dropStream();
  }

  /** Stops reading: cancels the stream (or the read-ahead); a waiting fetch() rejects with CLIENT_CLOSED, and so does every later one. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.ahead = undefined;
    this.dropStream();
    this.closing.abort();
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private closedError(): BrookError {
    return new BrookError('CLIENT_CLOSED', 'the partition reader is closed', { topic: this.topic, partition: this.partition, offset: this.position });
  }

  private dropStream(): void {
    this.stream?.close();
    this.stream = undefined;
  }

  /** `signal` or close(), whichever aborts first. */
  private abortSignal(signal: AbortSignal | undefined): AbortSignal {
    if (!signal) return this.closing.signal;
    if (signal !== this.callerSignal) {
      this.callerSignal = signal;
      this.combinedSignal = AbortSignal.any([signal, this.closing.signal]);
    }
    return this.combinedSignal!;
  }

  /** `promise`, or CLIENT_CLOSED as soon as close() is called (`promise` is then left to settle unobserved). */
  private untilClosed<T>(promise: Promise<T>): Promise<T> {
    const closing = this.closing.signal;
    if (closing.aborted) {
      promise.catch(() => undefined);
      return Promise.reject(this.closedError());
    }
    return new Promise<T>((resolve, reject) => {
      const onClose = (): void => {
        promise.catch(() => undefined);
        reject(this.closedError());
      };
      closing.addEventListener('abort', onClose, { once: true });
      promise.then(
        (value) => {
          closing.removeEventListener('abort', onClose);
          resolve(value);
        },
        (e: unknown) => {
          closing.removeEventListener('abort', onClose);
          reject(e);
        },
      );
    });
  }

  /** ListOffsets with retries, ended by `signal` or close(). */
  private resolveWithRetry(position: StartPosition, signal: AbortSignal | undefined): Promise<number> {
    return this.untilClosed(withRetry(() => resolveOffset(this.connection, this.topic, this.partition, position), this.options.retry, this.abortSignal(signal)));
  }

  private async currentPosition(signal?: AbortSignal): Promise<number> {
    if (this.position === undefined) this.position = await this.resolveWithRetry(this.start, signal);
    return this.position;
  }

  /**
   * One fetch from the current position: the records at or after it (possibly
   * none when the wait ran out), after which the position moves past them.
   * `maxWaitMs` overrides the option for this call (0: answer at once). In
   * 'stream' mode an aborted `signal` ends the wait (no records).
   */
  async fetch(signal?: AbortSignal, maxWaitMs = this.options.maxWaitMs): Promise<FetchResult> {
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      if (this.closed) throw this.closedError();
      const offset = await this.currentPosition(signal);
      if (this.closed) throw this.closedError();
      if (this.position !== offset) continue; // seek() meanwhile
      const result = this.options.mode === 'stream' ? await this.fetchStreamed(offset, deadline, maxWaitMs, signal) : await this.fetchOnce(offset, maxWaitMs, signal);
      if (result) return result;
    }
  }

  /** 'stream' mode: undefined when the position moved under it (seek, offsetReset) and fetch() should start over. */
  private async fetchStreamed(offset: number, deadline: number, maxWaitMs: number, signal?: AbortSignal): Promise<FetchResult | undefined> {
    // A failure the stream recorded before this call, while nobody waited on it.
    let stale = this.stream && this.streamPosition === offset ? this.stream.failure : undefined;
    if (!this.stream || this.streamPosition !== offset) this.openStream(offset);
    let stream = this.stream!;
    let probed = -1; // the high watermark from ListOffsets, asked at most once per call
    for (;;) {
      if (this.closed) throw this.closedError();
      if (this.stream !== stream || this.position !== offset) return undefined; // seek() meanwhile
      if (stream.hasReplies) {
        const records = this.takeReplies(stream);
        offset = this.position;
        if (records.length > 0) return { records, highWatermark: this.highWatermark, logStartOffset: this.logStartOffset };
        continue; // replies with nothing at or after the position: wait for more
      }
      if (stream.failure) {
        const failure = stream.failure;
        this.dropStream();
        if (failure === stale && failure.retriable) {
          // The stream ran out of retries while the caller was busy elsewhere;
          // the broker may be back. One more stream, with the full retry budget.
          stale = undefined;
          stream = this.openStream(offset);
          continue;
        }
        if (failure.code === 'OFFSET_OUT_OF_RANGE' && this.options.offsetReset) {
          this.seek(this.options.offsetReset);
          return undefined;
        }
        throw failure;
      }
      const known = Math.max(stream.highWatermark, probed);
      if (signal?.aborted) return this.noRecords(known);
      if (known > offset) {
        // The broker has records here and the stream is bringing them (or failing).
        await stream.changed(undefined, signal);
        continue;
      }
      const remaining = deadline - Date.now();
      if (remaining > 0) {
        await stream.changed(remaining, signal);
        continue;
      }
      // Out of time and nothing known past the position. Without a reply to
      // go by, or when asked to answer at once, the broker is asked: new
      // records may be on their way in the stream.
      if (probed < 0 && (maxWaitMs === 0 || stream.highWatermark < 0)) {
        probed = await this.resolveWithRetry('latest', signal);
        continue;
      }
      return this.noRecords(known);
    }
  }

  private openStream(offset: number): PartitionStream {
    this.dropStream();
    this.stream = new PartitionStream(this.connection, this.topic, this.partition, offset, this.options);
    this.streamPosition = offset;
    return this.stream;
  }

  private noRecords(highWatermark: number): FetchResult {
    if (highWatermark >= 0) this.highWatermark = highWatermark;
    return { records: [], highWatermark: this.highWatermark, logStartOffset: this.logStartOffset };
  }

  /** Decodes the waiting replies (up to maxBytes) from the position on and moves the position past them. */
  private takeReplies(stream: PartitionStream): ConsumedRecord[] {
    let records: ConsumedRecord[] = [];
    let position = this.position!;
    for (const reply of stream.take(this.options.maxBytes)) {
      let decoded: ConsumedRecord[];
      try {
        decoded = decodeFetchedBatches(reply.bytes, this.topic, this.partition, position);
      } catch (e) {
        // The stream has moved past these replies: without it the next fetch reads them again (and fails again), as in 'fetch' mode.
        this.dropStream();
        throw e;
      }
      records = records.length === 0 ? decoded : records.concat(decoded);
      position = Math.max(position, reply.nextOffset, decoded.length > 0 ? decoded[decoded.length - 1].offset + 1 : 0);
    }
    this.position = position;
    this.streamPosition = position;
    this.highWatermark = stream.highWatermark;
    this.logStartOffset = stream.logStartOffset;
    return records;
  }

  /** 'fetch' mode: undefined when the position moved under it (seek, offsetReset) and fetch() should start over. */
  private async fetchOnce(offset: number, maxWaitMs: number, signal?: AbortSignal): Promise<FetchResult | undefined> {
    try {
      const ahead = this.ahead;
      this.ahead = undefined;
      let response = ahead && ahead.offset === offset && ahead.maxWaitMs === maxWaitMs ? await ahead.reply : undefined;
      if (this.position !== offset) return undefined; // seek() meanwhile
      if (!response) {
        response = await this.untilClosed(withRetry(() => this.request(offset, maxWaitMs), this.options.retry, this.abortSignal(signal)));
      }
      if (this.position !== offset) return undefined; // seek() during the fetch: its result is stale
      const bytes = response.recordBatches;
      const batches = bytes.length === 0 ? [] : splitBatches(bytes, 0).batches;
      const next = offsetAfter(batches);
      if (next > offset && !signal?.aborted && !this.connection.isClosed && !this.closed) {
        this.ahead = { offset: next, maxWaitMs, reply: this.request(next, maxWaitMs).catch(() => undefined) };
      }
      const records = decodeFetchedBatches(bytes, this.topic, this.partition, offset, Number.POSITIVE_INFINITY, batches);
      this.highWatermark = Number(response.highWatermark);
      this.logStartOffset = Number(response.logStartOffset);
      if (records.length > 0) this.position = records[records.length - 1].offset + 1;
      else if (Number(response.nextOffset) > offset) this.position = Number(response.nextOffset);
      return { records, highWatermark: this.highWatermark, logStartOffset: this.logStartOffset };
    } catch (e) {
      if (e instanceof BrookError && e.code === 'OFFSET_OUT_OF_RANGE' && this.options.offsetReset && this.position === offset && !this.closed) {
        this.seek(this.options.offsetReset);
        return undefined;
      }
      throw e;
    }
  }

  private request(offset: number, maxWaitMs: number): Promise<pb.FetchResponse__Output> {
    return this.connection.fetch({ topic: this.topic, partition: this.partition, offset, maxBytes: this.options.maxBytes, maxWaitMs, raw: true });
  }

  /**
   * Records from the current position on, following the partition until
   * `signal` aborts or the reader is closed. Leaving the loop early (break,
   * return, throw) closes the stream; a later fetch() opens a new one.
   */
  async *records(signal?: AbortSignal): AsyncGenerator<ConsumedRecord> {
    try {
      while (!signal?.aborted && !this.closed) {
        let result: FetchResult;
        try {
          result = await this.fetch(signal);
        } catch (e) {
          if (signal?.aborted || this.closed) return;
          throw e;
        }
        for (const record of result.records) yield record;
      }
    } finally {
      this.dropStream();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord> {
    return this.records();
  }
}
