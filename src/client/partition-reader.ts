/**
 * Reads one partition from an offset with `raw` Fetch: the broker sends the
 * stored RecordBatch v2 bytes, and the reader decodes them and drops records
 * below the offset it asked for (a batch may start before it).
 *
 * A fetch waits up to `maxWaitMs` on the broker when no record is there yet
 * (long poll), so following a partition costs one request per wait, not a
 * busy loop. Retriable errors are retried with backoff; an offset outside the
 * log either fails (OFFSET_OUT_OF_RANGE, naming both bounds) or, with
 * `offsetReset`, moves to the log start or the high watermark.
 *
 * Read-ahead: as soon as a reply with records arrives, and before it is
 * decoded, the reader asks for the next offset, so the broker reads and
 * sends the next megabyte while the caller decodes and works through this
 * one (a tailing reader always has a long poll waiting). One request ahead
 * is as deep as a reader can go: the offset to ask for next is known only
 * from the latest reply. Reading 1 MiB replies of 100-byte records, the
 * client spends ~1 ms decoding and ~3 ms in all per reply (grpc-js receiving
 * it, and the garbage collector) and the broker ~3 ms serving it, so the
 * broker is busy for most of each round trip; larger `maxBytes` did not
 * help (2 and 4 MiB: more client GC per reply, no higher rate). A seek, a
 * different `maxWaitMs` or a failed read-ahead discards it (a failure is
 * then met again, and retried, by an ordinary fetch).
 *
 * Not safe for concurrent fetch() calls: one caller drives a reader.
 */
import { BrookError } from '../common/errors';
import type { pb } from '../protocol';
import { splitBatches } from '../record/record-batch';
import { decodeFetchedBatches, offsetAfter } from './batch-encoding';
import type { Connection } from './connection';
import { readerOptions, type ReaderOptions } from './options';
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
  /** The read-ahead: a fetch at `offset` started when the previous reply came. */
  private ahead: { offset: number; maxWaitMs: number; reply: Promise<pb.FetchResponse__Output | undefined> } | undefined;

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

  /** Moves the reader; the next fetch starts there. */
  seek(position: StartPosition): void {
    this.ahead = undefined;
    if (typeof position === 'number') {
      this.position = position;
    } else {
      this.position = undefined;
      this.start = position;
    }
  }

  private async currentPosition(signal?: AbortSignal): Promise<number> {
    if (this.position === undefined) {
      this.position = await withRetry(() => resolveOffset(this.connection, this.topic, this.partition, this.start), this.options.retry, signal);
    }
    return this.position;
  }

  /**
   * One fetch from the current position: the records at or after it (possibly
   * none when the wait ran out), after which the position moves past them.
   * `maxWaitMs` overrides the option for this call (0: answer at once).
   */
  async fetch(signal?: AbortSignal, maxWaitMs = this.options.maxWaitMs): Promise<FetchResult> {
    for (;;) {
      const offset = await this.currentPosition(signal);
      try {
        const ahead = this.ahead;
        this.ahead = undefined;
        let response = ahead && ahead.offset === offset && ahead.maxWaitMs === maxWaitMs ? await ahead.reply : undefined;
        if (this.position !== offset) continue; // seek() meanwhile
        response ??= await withRetry(() => this.request(offset, maxWaitMs), this.options.retry, signal);
        if (this.position !== offset) continue; // seek() during the fetch: its result is stale
        const bytes = response.recordBatches;
        const batches = bytes.length === 0 ? [] : splitBatches(bytes, 0).batches;
        const next = offsetAfter(batches);
        if (next > offset && !signal?.aborted && !this.connection.isClosed) {
          this.ahead = { offset: next, maxWaitMs, reply: this.request(next, maxWaitMs).catch(() => undefined) };
        }
        const records = decodeFetchedBatches(bytes, this.topic, this.partition, offset, Number.POSITIVE_INFINITY, batches);
        this.highWatermark = Number(response.highWatermark);
        this.logStartOffset = Number(response.logStartOffset);
        if (records.length > 0) this.position = records[records.length - 1].offset + 1;
        else if (Number(response.nextOffset) > offset) this.position = Number(response.nextOffset);
        return { records, highWatermark: this.highWatermark, logStartOffset: this.logStartOffset };
      } catch (e) {
        if (e instanceof BrookError && e.code === 'OFFSET_OUT_OF_RANGE' && this.options.offsetReset && this.position === offset) {
          this.seek(this.options.offsetReset);
          continue;
        }
        throw e;
      }
    }
  }

  private request(offset: number, maxWaitMs: number): Promise<pb.FetchResponse__Output> {
    return this.connection.fetch({ topic: this.topic, partition: this.partition, offset, maxBytes: this.options.maxBytes, maxWaitMs, raw: true });
  }

  /** Records from the current position on, following the partition until `signal` aborts. */
  async *records(signal?: AbortSignal): AsyncGenerator<ConsumedRecord> {
    while (!signal?.aborted) {
      let result: FetchResult;
      try {
        result = await this.fetch(signal);
      } catch (e) {
        if (signal?.aborted) return;
        throw e;
      }
      for (const record of result.records) yield record;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord> {
    return this.records();
  }
}
