/**
 * A sparse map from timestamps to offsets in one segment.
 *
 * File format (`<20-digit base offset>.timeindex`), Kafka's, with no header:
 *
 *   entry := timestamp i64 BE | relativeOffset u32 BE      (12 bytes)
 *
 * An entry (t, o) says: t is the largest timestamp in this segment up to and
 * including the batch whose last offset is o. Entries are added at the same index.interval.bytes
 * cadence as the offset index, and only when the largest timestamp so far has
 * grown, so timestamps are strictly increasing and offsets non-decreasing.
 *
 * `lookup(t)` returns the greatest entry whose timestamp is <= t, or
 * (-1, baseOffset) when there is none. The first record with timestamp >= t
 * is at or after that entry's offset, found by a forward scan of batches.
 *
 * Concurrency: all methods are synchronous; see AbstractIndex.
 */
import { BrookError } from '../common/errors';
import { AbstractIndex } from './abstract-index';

export const TIME_INDEX_ENTRY_SIZE = 12;

export interface TimestampOffset {
  readonly timestampMs: number;
  readonly offset: number;
}

export class TimeIndex extends AbstractIndex {
  constructor(baseOffset: number, file: string) {
    super(baseOffset, file, TIME_INDEX_ENTRY_SIZE);
  }

  static fromBytes(baseOffset: number, file: string, bytes: Buffer, nextOffset: number): TimeIndex {
    const index = new TimeIndex(baseOffset, file);
    index.loadEntries(bytes);
    index.sanityCheck(nextOffset);
    return index;
  }

  get lastEntry(): TimestampOffset {
    return this.count === 0 ? { timestampMs: -1, offset: this.baseOffset } : this.entryAt(this.count - 1);
  }

  entryAt(slot: number): TimestampOffset {
    const at = slot * TIME_INDEX_ENTRY_SIZE;
    return { timestampMs: Number(this.buffer.readBigInt64BE(at)), offset: this.baseOffset + this.buffer.readUInt32BE(at + 8) };
  }

  /** Adds (timestampMs, offset) if timestampMs is larger than the last entry's; returns whether it did. */
  maybeAppend(timestampMs: number, offset: number): boolean {
    const relative = this.relativeOffset(offset);
    if (this.count > 0) {
      const last = this.lastEntry;
      if (timestampMs <= last.timestampMs) return false;
      if (offset < last.offset) {
        throw new BrookError('INVARIANT_VIOLATION', `invariant violated: time index ${this.file} offset ${offset} is before the last entry's ${last.offset}`, { file: this.file, offset });
      }
    }
    this.ensureCapacity();
    const at = this.count * TIME_INDEX_ENTRY_SIZE;
    this.buffer.writeBigInt64BE(BigInt(timestampMs), at);
    this.buffer.writeUInt32BE(relative, at + 8);
    this.count++;
    return true;
  }

  /** Greatest entry with timestamp <= timestampMs, or (-1, baseOffset). */
  lookup(timestampMs: number): TimestampOffset {
    const slot = this.floorSearch(timestampMs, (i) => Number(this.buffer.readBigInt64BE(i * TIME_INDEX_ENTRY_SIZE)));
    return slot < 0 ? { timestampMs: -1, offset: this.baseOffset } : this.entryAt(slot);
  }

  /** Removes every entry whose offset is >= `offset`. */
  truncateTo(offset: number): void {
    const slot = this.floorSearch(offset - this.baseOffset - 1, (i) => this.buffer.readUInt32BE(i * TIME_INDEX_ENTRY_SIZE + 8));
    this.truncateEntries(slot + 1);
  }

  sanityCheck(nextOffset: number): void {
    let previous: TimestampOffset | undefined;
    for (let i = 0; i < this.count; i++) {
      const entry = this.entryAt(i);
      if (previous && (entry.timestampMs <= previous.timestampMs || entry.offset < previous.offset)) {
        throw new BrookError('CORRUPT_DATA', `time index ${this.file}: entry ${i} (${entry.timestampMs}, ${entry.offset}) is not after entry ${i - 1}`, { file: this.file });
      }
      if (entry.offset >= nextOffset) {
        throw new BrookError('CORRUPT_DATA', `time index ${this.file}: entry ${i} names offset ${entry.offset}, past the segment's end ${nextOffset}`, { file: this.file });
      }
      previous = entry;
    }
  }
}
