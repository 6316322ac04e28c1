/**
 * Idempotent-producer state of one partition: for every producer id that
 * wrote to it, the current producer epoch and the metadata of its last
 * `MAX_BATCHES_PER_PRODUCER` batches (first/last sequence, first/last
 * offset). That is what lets the append path recognise a retried batch and
 * answer with the offsets it got the first time, instead of writing it again.
 *
 * Sequence rules (Kafka's, per producer id and partition):
 * - a batch carries baseSequence; its last sequence is baseSequence +
 *   recordCount - 1, wrapping from 2^31-1 to 0 (int32 sequences wrap);
 * - with the current epoch, a batch must start at lastSequence + 1; a batch
 *   equal (same epoch, same first and last sequence) to one of the
 *   remembered batches is a duplicate; anything else is OUT_OF_ORDER_SEQUENCE;
 * - an older epoch is PRODUCER_FENCED; a newer epoch must start at sequence 0
 *   and replaces the remembered batches;
 * - a producer this partition holds nothing for must start at sequence 0,
 *   otherwise UNKNOWN_PRODUCER_ID (its state is gone: retention removed its
 *   batches, or it never wrote here);
 * - batches without a producer id (-1) are not tracked at all.
 *
 * Two stages. `checkAndPrepare` runs inside the partition's synchronous
 * append step that assigns offsets, so two concurrent copies of one batch can
 * never both pass: the first registers as *pending* and the second finds it.
 * Pending batches become *written* in log order via `completeUpTo(offset)`
 * once the writer has them in the segment; only written state goes into a
 * snapshot. A failed write drops every pending batch (`abortPending`) and
 * forgets written ones past the truncation point (`truncateTo`) and any
 * snapshot past it (`deleteSnapshotsAbove`).
 *
 * Snapshot file `<20-digit offset>.snapshot` in the partition directory (the
 * checksummed format of checksummed-file.ts: a `crc32:XXXXXXXX` line over
 * the JSON body that follows, written to a temp file, fsynced, renamed):
 *
 *   { "version": 1, "offset": N,
 *     "producers": [ { "id": pid, "epoch": e, "lastSeenMs": broker time of its last append,
 *                      "batches": [[firstSeq, lastSeq, baseOffset, lastOffset, maxTimestamp], ...] } ] }
 *
 * It holds the state of every batch whose last offset is below N. Written
 * when a segment rolls (N = the new segment's base offset) and on clean
 * close (N = log end offset); the newest two are kept. At load the state is
 * the newest snapshot that passes its checksum and lies within the log, plus
 * the batch headers of the log from N on (only the 61-byte headers are read);
 * without one, the whole log is scanned.
 *
 * Concurrency: every method except `load`, `takeSnapshot` and
 * `deleteSnapshotsAbove` is synchronous. The owning PartitionLog calls
 * `checkAndPrepare` from `append` and the others from its single writer loop
 * or from load/close, so no two of them interleave.
 */
import path from 'path';
import { BrookError, isBrookError, type ErrorContext } from '../common/errors';
import { BATCH_HEADER_SIZE, NO_PRODUCER_ID, readBatchHeader, type BatchHeader } from '../record';
import { readChecksummed, writeChecksummedAtomically } from './checksummed-file';
import { isNotFound, type StorageFileSystem } from './file-system';
import type { StorageLogger } from './logger';

/** Kafka's broker remembers the last 5 batches per producer (so up to 5 requests may be in flight). */
export const MAX_BATCHES_PER_PRODUCER = 5;
export const SNAPSHOT_SUFFIX = '.snapshot';
const SNAPSHOT_FILE = /^(\d{20})\.snapshot$/;
const SNAPSHOTS_KEPT = 2;
const MAX_SEQUENCE = 0x7fffffff;
/** Header scans read 1 MiB at a time; a larger batch is skipped over, not read. */
const SCAN_CHUNK_BYTES = 1024 * 1024;

/** One remembered batch of a producer. */
export interface ProducerBatch {
  readonly epoch: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly baseOffset: number;
  readonly lastOffset: number;
  readonly maxTimestamp: number;
  /** The append of this process that wrote it, while known: a duplicate waits for the same outcome. */
  result?: Promise<unknown>;
}

