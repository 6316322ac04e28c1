/**
 * One partition's log: an ordered list of LogSegments (the last one active),
 * the offsets that bound it, and the writer that appends to it.
 *
 *   logStartOffset <= highWatermark <= logEndOffset
 *
 * - logStartOffset: first offset a reader may ask for; moved up by retention
 *   and by deleteRecordsBefore, persisted in the partition checkpoint.
 * - highWatermark: offset after the last batch a reader may see. Under
 *   flush.policy=always it is the durable end (advanced only after the
 *   fdatasync covering a batch), so no reader sees what a crash could take
 *   back; under interval/never it advances once the write reached the OS.
 * - logEndOffset: next offset to be assigned.
 *
 * Group commit. `append` validates and stamps a batch synchronously (so
 * offsets follow call order with no lock), then queues it. One writer loop
 * drains the queue: every batch queued while the previous round was writing
 * or syncing goes out in the next round as one positional writev and, under
 * `always`, one fdatasync. With 8 concurrent appenders and a ~1-2 ms
 * fdatasync, that is one fsync per ~8 appends instead of one per append; a
 * promise chain per append would serialize the fsyncs instead.
 *
 * Partition checkpoint (`partition.checkpoint`, see checksummed-file.ts):
 * `{ version, logStartOffset, recoveryPoint: { offset, segmentBaseOffset,
 * position } }`; the recovery point is a place up to which the log is known to
 * be durable. After an unclean stop, recovery re-validates from there on.
 *
 * Concurrency (which calls may interleave across `await`): any number of
 * `append`, `read`, `offsetForTimestamp`, `flush` calls, and at most one of
 * the maintenance calls (`enforceRetention`, `deleteRecordsBefore`,
 * `writeCheckpoint`, `maybeFlush`) at a time — LogManager runs them from one
 * timer each and serializes metadata writes through `metadataChain`. `close`
 * waits for queued appends, then refuses new ones with SHUTTING_DOWN.
 */
import { EventEmitter } from 'events';
import path from 'path';
import type { Clock } from '../common/clock';
import { BrookError, isBrookError } from '../common/errors';
import { MAX_RELATIVE_OFFSET } from './abstract-index';
import { decodeRecordBatch, encodeRecordBatch, setLogAppendTime, stampBaseOffset, validateRecordBatch, type RecordInput } from '../record';
import { readChecksummed, writeChecksummedAtomically } from './checksummed-file';
import { isNotFound, type StorageFileSystem } from './file-system';
import { FsyncFailure, LogSegment, LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX, segmentFileName, type SegmentBatch } from './log-segment';
import { ProducerStateManager, type ProducerBatch } from './producer-state';
import type { StorageLogger } from './logger';
import type { TopicConfig } from './topic-config';

export const PARTITION_CHECKPOINT_FILE = 'partition.checkpoint';
/**
 * Preallocation, flush.policy=always only. An fdatasync after overwriting
 * zero-filled space costs less than one after extending the file (no size or
 * block-map change to journal): ~180 vs ~370 µs on this machine when quiet,
 * p50 258 vs 314 µs (100 B) and 287 vs 436 µs (4 KB) when busy — most of a
 * small append's latency. Measured through PartitionLog, one appender,
 * interleaved runs: append p50 255 → 205 µs for 1-record batches, 319 →
 * 216 µs for 30-record ones. A round smaller than PREALLOCATE_MAX_ROUND_BYTES
 * that does not fit the preallocated space first zero-fills (and
 * fdatasyncs) a chunk past the end: as large as the segment already is,
 * between 64 KiB and 1 MiB, so a partition that sees a few appends wastes at
 * most 64 KiB and a busy one pays one ~1 MiB write per ~10,000
 * single-record appends. Larger rounds skip it: ≥ 64 KiB of data per
 * fdatasync already amortises the extension, and zero-filling would double
 * their disk writes.
 */
const PREALLOCATE_MIN_BYTES = 64 * 1024;
const PREALLOCATE_MAX_BYTES = 1024 * 1024;
const PREALLOCATE_MAX_ROUND_BYTES = 64 * 1024;
const SEGMENT_LOG_FILE = /^(\d{20})\.log$/;
/**
 * The tail cache: the batches of the last write rounds, kept in memory once
 * they are below the high watermark, so that a reader following the end of
 * the log (Subscribe, a long-polling Fetch) is answered without a disk read.
 * On this 2-core machine a pread is a round trip through libuv's thread pool
 * that took 0.2-0.6 ms (p50) and several ms (p99) while producers and
 * consumers kept both cores busy, on every wake-up of every tailing reader.
 * Bounded by the memory the cached buffers keep alive (a batch may be a view
 * into a larger request buffer: its whole ArrayBuffer is counted), per
 * partition and for all partitions of the process together, and by count. A
 * batch that does not fit empties the partition's cache (it stays
 * contiguous); readers further back read from disk as before. 256 KiB holds
 * ~30 ms of W4 (a 20-record batch keeps an 8 KiB Buffer-pool slab alive).
 */
const TAIL_CACHE_MAX_BYTES = 256 * 1024;
const TAIL_CACHE_MAX_BATCHES = 128;
const TAIL_CACHE_TOTAL_MAX_BYTES = 64 * 1024 * 1024;
/** Bytes held by the tail caches of every open PartitionLog in this process. */
let tailCacheTotalBytes = 0;

export interface AppendResult {
  readonly baseOffset: number;
  readonly lastOffset: number;
  /** The broker time stamped into the batch under LogAppendTime; -1 for CreateTime. */
  readonly logAppendTimeMs: number;
  readonly recordCount: number;
}

