/**
 * One segment of a partition log: a `.log` file of record batches and its two
 * sparse indexes.
 *
 *   <dir>/<20-digit base offset>.log        RecordBatch v2 batches, back to back, byte for
 *                                           byte as Kafka lays them out (see src/record)
 *   <dir>/<20-digit base offset>.index      OffsetIndex (8-byte entries)
 *   <dir>/<20-digit base offset>.timeindex  TimeIndex (12-byte entries)
 *
 * The base offset is the first offset the segment may hold. Indexes live in
 * memory (see AbstractIndex) and are written to their files when the segment
 * is sealed and on clean shutdown; `recover()` rebuilds them from the log.
 *
 * Concurrency (which calls may interleave across `await`):
 * - `append`, `truncateTo`, `recover`, `seal` are writer calls; the owning
 *   PartitionLog runs at most one of them at a time.
 * - `read` and `findOffsetByTimestamp` may run concurrently with each other
 *   and with one writer call. They only look at bytes below `size`, which
 *   grows after a write completes, and they stop at the high watermark they
 *   are given, so they never see a batch that is being written.
 * - A reader holds a reference (`acquire`/`release`); `deleteWhenUnused`
 *   closes and unlinks the files only once no reader holds one, so retention
 *   never pulls a file from under an in-flight read.
 */
import path from 'path';
import { BrookError, isBrookError } from '../common/errors';
import { ATTRIBUTES_OFFSET, BATCH_HEADER_SIZE, MAGIC_OFFSET, crc32c, readBatchHeader, type BatchHeader } from '../record';
import type { StorageFile, StorageFileSystem } from './file-system';
import { isNotFound } from './file-system';
import type { StorageLogger } from './logger';
import { MAX_RELATIVE_OFFSET } from './abstract-index';
import { OffsetIndex } from './offset-index';
import { TimeIndex } from './time-index';

export const LOG_SUFFIX = '.log';
export const INDEX_SUFFIX = '.index';
export const TIME_INDEX_SUFFIX = '.timeindex';

/** Where the CRC-32C of a batch starts (the attributes field) — it does not cover offset, length, epoch, magic or itself. */
const CRC_START = ATTRIBUTES_OFFSET;
/**
 * Recovery and index rebuilds read the log in 8 MiB chunks: large enough
 * that syscall overhead is <1% of the copy at ~3 GB/s page-cache reads, small
 * enough to stay out of the old generation.
 */
const SCAN_CHUNK_BYTES = 8 * 1024 * 1024;
/** A read fetches maxBytes plus this much in its first I/O, so the index scan and the data usually come in one read. */
const READ_SLACK_BYTES = 16 * 1024;
const MAX_READ_WINDOW_BYTES = 16 * 1024 * 1024;
/** Window for finding a read's first batch when it lies past the index entry's batch. */
const SCAN_WINDOW_BYTES = 64 * 1024;

export function segmentFileName(baseOffset: number, suffix: string): string {
  return String(baseOffset).padStart(20, '0') + suffix;
}

/** A batch the writer hands to `append`: its bytes (offset already stamped) and header facts. */
export interface SegmentBatch {
  readonly buffer: Buffer;
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly maxTimestamp: number;
}

export interface SegmentRead {
  /** Whole batches, CRC-checked. */
  readonly data: Buffer;
  readonly firstOffset: number;
  /** Offset after the last batch in `data`. */
  readonly nextOffset: number;
}

export interface RecoveryResult {
  readonly validBytes: number;
  readonly truncatedBytes: number;
  readonly reason?: string;
  /** The dropped bytes were all zeros: preallocated space past the last write, not a torn batch. */
  readonly zeroTail?: boolean;
}

/** Zeros written by `preallocate`, shared (never written to). */
const ZEROS = Buffer.alloc(256 * 1024);