class ProducerEntry {
  /** Written batches, oldest first, at most MAX_BATCHES_PER_PRODUCER. */
  written: ProducerBatch[] = [];
  /** Accepted but not yet in the segment, in offset order. */
  pending: ProducerBatch[] = [];
  constructor(readonly producerId: number, public epoch: number, public lastSeenMs: number) {}

  get currentEpoch(): number {
    return this.pending.length > 0 ? this.pending[this.pending.length - 1].epoch : this.epoch;
  }

  get last(): ProducerBatch | undefined {
    return this.pending.length > 0 ? this.pending[this.pending.length - 1] : this.written[this.written.length - 1];
  }

  find(epoch: number, firstSeq: number, lastSeq: number): ProducerBatch | undefined {
    for (const list of [this.pending, this.written]) {
      for (const b of list) if (b.epoch === epoch && b.firstSeq === firstSeq && b.lastSeq === lastSeq) return b;
    }
    return undefined;
  }

  /**
   * Remembers a batch written after the ones kept. A batch whose offsets are
   * not above the last one kept cannot follow it in the log: it is dropped
   * (a snapshot that outlived a rollback would otherwise pair a sequence
   * with another record's offset); false says so.
   */
  addWritten(batch: ProducerBatch): boolean {
    const last = this.written[this.written.length - 1];
    if (last !== undefined && batch.baseOffset <= last.lastOffset) return false;
    if (batch.epoch !== this.epoch) {
      this.epoch = batch.epoch;
      this.written = [];
    }
    this.written.push(batch);
    if (this.written.length > MAX_BATCHES_PER_PRODUCER) this.written.shift();
    return true;
  }
}

/** What `checkAndPrepare` found: nothing to track, a new batch (register it), or a duplicate. */
export type SequenceCheck =
  | { readonly kind: 'untracked' }
  | { readonly kind: 'new'; readonly producerId: number; readonly epoch: number; readonly firstSeq: number; readonly lastSeq: number }
  | { readonly kind: 'duplicate'; readonly batch: ProducerBatch };

const UNTRACKED: SequenceCheck = Object.freeze({ kind: 'untracked' });

/** The sequence of the last record of a batch of `count` records starting at `firstSeq` (int32 wrap, as Kafka). */
export function lastSequenceOf(firstSeq: number, count: number): number {
  const increment = count - 1;
  return firstSeq > MAX_SEQUENCE - increment ? increment - (MAX_SEQUENCE - firstSeq) - 1 : firstSeq + increment;
}

/** True when `next` directly follows `last` (2^31-1 is followed by 0). */
export function isNextSequence(last: number, next: number): boolean {
  return next === last + 1 || (next === 0 && last === MAX_SEQUENCE);
}

export function snapshotFileName(offset: number): string {
  return String(offset).padStart(20, '0') + SNAPSHOT_SUFFIX;
}

/** A segment as the header scan sees it. */
export interface ScannableSegment {
  readonly logFile: string;
  readonly baseOffset: number;
  readonly nextOffset: number;
  /** Bytes of valid batches. */
  readonly size: number;
}

interface SnapshotDocument {
  version: 1;
  offset: number;
  producers: Array<{ id: number; epoch: number; lastSeenMs: number; batches: Array<[number, number, number, number, number]> }>;
}

export interface ProducerStateOptions {
  readonly dir: string;
  readonly topic: string;
  readonly partition: number;
  readonly fileSystem: StorageFileSystem;
  readonly logger: StorageLogger;
}

export class ProducerStateManager {
  private readonly producers = new Map<number, ProducerEntry>();
  /** Entries with pending batches, in the order their batches were accepted (one slot per batch). */
  private pendingOrder: ProducerEntry[] = [];
  private pendingHead = 0;
  private readonly context: ErrorContext;

  constructor(private readonly options: ProducerStateOptions) {
    this.context = { topic: options.topic, partition: options.partition };
  }

  get producerCount(): number {
    return this.producers.size;
  }

  /** The written and pending batches remembered for a producer (tests, diagnostics). */
  batchesOf(producerId: number): { epoch: number; batches: readonly ProducerBatch[] } | undefined {
    const entry = this.producers.get(producerId);
    return entry && { epoch: entry.currentEpoch, batches: [...entry.written, ...entry.pending] };
  }

  // ------------------------------------------------------------ append path