export interface ReadResult {
  /** Whole batches, back to back; the first holds the requested offset and may start before it. */
  readonly data: Buffer;
  readonly highWatermark: number;
  readonly logStartOffset: number;
  readonly firstOffset: number;
  /** Offset after the last record in `data`, or the requested offset when `data` is empty. */
  readonly nextOffset: number;
  /** Spare bytes before `data` in its buffer that the caller may overwrite (absent: none); see `read`. */
  readonly headroom?: number;
}

export interface PartitionLogOptions {
  readonly dir: string;
  readonly topic: string;
  readonly partition: number;
  readonly config: TopicConfig;
  readonly clock: Clock;
  readonly logger: StorageLogger;
  readonly fileSystem: StorageFileSystem;
  /** The data directory was closed cleanly: trust checkpoints and index files. */
  readonly cleanShutdown: boolean;
}

interface RecoveryPoint {
  readonly offset: number;
  readonly segmentBaseOffset: number;
  readonly position: number;
}

interface PartitionCheckpoint {
  readonly version: 1;
  readonly logStartOffset: number;
  readonly recoveryPoint: RecoveryPoint;
}

/** A batch in the tail cache: its bytes as written, and the memory they keep alive. */
interface TailBatch {
  readonly buffer: Buffer;
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly retainedBytes: number;
}

interface PendingAppend extends SegmentBatch {
  readonly recordCount: number;
  readonly logAppendTimeMs: number;
  readonly resolve: (result: AppendResult) => void;
  readonly reject: (error: unknown) => void;
}

const EMPTY = Buffer.alloc(0);
/** Producers idle this long (by their last batch's timestamp) are forgotten at the next snapshot: Kafka's producer.id.expiration.ms default. */
const PRODUCER_ID_EXPIRATION_MS = 24 * 60 * 60 * 1000;

export class PartitionLog extends EventEmitter {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  private currentConfig: TopicConfig;
  private readonly clock: Clock;
  private readonly logger: StorageLogger;
  private readonly fileSystem: StorageFileSystem;
  /** Sorted by base offset; the last is active. Replaced, never mutated, so readers can hold a snapshot. */
  private segments: readonly LogSegment[] = [];
  private startOffset = 0;
  private hw = 0;
  /** Where the high watermark is: its segment and byte position (for undoing a failed write). */
  private hwPosition: { segment: LogSegment; position: number } | undefined;
  private nextOffset = 0;
  private queue: PendingAppend[] = [];
  private writing = false;
  private lastAppend: Promise<unknown> = Promise.resolve();
  private recoveryPoint: RecoveryPoint = { offset: 0, segmentBaseOffset: 0, position: 0 };
  private checkpointedRecoveryPoint: RecoveryPoint | undefined;
  private checkpointedStartOffset = -1;
  /** Sealed segments not yet fdatasynced (only under flush.policy=never). */
  private unflushedSealed = new Set<LogSegment>();
  /** The segment whose preallocation failed (disk full): not tried again until the next segment. */
  private preallocationFailed: LogSegment | undefined;
  /** The active segment may hold bytes written without an fdatasync (a round under `interval` or `never`). */
  private activeUnsynced = false;
  /** See TAIL_CACHE_MAX_BYTES: consecutive batches, all below the high watermark, ending at it. */
  private readonly tail: TailBatch[] = [];
  private tailBytes = 0;
  private lastFlushMonotonicMs: number;
  private failure: BrookError | undefined;
  private closed = false;
  private metadataChain: Promise<void> = Promise.resolve();
  /** Idempotent producers' sequences (see producer-state.ts); checked in `prepare`, advanced by the writer. */
  readonly producerState: ProducerStateManager;

  private constructor(options: PartitionLogOptions) {
    super();
    this.topic = options.topic;
    this.partition = options.partition;
    this.dir = options.dir;
    this.currentConfig = options.config;
    this.clock = options.clock;
    this.logger = options.logger;
    this.fileSystem = options.fileSystem;
    this.lastFlushMonotonicMs = options.clock.monotonicMs();
    this.producerState = new ProducerStateManager({ dir: options.dir, topic: options.topic, partition: options.partition, fileSystem: options.fileSystem, logger: options.logger });
  }

  get logStartOffset(): number {
    return this.startOffset;
  }

  get highWatermark(): number {
    return this.hw;
  }

  get logEndOffset(): number {
    return this.nextOffset;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.size;
    return total;
  }

  get segmentCount(): number {
    return this.segments.length;
  }

  get config(): TopicConfig {
    return this.currentConfig;
  }

  /** True from the start of `close` or `closeForDeletion`; 'closed' is emitted once they finish. */
  get isClosed(): boolean {
    return this.closed;
  }

  private get active(): LogSegment {
    return this.segments[this.segments.length - 1];
  }

  private context(offset?: number): { topic: string; partition: number; offset?: number } {
    return offset === undefined ? { topic: this.topic, partition: this.partition } : { topic: this.topic, partition: this.partition, offset };
  }

  // ------------------------------------------------------------------ open