export class LogSegment {
  readonly logFile: string;
  readonly indexFile: string;
  readonly timeIndexFile: string;
  /** Bytes of complete batches in the .log file (all writes below this have finished). */
  size = 0;
  /** Offset after the last batch written. */
  nextOffset: number;
  /** Largest batch max-timestamp in the segment, -1 when empty. */
  maxTimestampSoFar = -1;
  offsetOfMaxTimestampSoFar: number;
  /**
   * Clock time of the first append to this segment (or of loading it, for
   * the active segment after a restart): segment.ms counts from here. Kafka
   * counts from the first batch's timestamp instead, which rolls a segment
   * per batch when producers send old CreateTime timestamps; the owner sets it.
   */
  rollingBaseMs: number | undefined;
  offsetIndex: OffsetIndex;
  timeIndex: TimeIndex;
  private bytesSinceLastIndexEntry = 0;
  /**
   * File position up to which the file holds zero-filled, fdatasynced space
   * (see `preallocate`); at most `size` when there is none. Bytes in
   * [size, preallocatedEnd) are not part of the log.
   */
  private preallocatedEnd = 0;
  private references = 0;
  private deletion: { resolve: () => void; promise: Promise<void> } | undefined;
  private closed = false;

  private constructor(
    private readonly fileSystem: StorageFileSystem,
    readonly dir: string,
    readonly baseOffset: number,
    private readonly file: StorageFile,
    private indexIntervalBytes: number,
    private readonly logger: StorageLogger,
  ) {
    this.logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    this.indexFile = path.join(dir, segmentFileName(baseOffset, INDEX_SUFFIX));
    this.timeIndexFile = path.join(dir, segmentFileName(baseOffset, TIME_INDEX_SUFFIX));
    this.nextOffset = baseOffset;
    this.offsetOfMaxTimestampSoFar = baseOffset;
    this.offsetIndex = new OffsetIndex(baseOffset, this.indexFile);
    this.timeIndex = new TimeIndex(baseOffset, this.timeIndexFile);
  }

  /** Creates an empty segment (and its .log file). */
  static async create(fileSystem: StorageFileSystem, dir: string, baseOffset: number, indexIntervalBytes: number, logger: StorageLogger): Promise<LogSegment> {
    const logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    const file = await fileSystem.open(logFile, { create: true });
    const segment = new LogSegment(fileSystem, dir, baseOffset, file, indexIntervalBytes, logger);
    const existing = await file.size();
    if (existing !== 0) {
      await file.close();
      throw new BrookError('INVARIANT_VIOLATION', `invariant violated: new segment ${logFile} already holds ${existing} bytes`, { file: logFile });
    }
    // Stale index files from an earlier life of this base offset are meaningless now.
    await fileSystem.unlink(segment.indexFile);
    await fileSystem.unlink(segment.timeIndexFile);
    return segment;
  }

  /** Opens an existing segment without reading it; then call `loadIndexes` or `recover`. */
  static async open(fileSystem: StorageFileSystem, dir: string, baseOffset: number, indexIntervalBytes: number, logger: StorageLogger): Promise<LogSegment> {
    const logFile = path.join(dir, segmentFileName(baseOffset, LOG_SUFFIX));
    const file = await fileSystem.open(logFile);
    const segment = new LogSegment(fileSystem, dir, baseOffset, file, indexIntervalBytes, logger);
    segment.size = await file.size();
    return segment;
  }

  setIndexIntervalBytes(bytes: number): void {
    this.indexIntervalBytes = bytes;
  }

  get isDeleted(): boolean {
    return this.deletion !== undefined;
  }

  // ---------------------------------------------------------------- writing