  /**
   * Checks a batch's producer id, epoch and sequence against the state.
   * Throws PRODUCER_FENCED, OUT_OF_ORDER_SEQUENCE or UNKNOWN_PRODUCER_ID;
   * returns a duplicate's original batch, or what to `register` once the
   * batch has offsets. Changes nothing.
   */
  check(header: BatchHeader): SequenceCheck {
    const producerId = header.producerId;
    if (producerId === NO_PRODUCER_ID) return UNTRACKED;
    const { producerEpoch: epoch, baseSequence: firstSeq } = header;
    const where = `${this.options.topic}-${this.options.partition}`;
    if (producerId < 0 || epoch < 0 || firstSeq < 0) {
      throw new BrookError('INVALID_ARGUMENT', `an idempotent batch needs producer id, epoch and base sequence >= 0, got ${producerId}/${epoch}/${firstSeq} (producer id -1 turns idempotence off)`, this.context);
    }
    const lastSeq = lastSequenceOf(firstSeq, header.lastOffsetDelta + 1);
    const entry = this.producers.get(producerId);
    const fresh: SequenceCheck = { kind: 'new', producerId, epoch, firstSeq, lastSeq };
    if (!entry) {
      if (firstSeq === 0) return fresh;
      throw new BrookError('UNKNOWN_PRODUCER_ID', `${where} holds no state for producer id ${producerId} and its batch starts at sequence ${firstSeq}, not 0; the producer must re-initialise (InitProducerId)`, this.context);
    }
    const current = entry.currentEpoch;
    if (epoch < current) {
      throw new BrookError('PRODUCER_FENCED', `producer id ${producerId} epoch ${epoch} is fenced on ${where}: epoch ${current} has written since`, this.context);
    }
    const duplicate = entry.find(epoch, firstSeq, lastSeq);
    if (duplicate) return { kind: 'duplicate', batch: duplicate };
    if (epoch > current) {
      if (firstSeq === 0) return fresh;
      throw new BrookError('OUT_OF_ORDER_SEQUENCE', `producer id ${producerId} starts epoch ${epoch} on ${where} at sequence ${firstSeq}; a new epoch starts at 0`, this.context);
    }
    const last = entry.last;
    if (!last) {
      if (firstSeq === 0) return fresh;
      throw new BrookError('UNKNOWN_PRODUCER_ID', `${where} no longer holds the sequence of producer id ${producerId} (epoch ${epoch}); its batch starts at ${firstSeq}, not 0`, this.context);
    }
    if (isNextSequence(last.lastSeq, firstSeq)) return fresh;
    const expected = last.lastSeq === MAX_SEQUENCE ? 0 : last.lastSeq + 1;
    throw new BrookError(
      'OUT_OF_ORDER_SEQUENCE',
      `producer id ${producerId} epoch ${epoch} sent sequence ${firstSeq}..${lastSeq} to ${where}, expected ${expected}` +
        (firstSeq < expected ? ' (an older batch than the last 5 the broker remembers)' : ' (a gap: an earlier batch is missing)'),
      this.context,
    );
  }

  /** Records a batch `check` accepted, now that it has offsets; it stays pending until `completeUpTo` passes it. */
  register(accepted: Extract<SequenceCheck, { kind: 'new' }>, baseOffset: number, lastOffset: number, maxTimestamp: number, nowMs: number): ProducerBatch {
    let entry = this.producers.get(accepted.producerId);
    if (!entry) {
      entry = new ProducerEntry(accepted.producerId, accepted.epoch, nowMs);
      this.producers.set(accepted.producerId, entry);
    }
    entry.lastSeenMs = nowMs;
    const batch: ProducerBatch = { epoch: accepted.epoch, firstSeq: accepted.firstSeq, lastSeq: accepted.lastSeq, baseOffset, lastOffset, maxTimestamp };
    entry.pending.push(batch);
    this.pendingOrder.push(entry);
    return batch;
  }

  /** Moves pending batches whose last offset is below `offset` to the written state (log order). */
  completeUpTo(offset: number): void {
    const order = this.pendingOrder;
    let head = this.pendingHead;
    while (head < order.length) {
      const entry = order[head];
      const batch = entry.pending[0];
      if (!batch || batch.lastOffset >= offset) break;
      entry.pending.shift();
      entry.addWritten(batch);
      head++;
    }
    if (head === order.length) {
      this.pendingOrder = [];
      this.pendingHead = 0;
    } else if (head > 1024 && head * 2 > order.length) {
      this.pendingOrder = order.slice(head);
      this.pendingHead = 0;
    } else {
      this.pendingHead = head;
    }
  }