  /** Opens the partition directory, loading or recovering its segments. */
  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options);
    await log.load(options.cleanShutdown);
    return log;
  }

  private async load(cleanShutdown: boolean): Promise<void> {
    const fs = this.fileSystem;
    await fs.mkdir(this.dir);
    const names = await fs.readdir(this.dir);
    const bases: number[] = [];
    for (const name of names) {
      const match = SEGMENT_LOG_FILE.exec(name);
      if (match) bases.push(Number(match[1]));
      else if (name.endsWith('.tmp') || name.endsWith('.deleted')) await fs.unlink(path.join(this.dir, name));
    }
    bases.sort((a, b) => a - b);
    const baseSet = new Set(bases.map((b) => segmentFileName(b, '')));
    for (const name of names) {
      const orphan = (name.endsWith(INDEX_SUFFIX) || name.endsWith(TIME_INDEX_SUFFIX)) && !baseSet.has(name.slice(0, 20));
      if (orphan) await fs.unlink(path.join(this.dir, name));
    }

    const checkpoint = await this.readCheckpoint();
    this.startOffset = checkpoint?.logStartOffset ?? bases[0] ?? 0;
    if (checkpoint) {
      // What is on disk: writeCheckpoint at the end of load skips an unchanged one (two fsyncs per partition).
      this.checkpointedRecoveryPoint = checkpoint.recoveryPoint;
      this.checkpointedStartOffset = checkpoint.logStartOffset;
    }

    // Whole segments below the log start offset were being deleted when we stopped.
    while (bases.length > 1 && bases[1] <= this.startOffset) {
      const base = bases.shift() as number;
      this.logger.info({ ...this.context(), baseOffset: base }, 'removing segment below the log start offset');
      for (const suffix of [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]) await fs.unlink(path.join(this.dir, segmentFileName(base, suffix)));
    }

    const interval = this.currentConfig.indexIntervalBytes;
    if (bases.length === 0) {
      const segment = await LogSegment.create(fs, this.dir, this.startOffset, interval, this.logger);
      await fs.syncDirectory(this.dir);
      this.segments = [segment];
    } else {
      const segments: LogSegment[] = [];
      for (const base of bases) segments.push(await LogSegment.open(fs, this.dir, base, interval, this.logger));
      this.segments = segments;
      await this.loadSegments(segments, checkpoint, cleanShutdown);
    }

    const active = this.active;
    if (active.size > 0) active.rollingBaseMs = this.clock.nowMs();
    this.nextOffset = active.nextOffset;
    this.hw = active.nextOffset;
    this.hwPosition = { segment: active, position: active.size };
    if (this.startOffset < this.segments[0].baseOffset) this.startOffset = this.segments[0].baseOffset;
    if (this.startOffset > this.hw) {
      this.logger.warn({ ...this.context(), logStartOffset: this.startOffset, logEndOffset: this.hw }, 'log start offset is past the recovered end of the log; moving it back');
      this.startOffset = this.hw;
    }
    this.recoveryPoint = { offset: this.hw, segmentBaseOffset: active.baseOffset, position: active.size };
    await this.producerState.load(this.segments, this.nextOffset, this.clock.nowMs());
    try {
      await this.writeCheckpoint();
    } catch (e) {
      // On a full disk the broker must still start, so an operator can delete
      // topics to free space. The old checkpoint stays in place (the write is
      // temp file + rename); it only makes the next recovery scan further.
      if (!isBrookError(e, 'DISK_FULL')) throw e;
      this.logger.warn({ ...this.context(), err: e }, 'disk full: kept the previous partition checkpoint; the next recovery rescans from it');
    }
  }

  private async loadSegments(segments: LogSegment[], checkpoint: PartitionCheckpoint | undefined, cleanShutdown: boolean): Promise<void> {
    const point = checkpoint?.recoveryPoint;
    const last = segments[segments.length - 1];
    const clean = cleanShutdown && point !== undefined && point.segmentBaseOffset === last.baseOffset && point.position === last.size;

    let recoverFrom = segments.length; // index of the first segment to recover
    let validateFrom = 0;
    if (!clean) {
      recoverFrom = 0;
      if (point) {
        recoverFrom = floorSegment(segments, point.offset);
        if (segments[recoverFrom].baseOffset === point.segmentBaseOffset) validateFrom = Math.min(point.position, segments[recoverFrom].size);
      }
    }

    for (let i = 0; i < recoverFrom; i++) {
      const sealed = i + 1 < segments.length;
      const nextOffset = sealed ? segments[i + 1].baseOffset : (point as RecoveryPoint).offset;
      const rebuilt = await segments[i].loadIndexes(nextOffset);
      if (rebuilt && sealed) await segments[i].writeIndexFiles(true);
    }
    if (recoverFrom >= segments.length) return;

    this.logger.warn({ ...this.context(), fromSegment: segments[recoverFrom].baseOffset, fromPosition: validateFrom }, 'recovering after an unclean shutdown');
    for (let i = recoverFrom; i < segments.length; i++) {
      const segment = segments[i];
      const isLast = i === segments.length - 1;
      // Only the last segment can have a torn tail: older ones were fdatasynced when they rolled.
      const result = await segment.recover(i === recoverFrom ? validateFrom : 0, isLast);
      if (!isLast) {
        if (result.reason) {
          this.logger.error(
            { ...this.context(), file: segment.logFile, reason: result.reason },
            'corrupt data in a sealed segment: left in place, reads of that range fail with CORRUPT_DATA',
          );
        }
        segment.nextOffset = segments[i + 1].baseOffset;
      } else if (result.zeroTail) {
        this.logger.info(
          { ...this.context(), file: segment.logFile, keptBytes: result.validBytes, droppedBytes: result.truncatedBytes },
          `dropped ${result.truncatedBytes} bytes of preallocated space after position ${result.validBytes}`,
        );
      } else if (result.truncatedBytes > 0) {
        this.logger.warn(
          { ...this.context(), file: segment.logFile, keptBytes: result.validBytes, droppedBytes: result.truncatedBytes, reason: result.reason },
          `truncated a torn tail: dropped ${result.truncatedBytes} bytes after position ${result.validBytes}`,
        );
      }
    }
    // The recovered tail is now the log: make it durable before it is served.
    for (let i = recoverFrom; i < this.segments.length; i++) await this.segments[i].flush();
  }

  private async readCheckpoint(): Promise<PartitionCheckpoint | undefined> {
    const file = path.join(this.dir, PARTITION_CHECKPOINT_FILE);
    try {
      const value = (await readChecksummed(this.fileSystem, file)) as PartitionCheckpoint;
      const p = value?.recoveryPoint;
      if (value?.version !== 1 || !Number.isSafeInteger(value.logStartOffset) || !p || !Number.isSafeInteger(p.offset) || !Number.isSafeInteger(p.position) || !Number.isSafeInteger(p.segmentBaseOffset)) {
        throw new BrookError('CORRUPT_DATA', `${file}: unexpected contents`, { file });
      }
      return value;
    } catch (e) {
      if (isNotFound(e)) return undefined;
      if (isBrookError(e, 'CORRUPT_DATA')) {
        this.logger.warn({ ...this.context(), file, reason: e.message }, 'ignoring a corrupt partition checkpoint; recovering the whole log');
        return undefined;
      }
      throw e;
    }
  }

  // ---------------------------------------------------------------- append

  /**
   * Appends one client-built RecordBatch v2. Validates it (magic, length, CRC,
   * count: CORRUPT_RECORD_BATCH; size: RECORD_TOO_LARGE), stamps its base
   * offset in place (and the broker time under LogAppendTime), and resolves
   * once it is durable under flush.policy. Nothing is written for a batch
   * that fails validation. The log keeps `batch` (see TAIL_CACHE_MAX_BYTES):
   * the caller must not change it afterwards.
   */
  append(batch: Buffer): Promise<AppendResult> {
    try {
      const entry = this.prepare(batch);
      if ('duplicateOf' in entry) return this.answerDuplicate(entry.duplicateOf);
      const promise = new Promise<AppendResult>((resolve, reject) => {
        const pending: PendingAppend = { ...entry, resolve, reject };
        this.queue.push(pending);
        if (!this.writing) void this.runWriter();
      });
      if (entry.producerBatch) entry.producerBatch.result = promise;
      return promise;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Encodes `records` as one batch (timestamps default to the clock) and appends it. */
  appendRecords(records: readonly RecordInput[]): Promise<AppendResult> {
    if (!Array.isArray(records) || records.length === 0) {
      return Promise.reject(new BrookError('INVALID_ARGUMENT', 'appendRecords needs at least one record', this.context()));
    }
    const now = this.clock.nowMs();
    const batch = encodeRecordBatch(records.map((r) => (r.timestampMs === undefined ? { ...r, timestampMs: now } : r)), { baseTimestampMs: now });
    return this.append(batch);
  }

  /**
   * A retry of a batch the producer state remembers: the original offsets,
   * once the original is durable (the same outcome as the original append
   * when it is still in flight in this process).
   */
  private answerDuplicate(original: ProducerBatch): Promise<AppendResult> {
    if (original.result) return original.result as Promise<AppendResult>;
    const recordCount = original.lastOffset - original.baseOffset + 1;
    // Under LogAppendTime the remembered max timestamp is the append time the original was stamped with.
    const logAppendTimeMs = this.currentConfig.messageTimestampType === 'LogAppendTime' ? original.maxTimestamp : -1;
    return Promise.resolve({ baseOffset: original.baseOffset, lastOffset: original.lastOffset, logAppendTimeMs, recordCount });
  }

  private prepare(batch: Buffer): (Omit<PendingAppend, 'resolve' | 'reject'> & { readonly producerBatch?: ProducerBatch }) | { readonly duplicateOf: ProducerBatch } {
    if (this.closed) throw new BrookError('SHUTTING_DOWN', `partition ${this.topic}-${this.partition} is closed`, this.context());
    if (this.failure) throw this.failure;
    if (!Buffer.isBuffer(batch)) throw new BrookError('INVALID_ARGUMENT', 'append needs a Buffer holding one record batch', this.context());
    const limit = this.currentConfig.maxMessageBytes;
    if (batch.length > limit) {
      throw new BrookError('RECORD_TOO_LARGE', `record batch of ${batch.length} bytes exceeds max.message.bytes=${limit} for topic ${this.topic}`, this.context());
    }
    const header = validateRecordBatch(batch, 0, batch.length);
    // One map lookup for idempotent batches, in the same synchronous step that
    // assigns offsets: two copies of one batch can never both be written.
    const sequence = this.producerState.check(header);
    if (sequence.kind === 'duplicate') return { duplicateOf: sequence.batch };
    const baseOffset = this.nextOffset;
    const lastOffset = baseOffset + header.lastOffsetDelta;
    stampBaseOffset(batch, 0, baseOffset);
    let logAppendTimeMs = -1;
    let maxTimestamp = header.maxTimestamp;
    if (this.currentConfig.messageTimestampType === 'LogAppendTime') {
      logAppendTimeMs = this.clock.nowMs();
      setLogAppendTime(batch, 0, logAppendTimeMs);
      maxTimestamp = logAppendTimeMs;
    }
    this.nextOffset = lastOffset + 1;
    const producerBatch = sequence.kind === 'new' ? this.producerState.register(sequence, baseOffset, lastOffset, maxTimestamp, this.clock.nowMs()) : undefined;
    const entry = { buffer: batch, baseOffset, lastOffset, maxTimestamp, recordCount: header.recordCount, logAppendTimeMs, producerBatch };
    return entry;
  }

  private async runWriter(): Promise<void> {
    this.writing = true;
    let done!: () => void;
    this.lastAppend = new Promise<void>((resolve) => (done = resolve));
    try {
      while (this.queue.length > 0) {
        const round = this.queue;
        this.queue = [];
        try {
          await this.writeRound(round);
        } catch (e) {
          await this.handleWriteFailure(e, round);
        }
      }
    } finally {
      this.writing = false;
      done();
    }
  }

  private async writeRound(round: PendingAppend[]): Promise<void> {
    const policy = this.currentConfig.flushPolicy;
    if (policy === 'always') await this.maybePreallocate(round);
    let pending: PendingAppend[] = [];
    let pendingBytes = 0;
    for (const entry of round) {
      if (this.shouldRoll(entry, pendingBytes)) {
        await this.active.append(pending);
        pending = [];
        pendingBytes = 0;
        await this.roll(entry.baseOffset);
      }
      if (this.active.rollingBaseMs === undefined) this.active.rollingBaseMs = this.clock.nowMs();
      pending.push(entry);
      pendingBytes += entry.buffer.length;
    }
    // Under `always`, the write and its fdatasync as one durable write (one
    // thread-pool round trip instead of two; see StorageFile.writevDurable).
    // That flushes only its own bytes: after writes under another policy
    // (changed at run time) a whole-file fdatasync follows instead.
    const active = this.active;
    const durable = policy === 'always' && !this.activeUnsynced;
    await active.append(pending, durable);
    this.activeUnsynced = policy !== 'always';
    const end = active.nextOffset;
    const position = active.size;
    if (policy === 'always') {
      if (!durable) {
        try {
          await active.flush();
        } catch (e) {
          throw new FsyncFailure(e);
        }
      }
      this.recoveryPoint = { offset: end, segmentBaseOffset: active.baseOffset, position };
      this.lastFlushMonotonicMs = this.clock.monotonicMs();
    }
    this.producerState.completeUpTo(end);
    this.hwPosition = { segment: active, position };
    for (const entry of round) this.cacheTail(entry);
    this.advanceHighWatermark(end);
    for (const entry of round) {
      entry.resolve({ baseOffset: entry.baseOffset, lastOffset: entry.lastOffset, logAppendTimeMs: entry.logAppendTimeMs, recordCount: entry.recordCount });
    }
  }

  /** See PREALLOCATE_MIN_BYTES. Writer only; a failure (disk full) only stops preallocation for this segment. */
  private async maybePreallocate(round: readonly PendingAppend[]): Promise<void> {
    const active = this.active;
    let roundBytes = 0;
    for (const entry of round) roundBytes += entry.buffer.length;
    if (roundBytes >= PREALLOCATE_MAX_ROUND_BYTES || active.preallocatedBytes >= roundBytes || active === this.preallocationFailed) return;
    const room = this.currentConfig.segmentBytes - active.size - active.preallocatedBytes;
    const bytes = Math.min(Math.max(PREALLOCATE_MIN_BYTES, Math.min(active.size, PREALLOCATE_MAX_BYTES)), room);
    if (bytes < roundBytes) return; // the round rolls the segment, or nearly
    try {
      await active.preallocate(bytes);
    } catch (e) {
      this.preallocationFailed = active;
      this.logger.warn({ ...this.context(), file: active.logFile, err: e }, 'could not preallocate segment space; appends extend the file instead');
    }
  }

  /**
   * Snapshots the producer state of everything below `offset` (at a roll or
   * a clean close), so the next load scans only the log after it. A failed
   * snapshot costs only a longer scan at the next load, never an append.
   */
  private async snapshotProducerState(offset: number): Promise<void> {
    this.producerState.completeUpTo(offset);
    this.producerState.removeExpired(this.clock.nowMs(), PRODUCER_ID_EXPIRATION_MS);
    try {
      await this.producerState.takeSnapshot(offset);
    } catch (e) {
      this.logger.warn({ ...this.context(), err: e, offset }, 'could not write a producer state snapshot; the next load scans further back');
    }
  }

  private shouldRoll(entry: PendingAppend, pendingBytes: number): boolean {
    const active = this.active;
    const size = active.size + pendingBytes;
    if (size === 0) return false;
    const config = this.currentConfig;
    if (size + entry.buffer.length > config.segmentBytes) return true;
    if (entry.lastOffset - active.baseOffset > MAX_RELATIVE_OFFSET) return true;
    return active.rollingBaseMs !== undefined && this.clock.nowMs() - active.rollingBaseMs > config.segmentMs;
  }

  /** Seals the active segment and starts a new one at `baseOffset`. Writer only. */
  private async roll(baseOffset: number): Promise<void> {
    const old = this.active;
    const sync = this.currentConfig.flushPolicy !== 'never';
    await old.trimPreallocation();
    // The producer snapshot written below describes every batch under the
    // new base offset: that data must be on disk first, or a crash could
    // leave a snapshot pairing sequences with offsets the log no longer
    // holds. Under flush.policy=never this is the one fdatasync of the old
    // segment's log; a roll comes once per segment.bytes (1 GiB by default),
    // so it costs nothing measurable. Its index files stay unsynced and the
    // segment stays in unflushedSealed until flush() or close.
    try {
      await old.flush();
    } catch (e) {
      throw new FsyncFailure(e);
    }
    if (!sync) this.unflushedSealed.add(old);
    await old.seal(sync);
    const segment = await LogSegment.create(this.fileSystem, this.dir, baseOffset, this.currentConfig.indexIntervalBytes, this.logger);
    if (sync) await this.fileSystem.syncDirectory(this.dir);
    this.segments = [...this.segments, segment];
    if (sync) this.recoveryPoint = { offset: old.nextOffset, segmentBaseOffset: old.baseOffset, position: old.size };
    this.logger.info({ ...this.context(), baseOffset, previousSize: old.size }, 'rolled a new segment');
    await this.snapshotProducerState(baseOffset);
  }

  /**
   * A write or fsync failed. Every batch of this round and every queued one is
   * refused (their offsets are handed out again). A failed write is undone by
   * truncating back to the high watermark; a failed fdatasync cannot be
   * trusted (the page cache may have dropped the dirty pages), so the
   * partition goes offline until the broker restarts and recovers it.
   */
  private async handleWriteFailure(e: unknown, round: PendingAppend[]): Promise<void> {
    const failed = [...round, ...this.queue];
    this.queue = [];
    const cause = e instanceof FsyncFailure ? e.cause : e;
    const error = isBrookError(cause)
      ? cause
      : new BrookError('STORAGE_ERROR', `append to ${this.topic}-${this.partition} failed: ${cause instanceof Error ? cause.message : String(cause)}`, this.context(), { cause });
    if (e instanceof FsyncFailure) {
      this.failure = new BrookError('STORAGE_ERROR', `partition ${this.topic}-${this.partition} is offline after a failed fdatasync (${error.message}); restart the broker to recover it`, this.context(), { cause: error });
    } else {
      try {
        await this.rollBackToHighWatermark();
        // A roll in this round may have written a producer snapshot at an
        // offset the log no longer reaches. Once the log grows past it again,
        // a load after an unclean stop would trust it and answer retries
        // with other records' offsets: it must go now. If it cannot, going
        // offline keeps the log below it, and the next load discards it.
        await this.producerState.deleteSnapshotsAbove(this.nextOffset);
      } catch (rollbackError) {
        this.failure = new BrookError('STORAGE_ERROR', `partition ${this.topic}-${this.partition} is offline: could not undo a failed write`, this.context(), { cause: rollbackError });
      }
      // Appends that arrived during the rollback were stamped with offsets of
      // the failed range (nextOffset is only reset at its end): writing them
      // would leave a gap and hand those offsets out twice. Refuse them too.
      failed.push(...this.queue);
      this.queue = [];
    }
    // The refused batches' sequences were never written: forget them, and
    // anything the rollback took back, so the producer's retries are accepted.
    this.producerState.abortPending();
    this.producerState.truncateTo(this.nextOffset);
    this.logger.error({ ...this.context(), err: error, refused: failed.length }, 'append failed');
    for (const entry of failed) entry.reject(error);
  }

  private async rollBackToHighWatermark(): Promise<void> {
    const mark = this.hwPosition;
    const keep = this.segments.filter((s) => s.baseOffset < this.hw || s === mark?.segment || s === this.segments[0]);
    const extra = this.segments.filter((s) => !keep.includes(s));
    this.segments = keep;
    for (const segment of extra) await segment.deleteWhenUnused();
    const active = this.active;
    if (mark && mark.segment === active) await active.truncateTo(mark.position, this.hw);
    else if (active.baseOffset >= this.hw) await active.truncateTo(0, active.baseOffset);
    this.nextOffset = this.hw;
  }

  /** Adds a batch that is now written (and durable under `always`) to the tail cache; see TAIL_CACHE_MAX_BYTES. */
  private cacheTail(entry: SegmentBatch): void {
    const tail = this.tail;
    const buffer = entry.buffer;
    const retainedBytes = Math.max(buffer.length, buffer.buffer.byteLength);
    const last = tail.length > 0 ? tail[tail.length - 1] : undefined;
    const fits = retainedBytes <= TAIL_CACHE_MAX_BYTES && tailCacheTotalBytes - this.tailBytes + retainedBytes <= TAIL_CACHE_TOTAL_MAX_BYTES;
    if (!fits || (last !== undefined && last.lastOffset + 1 !== entry.baseOffset)) {
      this.clearTail();
      if (!fits) return;
    }
    tail.push({ buffer, baseOffset: entry.baseOffset, lastOffset: entry.lastOffset, retainedBytes });
    this.tailBytes += retainedBytes;
    tailCacheTotalBytes += retainedBytes;
    while (tail.length > TAIL_CACHE_MAX_BATCHES || this.tailBytes > TAIL_CACHE_MAX_BYTES || tailCacheTotalBytes > TAIL_CACHE_TOTAL_MAX_BYTES) {
      const dropped = (tail.shift() as TailBatch).retainedBytes;
      this.tailBytes -= dropped;
      tailCacheTotalBytes -= dropped;
    }
  }

  private clearTail(): void {
    tailCacheTotalBytes -= this.tailBytes;
    this.tail.length = 0;
    this.tailBytes = 0;
  }

  /**
   * `read` from the tail cache, when it holds the batch with `offset`: the
   * same whole batches a disk read would return (at least one, up to
   * `maxBytes`, below `highWatermark`), copied into a buffer of the caller's.
   */
  private readTail(offset: number, maxBytes: number, highWatermark: number, logStartOffset: number, headroom: number, allocate?: (size: number) => Buffer): ReadResult | undefined {
    const tail = this.tail;
    if (tail.length === 0 || offset < tail[0].baseOffset || tail[tail.length - 1].lastOffset < offset) return undefined;
    let first = tail.length - 1;
    while (first > 0 && tail[first - 1].lastOffset >= offset) first--;
    let end = first;
    let total = 0;
    while (end < tail.length && tail[end].lastOffset < highWatermark && (end === first || total + tail[end].buffer.length <= maxBytes)) {
      total += tail[end].buffer.length;
      end++;
    }
    if (end === first) return undefined;
    const chunks = new Array<Buffer>(end - first);
    for (let i = first; i < end; i++) chunks[i - first] = tail[i].buffer;
    const data = concat(chunks, total, headroom, allocate); // a copy: cached buffers are never handed out
    return { data, highWatermark, logStartOffset, firstOffset: tail[first].baseOffset, nextOffset: tail[end - 1].lastOffset + 1, headroom };
  }

  private advanceHighWatermark(offset: number): void {
    if (offset <= this.hw) return;
    this.hw = offset;
    this.emit('highWatermark', offset);
  }

  // ------------------------------------------------------------------ read

  /**
   * Whole batches from the one holding `offset`, up to `maxBytes` (at least
   * one batch), across segments, never past the high watermark.
   * `headroom`: when the data is not empty, it is a view of a buffer made for
   * this read with at least that many spare bytes before it, which the caller
   * may overwrite. `allocate`, if given, supplies the buffers read into.
   */
  async read(offset: number, maxBytes: number, headroom = 0, allocate?: (size: number) => Buffer): Promise<ReadResult> {
    if (!Number.isSafeInteger(offset)) throw new BrookError('INVALID_ARGUMENT', `offset must be an integer, got ${offset}`, this.context());
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new BrookError('INVALID_ARGUMENT', `maxBytes must be a non-negative integer, got ${maxBytes}`, this.context());
    const highWatermark = this.hw;
    const logStartOffset = this.startOffset;
    this.checkOffsetInRange(offset, logStartOffset, highWatermark);
    if (offset === highWatermark) return { data: EMPTY, highWatermark, logStartOffset, firstOffset: offset, nextOffset: offset };
    const cached = this.readTail(offset, maxBytes, highWatermark, logStartOffset, headroom, allocate);
    if (cached !== undefined) return cached;

    const segments = this.segments;
    let i = floorSegment(segments, offset);
    const chunks: Buffer[] = [];
    let total = 0;
    let firstOffset: number | undefined;
    let next = offset;
    while (i < segments.length && next < highWatermark) {
      const segment = segments[i];
      if (segment.isDeleted) {
        // Retention removed it after we took the snapshot.
        this.checkOffsetInRange(next, this.startOffset, highWatermark);
        i++;
        continue;
      }
      segment.acquire();
      let result;
      try {
        result = await segment.read(next, total === 0 ? maxBytes : maxBytes - total, highWatermark, total === 0, false, headroom, allocate);
      } catch (e) {
        if (chunks.length > 0 && isBrookError(e, 'CORRUPT_DATA')) break; // serve what we have; the next read reports it
        throw withContext(e, this.context(next));
      } finally {
        segment.release();
      }
      if (result) {
        chunks.push(result.data);
        total += result.data.length;
        firstOffset ??= result.firstOffset;
        next = result.nextOffset;
        // Stop unless this segment is used up: the next batch here did not fit.
        if (total >= maxBytes || next < segment.nextOffset) break;
      } else if (total > 0) {
        break;
      }
      i++;
    }
    const data = chunks.length === 1 ? chunks[0] : chunks.length === 0 ? EMPTY : concat(chunks, total, headroom, allocate);
    return { data, highWatermark, logStartOffset, firstOffset: firstOffset ?? offset, nextOffset: next, headroom: data.length > 0 ? headroom : 0 };
  }

  private checkOffsetInRange(offset: number, logStartOffset: number, highWatermark: number): void {
    if (offset < logStartOffset || offset > highWatermark) {
      throw new BrookError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} is out of range for ${this.topic}-${this.partition}: valid offsets are [${logStartOffset}, ${highWatermark}] (log start offset, high watermark)`,
        this.context(offset),
      );
    }
  }

  /** First offset whose record timestamp is >= timestampMs, with that timestamp; null if none below the high watermark. */
  async offsetForTimestamp(timestampMs: number): Promise<{ offset: number; timestampMs: number } | null> {
    if (!Number.isSafeInteger(timestampMs)) throw new BrookError('INVALID_ARGUMENT', `timestamp must be an integer, got ${timestampMs}`, this.context());
    const highWatermark = this.hw;
    for (const segment of this.segments) {
      if (segment.isDeleted || segment.maxTimestampSoFar < timestampMs) continue;
      segment.acquire();
      let found;
      try {
        found = await segment.findBatchByTimestamp(timestampMs, highWatermark);
      } finally {
        segment.release();
      }
      if (!found) continue;
      const { header, data } = found;
      if (header.timestampType === 'LogAppendTime') {
        return { offset: Math.max(header.baseOffset, this.startOffset), timestampMs: header.maxTimestamp };
      }
      const { records } = decodeRecordBatch(data, 0);
      for (const record of records) {
        if (record.offset >= this.startOffset && record.timestampMs >= timestampMs) return { offset: record.offset, timestampMs: record.timestampMs };
      }
    }
    return null;
  }

  // ------------------------------------------------------------- durability

  /** Resolves once everything appended before the call is durable (fdatasync, whatever the policy). */
  async flush(): Promise<void> {
    await this.lastAppend;
    if (this.failure) throw this.failure;
    const active = this.active;
    const point: RecoveryPoint = { offset: active.nextOffset, segmentBaseOffset: active.baseOffset, position: active.size };
    for (const sealed of [...this.unflushedSealed]) {
      if (!sealed.isDeleted) await sealed.flush();
      this.unflushedSealed.delete(sealed);
    }
    if (this.currentConfig.flushPolicy !== 'always' || point.offset > this.recoveryPoint.offset) await active.flush();
    if (point.offset >= this.recoveryPoint.offset) this.recoveryPoint = point;
    this.lastFlushMonotonicMs = this.clock.monotonicMs();
  }

  /** Under flush.policy=interval, flushes if flush.interval.ms has passed since the last flush. */
  async maybeFlush(): Promise<void> {
    if (this.closed || this.failure || this.currentConfig.flushPolicy !== 'interval') return;
    if (this.clock.monotonicMs() - this.lastFlushMonotonicMs < this.currentConfig.flushIntervalMs) return;
    if (this.recoveryPoint.offset >= this.hw) {
      this.lastFlushMonotonicMs = this.clock.monotonicMs();
      return;
    }
    await this.flush();
  }

  /** Writes the partition checkpoint (log start offset and recovery point) if it changed. */
  writeCheckpoint(): Promise<void> {
    const run = async (): Promise<void> => {
      const point = this.recoveryPoint;
      const startOffset = this.startOffset;
      const previous = this.checkpointedRecoveryPoint;
      if (previous && previous.offset === point.offset && previous.position === point.position && previous.segmentBaseOffset === point.segmentBaseOffset && this.checkpointedStartOffset === startOffset) return;
      const checkpoint: PartitionCheckpoint = { version: 1, logStartOffset: startOffset, recoveryPoint: point };
      await writeChecksummedAtomically(this.fileSystem, path.join(this.dir, PARTITION_CHECKPOINT_FILE), checkpoint);
      this.checkpointedRecoveryPoint = point;
      this.checkpointedStartOffset = startOffset;
    };
    const next = this.metadataChain.then(run, run);
    this.metadataChain = next.catch(() => undefined);
    return next;
  }

  // -------------------------------------------------------------- retention

  /**
   * Moves the log start offset up to `offset` (Kafka's DeleteRecords) and
   * deletes the sealed segments wholly below it. OFFSET_OUT_OF_RANGE outside
   * [0, highWatermark]; an offset at or below the current start is a no-op.
   */
  async deleteRecordsBefore(offset: number): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > this.hw) {
      throw new BrookError('OFFSET_OUT_OF_RANGE', `cannot delete records before offset ${offset} in ${this.topic}-${this.partition}: it must lie in [0, ${this.hw}] (high watermark)`, this.context(offset));
    }
    if (offset <= this.startOffset) return;
    this.startOffset = offset;
    const doomed: LogSegment[] = [];
    const segments = this.segments;
    for (let i = 0; i + 1 < segments.length && segments[i + 1].baseOffset <= offset; i++) doomed.push(segments[i]);
    await this.deleteSegments(doomed, `log start offset moved to ${offset}`);
  }

  /**
   * Deletes whole sealed segments past retention.ms (by their newest
   * timestamp) or beyond retention.bytes (oldest first), moving the log start
   * offset. The active segment is never deleted. Returns how many were.
   */
  async enforceRetention(): Promise<number> {
    if (this.closed) return 0;
    const config = this.currentConfig;
    const now = this.clock.nowMs();
    const sealed = this.segments.slice(0, -1);
    const doomed = new Set<LogSegment>();
    if (config.retentionMs >= 0) {
      for (const segment of sealed) {
        if (segment.maxTimestampSoFar >= 0 && now - segment.maxTimestampSoFar > config.retentionMs) doomed.add(segment);
        else break;
      }
    }
    if (config.retentionBytes >= 0) {
      let excess = this.sizeBytes - config.retentionBytes;
      for (const segment of sealed) {
        if (excess - segment.size < 0) break;
        excess -= segment.size;
        doomed.add(segment);
      }
    }
    if (doomed.size === 0) return 0;
    const list = sealed.filter((s) => doomed.has(s));
    const last = list[list.length - 1];
    const nextBase = this.segments[this.segments.indexOf(last) + 1].baseOffset;
    if (nextBase > this.startOffset) this.startOffset = nextBase;
    await this.deleteSegments(list, 'retention');
    return list.length;
  }

  private async deleteSegments(doomed: readonly LogSegment[], why: string): Promise<void> {
    if (doomed.length > 0) {
      const set = new Set(doomed);
      this.segments = this.segments.filter((s) => !set.has(s));
      const first = this.segments[0].baseOffset;
      if (this.startOffset < first) this.startOffset = first;
    }
    // Persist the new start offset before files go, so a crash in between never resurrects deleted records.
    await this.writeCheckpoint();
    for (const segment of doomed) {
      this.unflushedSealed.delete(segment);
      this.logger.info({ ...this.context(), file: segment.logFile, bytes: segment.size, logStartOffset: this.startOffset }, `deleting segment: ${why}`);
      await segment.deleteWhenUnused();
    }
  }

  // ---------------------------------------------------------------- config

  updateConfig(config: TopicConfig): void {
    this.currentConfig = config;
    for (const segment of this.segments) segment.setIndexIntervalBytes(config.indexIntervalBytes);
  }

  // ------------------------------------------------------------------ close

  /** Waits for queued appends, flushes, writes the active segment's indexes and the checkpoint, closes files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lastAppend;
    if (!this.failure) {
      await this.active.trimPreallocation(); // before the flush, so the file's size is durable too
      await this.flush();
      await this.active.writeIndexFiles(true);
      await this.snapshotProducerState(this.nextOffset);
      await this.writeCheckpoint();
    }
    await this.closeSegments();
  }

  /** Closes without flushing (used before deleting the partition's files). */
  async closeForDeletion(): Promise<void> {
    this.closed = true;
    await this.lastAppend;
    await this.closeSegments();
  }

  /** The end of both closes: files closed, then 'closed' for every waiter before the listeners go. */
  private async closeSegments(): Promise<void> {
    this.clearTail();
    await this.metadataChain;
    for (const segment of this.segments) await segment.close();
    // Waiters on 'highWatermark' listen for this too, so none is left hanging on a closed log.
    this.emit('closed');
    this.removeAllListeners();
  }
}


/** `Buffer.concat` into a buffer with `headroom` spare bytes before the returned view. */
function concat(chunks: readonly Buffer[], total: number, headroom: number, allocate?: (size: number) => Buffer): Buffer {
  if (headroom === 0 && allocate === undefined) return Buffer.concat(chunks, total);
  const out = (allocate ?? Buffer.allocUnsafe)(headroom + total).subarray(headroom, headroom + total);
  let position = 0;
  for (const chunk of chunks) {
    out.set(chunk, position);
    position += chunk.length;
  }
  return out;
}

/** Index of the last segment whose base offset is <= offset (0 if none). */
function floorSegment(segments: readonly LogSegment[], offset: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (segments[mid].baseOffset <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function withContext(e: unknown, context: { topic: string; partition: number; offset?: number }): unknown {
  if (e instanceof BrookError) Object.assign(e.context, { topic: context.topic, partition: context.partition }, e.context.offset === undefined ? { offset: context.offset } : {});
  return e;
}