  /**
   * Appends batches at the end of the file with one positional writev, and
   * adds index entries every index.interval.bytes (Kafka's rule: an entry for
   * a batch once more than that many bytes were appended since the last one).
   * `durable`: resolves only once the batches are durable, as `append` then
   * `flush` would (one O_DSYNC write where the file system offers it; see
   * StorageFile.writevDurable); a failure that may have come from the flush
   * is an FsyncFailure.
   */
  async append(batches: readonly SegmentBatch[], durable = false): Promise<void> {
    if (batches.length === 0) return;
    const start = this.size;
    let position = start;
    const buffers: Buffer[] = new Array(batches.length);
    for (let i = 0; i < batches.length; i++) {
      const batch = batches[i];
      if (batch.baseOffset < this.nextOffset && i === 0) {
        throw new BrookError('INVARIANT_VIOLATION', `invariant violated: appending offset ${batch.baseOffset} to ${this.logFile} whose next offset is ${this.nextOffset}`, { file: this.logFile, offset: batch.baseOffset });
      }
      if (batch.lastOffset - this.baseOffset > MAX_RELATIVE_OFFSET) {
        throw new BrookError('INVARIANT_VIOLATION', `invariant violated: offset ${batch.lastOffset} does not fit segment ${this.logFile}`, { file: this.logFile, offset: batch.lastOffset });
      }
      this.indexBatch(batch.lastOffset, batch.maxTimestamp, position, batch.buffer.length);
      buffers[i] = batch.buffer;
      position += batch.buffer.length;
    }
    if (!durable) {
      await this.file.writev(buffers, start);
    } else if (this.file.writevDurable !== undefined) {
      try {
        await this.file.writevDurable(buffers, start);
      } catch (e) {
        // Only a full disk is known to fail before the flush; anything else may have lost dirty pages.
        throw isBrookError(e, 'DISK_FULL') ? e : new FsyncFailure(e);
      }
    } else {
      await this.file.writev(buffers, start);
      try {
        await this.file.datasync();
      } catch (e) {
        throw new FsyncFailure(e);
      }
    }
    this.size = position;
    this.nextOffset = batches[batches.length - 1].lastOffset + 1;
  }