  /** Forgets every pending batch (their write failed; their offsets are handed out again). */
  abortPending(): void {
    for (let i = this.pendingHead; i < this.pendingOrder.length; i++) {
      const entry = this.pendingOrder[i];
      entry.pending = [];
      if (entry.written.length === 0) this.producers.delete(entry.producerId);
    }
    this.pendingOrder = [];
    this.pendingHead = 0;
  }

  /** Forgets written batches at or past `offset` (the log was truncated there). */
  truncateTo(offset: number): void {
    for (const [id, entry] of this.producers) {
      const kept = entry.written.filter((b) => b.lastOffset < offset);
      if (kept.length === entry.written.length) continue;
      entry.written = kept;
      if (kept.length === 0 && entry.pending.length === 0) this.producers.delete(id);
    }
  }

  /**
   * Drops producers that appended nothing for `expirationMs` of broker time
   * (Kafka's producer.id.expiration.ms; broker time rather than the batch
   * timestamps, so replayed old records do not expire their producer).
   */
  removeExpired(nowMs: number, expirationMs: number): number {
    let removed = 0;
    for (const [id, entry] of this.producers) {
      if (entry.pending.length === 0 && nowMs - entry.lastSeenMs > expirationMs) {
        this.producers.delete(id);
        removed++;
      }
    }
    return removed;
  }

  /** Applies one batch header read back from the log (load); the log is trusted, sequences are not re-checked. */
  applyFromLog(header: BatchHeader, nowMs: number): void {
    const producerId = header.producerId;
    if (producerId < 0) return;
    let entry = this.producers.get(producerId);
    if (!entry) {
      entry = new ProducerEntry(producerId, header.producerEpoch, nowMs);
      this.producers.set(producerId, entry);
    }
    const added = entry.addWritten({
      epoch: header.producerEpoch,
      firstSeq: header.baseSequence,
      lastSeq: lastSequenceOf(header.baseSequence, header.lastOffsetDelta + 1),
      baseOffset: header.baseOffset,
      lastOffset: header.lastOffset,
      maxTimestamp: header.maxTimestamp,
    });
    if (!added) {
      const last = entry.written[entry.written.length - 1];
      this.options.logger.warn(
        { ...this.context, producerId, baseOffset: header.baseOffset, keptLastOffset: last?.lastOffset },
        'producer state: ignoring a batch from the log that does not follow the last one kept for its producer',
      );
    }
  }

  // -------------------------------------------------------------- snapshots

  /** Writes the written state as `<offset>.snapshot` and deletes all but the newest SNAPSHOTS_KEPT. */
  async takeSnapshot(offset: number): Promise<void> {
    const producers: SnapshotDocument['producers'] = [];
    for (const entry of this.producers.values()) {
      const batches = entry.written.filter((b) => b.lastOffset < offset).map((b): [number, number, number, number, number] => [b.firstSeq, b.lastSeq, b.baseOffset, b.lastOffset, b.maxTimestamp]);
      if (batches.length > 0) producers.push({ id: entry.producerId, epoch: entry.epoch, lastSeenMs: entry.lastSeenMs, batches });
    }
    const document: SnapshotDocument = { version: 1, offset, producers };
    const { dir, fileSystem } = this.options;
    await writeChecksummedAtomically(fileSystem, path.join(dir, snapshotFileName(offset)), document);
    const offsets = await this.listSnapshots();
    for (const old of offsets.slice(0, Math.max(0, offsets.length - SNAPSHOTS_KEPT))) await this.deleteSnapshot(old);
  }

  /** Deletes snapshots past `endOffset` (the log was truncated below them). */
  async deleteSnapshotsAbove(endOffset: number): Promise<void> {
    for (const offset of await this.listSnapshots()) if (offset > endOffset) await this.deleteSnapshot(offset);
  }

  private async listSnapshots(): Promise<number[]> {
    const offsets: number[] = [];
    for (const name of await this.options.fileSystem.readdir(this.options.dir)) {
      const match = SNAPSHOT_FILE.exec(name);
      if (match) offsets.push(Number(match[1]));
    }
    return offsets.sort((a, b) => a - b);
  }

  private async deleteSnapshot(offset: number): Promise<void> {
    try {
      await this.options.fileSystem.unlink(path.join(this.options.dir, snapshotFileName(offset)));
    } catch (e) {
      if (!isNotFound(e)) throw e;
    }
  }

  /** Reads a snapshot into the (empty) state; false if it is missing or fails its checksum or shape checks. */
  private async loadSnapshot(offset: number): Promise<boolean> {
    const file = path.join(this.options.dir, snapshotFileName(offset));
    let document: SnapshotDocument;
    try {
      document = (await readChecksummed(this.options.fileSystem, file)) as SnapshotDocument;
      if (document?.version !== 1 || document.offset !== offset || !Array.isArray(document.producers)) {
        throw new BrookError('CORRUPT_DATA', `${file}: unexpected contents`, { file });
      }
      for (const p of document.producers) {
        if (!Number.isSafeInteger(p?.id) || !Number.isInteger(p.epoch) || !Number.isSafeInteger(p.lastSeenMs) || !Array.isArray(p.batches)) throw new BrookError('CORRUPT_DATA', `${file}: bad producer entry`, { file });
        const entry = new ProducerEntry(p.id, p.epoch, p.lastSeenMs);
        for (const b of p.batches) {
          if (!Array.isArray(b) || b.length !== 5 || !b.every((n) => Number.isSafeInteger(n))) throw new BrookError('CORRUPT_DATA', `${file}: bad batch entry of producer ${p.id}`, { file });
          entry.addWritten({ epoch: p.epoch, firstSeq: b[0], lastSeq: b[1], baseOffset: b[2], lastOffset: b[3], maxTimestamp: b[4] });
        }
        this.producers.set(p.id, entry);
      }
      return true;
    } catch (e) {
      this.producers.clear();
      if (isNotFound(e)) return false;
      if (!isBrookError(e, 'CORRUPT_DATA')) throw e;
      this.options.logger.warn({ ...this.context, file, reason: e.message }, 'ignoring a corrupt producer state snapshot; rebuilding that state from the log');
      await this.deleteSnapshot(offset);
      return false;
    }
  }

  // ------------------------------------------------------------------- load

  /**
   * Builds the state of a freshly opened partition: the newest usable
   * snapshot at or below `logEndOffset`, then the batch headers of
   * `segments` from the snapshot's offset on. Returns the offset the scan
   * started from (for logging and tests).
   */
  async load(segments: readonly ScannableSegment[], logEndOffset: number, nowMs: number): Promise<number> {
    this.producers.clear();
    this.abortPending();
    let from = segments.length > 0 ? segments[0].baseOffset : 0;
    const offsets = await this.listSnapshots();
    for (let i = offsets.length - 1; i >= 0; i--) {
      const offset = offsets[i];
      if (offset > logEndOffset) {
        // A crash took back the log the snapshot describes.
        await this.deleteSnapshot(offset);
        continue;
      }
      if (offset < from) break; // describes data retention has removed; the log scan is as good
      if (await this.loadSnapshot(offset)) {
        from = offset;
        break;
      }
    }
    for (const segment of segments) {
      if (segment.nextOffset <= from || segment.size === 0) continue;
      await this.scanSegment(segment, from, nowMs);
    }
    return from;
  }

  private async scanSegment(segment: ScannableSegment, from: number, nowMs: number): Promise<void> {
    const file = await this.options.fileSystem.open(segment.logFile);
    try {
      const buf = Buffer.allocUnsafe(SCAN_CHUNK_BYTES);
      let chunkStart = 0;
      let chunkLength = 0;
      let position = 0;
      while (position + BATCH_HEADER_SIZE <= segment.size) {
        if (position + BATCH_HEADER_SIZE > chunkStart + chunkLength) {
          chunkStart = position;
          chunkLength = 0;
          const want = Math.min(SCAN_CHUNK_BYTES, segment.size - position);
          while (chunkLength < want) {
            const n = await file.read(buf, chunkLength, want - chunkLength, position + chunkLength);
            if (n === 0) break;
            chunkLength += n;
          }
          if (chunkLength < BATCH_HEADER_SIZE) break;
        }
        const header = readBatchHeader(buf, position - chunkStart);
        if (header.magic !== 2 || header.sizeInBytes < BATCH_HEADER_SIZE) {
          this.options.logger.warn({ ...this.context, file: segment.logFile, position }, 'producer state scan stopped at an unreadable batch header');
          break;
        }
        if (header.lastOffset >= from) this.applyFromLog(header, nowMs);
        position += header.sizeInBytes;
      }
    } finally {
      await file.close();
    }
  }
}