  private indexBatch(lastOffset: number, maxTimestamp: number, position: number, sizeInBytes: number): void {
    if (maxTimestamp > this.maxTimestampSoFar) {
      this.maxTimestampSoFar = maxTimestamp;
      this.offsetOfMaxTimestampSoFar = lastOffset;
    }
    if (this.bytesSinceLastIndexEntry > this.indexIntervalBytes) {
      this.offsetIndex.append(lastOffset, position);
      this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar);
      this.bytesSinceLastIndexEntry = 0;
    }
    this.bytesSinceLastIndexEntry += sizeInBytes;
  }

  /**
   * Bytes of preallocated space past the end of the log: writes there
   * overwrite zeros already on disk, so their fdatasync only flushes data.
   */
  get preallocatedBytes(): number {
    return Math.max(0, this.preallocatedEnd - this.size);
  }

  /**
   * Zero-fills `bytes` past the end of the log (or of the space already
   * preallocated) and fdatasyncs them, so later appends there change neither
   * the file size nor its block map. Measured on this machine: an fdatasync
   * after overwriting such space costs ~180 µs, after extending the file
   * ~370 µs (the size change and the new blocks go through the journal).
   * Writer only. The file is longer than the log until `trimPreallocation`;
   * recovery treats the zero tail as the end of the log (see `recover`).
   */
  async preallocate(bytes: number): Promise<void> {
    let position = Math.max(this.size, this.preallocatedEnd);
    const end = position + bytes;
    try {
      while (position < end) {
        const length = Math.min(ZEROS.length, end - position);
        await this.file.writev([length === ZEROS.length ? ZEROS : ZEROS.subarray(0, length)], position);
        position += length;
      }
      await this.file.datasync();
    } catch (e) {
      // Give back whatever was filled (disk full, most likely); the log itself is untouched.
      const filledEnd = Math.max(this.preallocatedEnd, end); // the file may reach this far now
      this.preallocatedEnd = 0;
      try {
        await this.file.truncate(this.size);
      } catch {
        // The zeros stay: remembering them lets trimPreallocation cut them at the roll or close.
        this.preallocatedEnd = filledEnd;
      }
      throw e;
    }
    this.preallocatedEnd = end;
  }

  /**
   * Cuts preallocated space off the file and fdatasyncs the new size, so the
   * file is exactly the log again (at roll and clean close: sealed segments
   * and clean shutdowns never carry a zero tail). Writer only.
   */
  async trimPreallocation(): Promise<void> {
    if (this.preallocatedEnd <= this.size) return;
    this.preallocatedEnd = 0;
    await this.file.truncate(this.size);
    await this.file.datasync();
  }

  /** fdatasync the .log file. */
  flush(): Promise<void> {
    return this.file.datasync();
  }

  /**
   * Cuts the log back to `position` (a batch boundary) whose first offset is
   * `nextOffset`, dropping index entries at or past it. Used to undo a failed
   * write; recovery truncates through `recover`.
   */
  async truncateTo(position: number, nextOffset: number): Promise<void> {
    this.preallocatedEnd = 0;
    await this.file.truncate(position);
    this.size = position;
    this.nextOffset = nextOffset;
    this.offsetIndex.truncateTo(nextOffset);
    this.timeIndex.truncateTo(nextOffset);
    this.bytesSinceLastIndexEntry = position - this.offsetIndex.lastEntry.position;
    if (position === 0) {
      this.rollingBaseMs = undefined;
      this.maxTimestampSoFar = -1;
      this.offsetOfMaxTimestampSoFar = this.baseOffset;
    }
  }

  /**
   * The segment stops being active: record its largest timestamp in the
   * time index (as Kafka does on roll) and write both index files.
   */
  async seal(sync: boolean): Promise<void> {
    if (this.maxTimestampSoFar >= 0 && this.nextOffset > this.baseOffset) {
      this.timeIndex.maybeAppend(this.maxTimestampSoFar, this.offsetOfMaxTimestampSoFar);
    }
    await this.writeIndexFiles(sync);
    await this.file.endDurableWrites?.();
  }

  /** Writes both in-memory indexes to their files (temp file + rename). */
  async writeIndexFiles(sync: boolean): Promise<void> {
    for (const [file, bytes] of [
      [this.indexFile, this.offsetIndex.toBytes()],
      [this.timeIndexFile, this.timeIndex.toBytes()],
    ] as const) {
      const temp = `${file}.tmp`;
      await this.fileSystem.writeFileSync(temp, Buffer.from(bytes));
      await this.fileSystem.rename(temp, file);
    }
    if (sync) await this.fileSystem.syncDirectory(this.dir);
  }

  // ---------------------------------------------------------------- loading

  /**
   * Loads the index files of a segment whose log is trusted (sealed, or
   * active after a clean shutdown) and whose next offset is known. A missing
   * or inconsistent index is rebuilt from the log; returns whether it was.
   */
  async loadIndexes(nextOffset: number): Promise<boolean> {
    this.nextOffset = nextOffset;
    try {
      const offsetBytes = await this.fileSystem.readFile(this.indexFile);
      const timeBytes = await this.fileSystem.readFile(this.timeIndexFile);
      const offsetIndex = OffsetIndex.fromBytes(this.baseOffset, this.indexFile, offsetBytes, this.size);
      const lastIndexed = offsetIndex.lastEntry;
      if (lastIndexed.offset >= nextOffset && offsetIndex.entries > 0) {
        throw new BrookError('CORRUPT_DATA', `index ${this.indexFile} names offset ${lastIndexed.offset}, past the segment's end ${nextOffset}`, { file: this.indexFile });
      }
      const timeIndex = TimeIndex.fromBytes(this.baseOffset, this.timeIndexFile, timeBytes, nextOffset);
      if (offsetIndex.entries > 0) await this.verifyIndexEntry(offsetIndex, offsetIndex.entries - 1);
      this.offsetIndex = offsetIndex;
      this.timeIndex = timeIndex;
      this.bytesSinceLastIndexEntry = this.size - offsetIndex.lastEntry.position;
      const lastTime = timeIndex.lastEntry;
      this.maxTimestampSoFar = lastTime.timestampMs;
      this.offsetOfMaxTimestampSoFar = lastTime.offset;
      if (this.size > 0) {
        // The time index of an active segment holds no entry for its newest batches.
        const lastOffsetInIndex = Math.max(lastIndexed.offset, lastTime.offset);
        if (lastOffsetInIndex < nextOffset - 1) await this.scanTimestampsFrom(lastIndexed.position);
      }
      return false;
    } catch (e) {
      if (!(isNotFound(e) || (e instanceof BrookError && e.code === 'CORRUPT_DATA'))) throw e;
      this.logger.warn({ file: this.indexFile, reason: e instanceof Error ? e.message : String(e) }, 'rebuilding segment indexes');
      await this.rebuildIndexes();
      return true;
    }
  }

  /** Checks that index entry `slot` points at a batch whose last offset is the entry's offset. */
  private async verifyIndexEntry(index: OffsetIndex, slot: number): Promise<void> {
    const entry = index.entryAt(slot);
    const header = await this.readHeaderAt(entry.position);
    if (!header || header.lastOffset !== entry.offset) {
      throw new BrookError('CORRUPT_DATA', `index ${this.indexFile}: entry (${entry.offset}, ${entry.position}) does not point at that batch`, { file: this.indexFile });
    }
  }

  private async scanTimestampsFrom(position: number): Promise<void> {
    let pos = position;
    while (pos < this.size) {
      const header = await this.readHeaderAt(pos);
      if (!header) break;
      if (header.maxTimestamp > this.maxTimestampSoFar) {
        this.maxTimestampSoFar = header.maxTimestamp;
        this.offsetOfMaxTimestampSoFar = header.lastOffset;
      }
      pos += header.sizeInBytes;
    }
  }

  /** Rebuilds both indexes from the log's batch headers, without truncating anything. */
  async rebuildIndexes(): Promise<void> {
    const nextOffset = this.nextOffset;
    await this.scan(Number.POSITIVE_INFINITY, false);
    // A sealed segment's end is fixed by its successor; keep what we were told.
    if (nextOffset > this.nextOffset) this.nextOffset = nextOffset;
  }

  /**
   * Kafka's LogSegment.recover(): re-reads the log from the start, rebuilds
   * both indexes, checks every batch's structure and — from `validateFrom`
   * on — its CRC-32C, and truncates the file at the first batch that fails
   * (a torn tail). Returns how many bytes were kept and dropped.
   */
  async recover(validateFrom: number, truncate = true): Promise<RecoveryResult> {
    const fileSize = await this.file.size();
    this.size = fileSize;
    const result = await this.scan(validateFrom, truncate);
    if (truncate && result.truncatedBytes > 0) {
      const zeroTail = await this.isZeroFrom(result.validBytes, fileSize);
      await this.file.truncate(result.validBytes);
      this.size = result.validBytes;
      if (zeroTail) return { ...result, zeroTail };
    }
    return result;
  }

  /** Whether every byte of the file in [from, to) is zero (preallocated space never written). */
  private async isZeroFrom(from: number, to: number): Promise<boolean> {
    for (let position = from; position < to; ) {
      const chunk = await this.readExactly(position, Math.min(SCAN_CHUNK_BYTES, to - position));
      for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) return false;
      position += chunk.length;
    }
    return true;
  }

  private async scan(validateFrom: number, stopAtInvalid: boolean): Promise<RecoveryResult> {
    this.offsetIndex.clear();
    this.timeIndex.clear();
    this.bytesSinceLastIndexEntry = 0;
    this.maxTimestampSoFar = -1;
    this.offsetOfMaxTimestampSoFar = this.baseOffset;
    let expectedOffset = this.baseOffset;
    let position = 0;
    let chunk: Buffer = Buffer.alloc(0);
    let chunkStart = 0;
    let reason: string | undefined;
    const corruptBatches: string[] = [];
    const end = this.size;
    const ensure = async (bytes: number): Promise<number> => {
      if (position - chunkStart + bytes > chunk.length || position < chunkStart) {
        chunk = await this.readExactly(position, Math.min(end - position, Math.max(SCAN_CHUNK_BYTES, bytes)));
        chunkStart = position;
      }
      return position - chunkStart;
    };
    while (position < end) {
      let at = await ensure(Math.min(BATCH_HEADER_SIZE, end - position));
      reason = this.checkBatchAt(chunk, at, end - position, expectedOffset);
      if (reason) break;
      const header = readBatchHeader(chunk, at);
      at = await ensure(header.sizeInBytes);
      if (position >= validateFrom) {
        const crc = crc32c(chunk, at + CRC_START, at + header.sizeInBytes);
        if (crc !== header.crc) {
          const why = `CRC-32C mismatch in batch at position ${position} (offsets ${header.baseOffset}-${header.lastOffset})`;
          if (stopAtInvalid) {
            reason = why;
            break;
          }
          // Not a torn tail: keep indexing past it; reads of this batch report CORRUPT_DATA.
          corruptBatches.push(why);
        }
      }
      this.indexBatch(header.lastOffset, header.maxTimestamp, position, header.sizeInBytes);
      expectedOffset = header.lastOffset + 1;
      position += header.sizeInBytes;
    }
    this.nextOffset = expectedOffset;
    if (reason && !stopAtInvalid) {
      this.logger.warn({ file: this.logFile, position, reason }, 'index rebuild stopped at an unreadable batch; later offsets in this segment will read as corrupt');
    }
    if (corruptBatches.length > 0) reason = corruptBatches.join('; ');
    return { validBytes: position, truncatedBytes: end - position, reason };
  }

  /** Why the batch at `buf[at]` is not a plausible next batch, or undefined if it is. */
  private checkBatchAt(buf: Buffer, at: number, remaining: number, expectedOffset: number): string | undefined {
    if (remaining < BATCH_HEADER_SIZE || buf.length - at < BATCH_HEADER_SIZE) return `${remaining} trailing bytes, shorter than a batch header`;
    const header = readBatchHeader(buf, at);
    if (header.sizeInBytes < BATCH_HEADER_SIZE) return `batch length ${header.batchLength} is too small`;
    if (header.sizeInBytes > remaining) return `batch of ${header.sizeInBytes} bytes runs past the end of the file (${remaining} bytes left)`;
    if (header.magic !== 2) return `magic byte ${buf[at + MAGIC_OFFSET]} is not 2`;
    if (header.baseOffset < expectedOffset) return `base offset ${header.baseOffset} is below the expected ${expectedOffset}`;
    if (header.lastOffsetDelta < 0 || header.lastOffset - this.baseOffset > MAX_RELATIVE_OFFSET) return `last offset delta ${header.lastOffsetDelta} is out of range`;
    return undefined;
  }

  // ---------------------------------------------------------------- reading

  acquire(): void {
    if (this.deletion) throw new BrookError('INVARIANT_VIOLATION', `invariant violated: reading deleted segment ${this.logFile}`, { file: this.logFile });
    this.references++;
  }

  release(): void {
    this.references--;
    if (this.references === 0 && this.deletion) this.deletion.resolve();
  }

  /**
   * Whole batches starting with the first whose last offset is >= `target`,
   * up to `maxBytes` (at least one batch unless `atLeastOne` is false), stopping before any batch that
   * reaches `highWatermark`. Null when this segment has no such batch.
   * Every returned batch is CRC-checked: a bad first batch is CORRUPT_DATA
   * naming this file and its offsets; a bad later batch ends the result.
   */
  /**
   * `headroom`: the returned data is a view of a buffer this read allocated,
   * with at least that many spare bytes before it, which the caller may
   * overwrite (the fetch path writes the response's protobuf header there).
   * `allocate`, if given, supplies the buffers read into (a pool).
   */
  async read(target: number, maxBytes: number, highWatermark: number, atLeastOne = true, retried = false, headroom = 0, allocate?: (size: number) => Buffer): Promise<SegmentRead | null> {
    const end = this.size;
    const indexed = this.offsetIndex.lookup(target);
    let position = indexed.position;
    if (position >= end) return null;
    const windowSize = Math.min(Math.max(maxBytes + READ_SLACK_BYTES, 64 * 1024), MAX_READ_WINDOW_BYTES);
    let window: Buffer = Buffer.alloc(0);
    let windowStart = 0;
    // The index entry names the batch holding its offset, so a target past that
    // offset (a reader continuing where its last fetch ended) starts at a later
    // batch: find it through small windows, then read the large one from there,
    // rather than reading maxBytes from the entry and again from the target.
    let scanning = indexed.offset < target;
    const headerAt = async (pos: number): Promise<number> => {
      if (pos < windowStart || pos + BATCH_HEADER_SIZE > windowStart + window.length) {
        window = scanning
          ? await this.readExactly(pos, Math.min(windowSize, SCAN_WINDOW_BYTES, end - pos), headroom)
          : await this.readExactly(pos, Math.min(windowSize, end - pos), headroom, allocate);
        windowStart = pos;
      }
      return pos - windowStart;
    };
    const plausible = (at: number, pos: number): BatchHeader | undefined => {
      if (end - pos < BATCH_HEADER_SIZE || window.length - at < BATCH_HEADER_SIZE) return undefined;
      const h = readBatchHeader(window, at);
      if (h.sizeInBytes < BATCH_HEADER_SIZE || pos + h.sizeInBytes > end || h.magic !== 2 || h.lastOffsetDelta < 0) return undefined;
      return h;
    };

    // Find the batch holding `target`: binary search done, now a short forward scan.
    let first: BatchHeader | undefined;
    let checkedIndexEntry = indexed.position === 0 && indexed.offset === this.baseOffset;
    for (;;) {
      const at = await headerAt(position);
      const header = plausible(at, position);
      if (!checkedIndexEntry) {
        checkedIndexEntry = true;
        if (!header || header.lastOffset !== indexed.offset) {
          if (retried) throw this.corrupt(position, indexed.offset, undefined, 'the offset index does not match the log even after a rebuild');
          this.logger.warn({ file: this.indexFile, offset: indexed.offset, position }, 'offset index entry does not match the log; rebuilding the indexes');
          await this.rebuildIndexes();
          return this.read(target, maxBytes, highWatermark, atLeastOne, true, headroom, allocate);
        }
      }
      if (!header) {
        // Unreadable header: skip to the next index entry if the target lies beyond it.
        const next = this.offsetIndex.entryAfterPosition(position);
        if (next && next.offset < target) {
          position = next.position;
          continue;
        }
        throw this.corrupt(position, target, next?.offset, 'unreadable batch header');
      }
      if (header.baseOffset >= highWatermark) return null;
      if (header.lastOffset >= target) {
        first = header;
        break;
      }
      position += header.sizeInBytes;
      if (position >= end) return null;
    }

    // Take whole batches up to maxBytes and the high watermark.
    const firstPosition = position;
    scanning = false;
    if (windowStart + window.length < Math.min(end, firstPosition + windowSize)) {
      window = await this.readExactly(firstPosition, Math.min(windowSize, end - firstPosition), headroom, allocate);
      windowStart = firstPosition;
    }
    let total = 0;
    let last: BatchHeader = first;
    while (position < end) {
      const at = await headerAt(position);
      const header = plausible(at, position);
      if (!header || header.lastOffset >= highWatermark) break;
      if ((total > 0 || !atLeastOne) && total + header.sizeInBytes > maxBytes) break;
      total += header.sizeInBytes;
      last = header;
      position += header.sizeInBytes;
    }
    if (total === 0) {
      if (first.lastOffset >= highWatermark || !atLeastOne) return null;
      throw this.corrupt(firstPosition, first.baseOffset, first.lastOffset, 'batch does not fit the file');
    }
    let data: Buffer;
    if (firstPosition >= windowStart && firstPosition + total <= windowStart + window.length) {
      data = window.subarray(firstPosition - windowStart, firstPosition - windowStart + total);
    } else {
      data = await this.readExactly(firstPosition, total, headroom, allocate);
    }

    // CRC-check every batch we hand out.
    let at = 0;
    while (at < data.length) {
      const header = readBatchHeader(data, at);
      if (crc32c(data, at + CRC_START, at + header.sizeInBytes) !== header.crc) {
        if (at === 0) throw this.corrupt(firstPosition, header.baseOffset, header.lastOffset, 'CRC-32C mismatch');
        data = data.subarray(0, at);
        break;
      }
      last = header;
      at += header.sizeInBytes;
    }
    return { data, firstOffset: first.baseOffset, nextOffset: last.lastOffset + 1 };
  }

  private corrupt(position: number, fromOffset: number, toOffset: number | undefined, why: string): BrookError {
    const range = toOffset === undefined ? `from offset ${fromOffset}` : `offsets ${fromOffset}-${toOffset}`;
    return new BrookError('CORRUPT_DATA', `${this.logFile}: ${why} at position ${position}; ${range} cannot be served`, { file: this.logFile, offset: fromOffset });
  }

  /**
   * First batch (position and header) whose max timestamp is >= timestampMs
   * and which lies below `highWatermark`, or null.
   */
  async findBatchByTimestamp(timestampMs: number, highWatermark: number): Promise<{ data: Buffer; header: BatchHeader } | null> {
    if (this.maxTimestampSoFar < timestampMs) return null;
    // An entry with timestamp < target: every record up to its offset is older than the target.
    const entry = this.timeIndex.lookup(timestampMs - 1);
    const startOffset = entry.timestampMs < 0 ? this.baseOffset : entry.offset + 1;
    let position = this.offsetIndex.lookup(startOffset).position;
    const end = this.size;
    while (position < end) {
      const header = await this.readHeaderAt(position);
      if (!header || header.baseOffset >= highWatermark) return null;
      if (header.lastOffset >= highWatermark) return null;
      if (header.maxTimestamp >= timestampMs) {
        const data = await this.readExactly(position, header.sizeInBytes);
        if (crc32c(data, CRC_START, data.length) !== header.crc) throw this.corrupt(position, header.baseOffset, header.lastOffset, 'CRC-32C mismatch');
        return { data, header };
      }
      position += header.sizeInBytes;
    }
    return null;
  }

  private async readHeaderAt(position: number): Promise<BatchHeader | undefined> {
    if (position + BATCH_HEADER_SIZE > this.size) return undefined;
    const buf = await this.readExactly(position, BATCH_HEADER_SIZE);
    const header = readBatchHeader(buf, 0);
    if (header.sizeInBytes < BATCH_HEADER_SIZE || header.magic !== 2 || position + header.sizeInBytes > this.size) return undefined;
    return header;
  }

  /** `length` bytes from `position`; with `headroom`, a view that many bytes into a buffer allocated (or `allocate`d) for it. */
  private async readExactly(position: number, length: number, headroom = 0, allocate?: (size: number) => Buffer): Promise<Buffer> {
    const buf =
      allocate !== undefined ? allocate(headroom + length).subarray(headroom, headroom + length)
      : headroom === 0 ? Buffer.allocUnsafe(length)
      : Buffer.allocUnsafe(headroom + length).subarray(headroom);
    let done = 0;
    while (done < length) {
      const n = await this.file.read(buf, done, length - done, position + done);
      if (n === 0) {
        throw new BrookError('CORRUPT_DATA', `${this.logFile}: unexpected end of file at ${position + done} (wanted ${length} bytes from ${position})`, { file: this.logFile });
      }
      done += n;
    }
    return buf;
  }

  // ---------------------------------------------------------------- lifetime

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.close();
  }

  /**
   * Removes the segment once no reader holds it. Resolves when the files are
   * gone. The caller has already taken it out of the partition's segment list.
   */
  async deleteWhenUnused(): Promise<void> {
    if (!this.deletion) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.deletion = { resolve, promise };
      if (this.references === 0) resolve();
    }
    await this.deletion.promise;
    await this.close();
    await this.fileSystem.unlink(this.indexFile);
    await this.fileSystem.unlink(this.timeIndexFile);
    await this.fileSystem.unlink(this.logFile);
  }
}

/** An fdatasync failed (or a durable write failed in a way that may be its flush): unlike a failed write, it cannot be undone. */
export class FsyncFailure extends Error {
  constructor(override readonly cause: unknown) {
    super('fdatasync failed');
  }
}
