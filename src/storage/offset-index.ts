/**
 * A sparse map from offsets to byte positions in one segment's .log file.
 *
 * File format (`<20-digit base offset>.index`), Kafka's, with no header:
 *
 *   entry := relativeOffset u32 BE | position u32 BE        (8 bytes)
 *
 * `relativeOffset` is an offset minus the segment's base offset; `position`
 * is the byte position in the .log file of the record batch whose LAST offset
 * is that offset (Kafka indexes a batch by its last offset). Entries are
 * strictly increasing in both fields. One entry is added per
 * index.interval.bytes of log (default 4096), so a lookup is a binary search
 * here and then a forward scan over at most ~4 KiB of batch headers.
 *
 * `lookup(target)` returns the greatest entry whose offset is <= target, or
 * (baseOffset, 0) when there is none: the scan for `target` starts there.
 *
 * Concurrency: all methods are synchronous; see AbstractIndex.
 */
import { BrookError } from '../common/errors';
import { AbstractIndex } from './abstract-index';

export const OFFSET_INDEX_ENTRY_SIZE = 8;

export interface OffsetPosition {
  readonly offset: number;
  readonly position: number;
}

export class OffsetIndex extends AbstractIndex {
  constructor(baseOffset: number, file: string) {
    super(baseOffset, file, OFFSET_INDEX_ENTRY_SIZE);
  }

  /** Loads entries read from the index file and checks them (`sanityCheck`). CORRUPT_DATA if they do not hold. */
  static fromBytes(baseOffset: number, file: string, bytes: Buffer, logSize: number): OffsetIndex {
    const index = new OffsetIndex(baseOffset, file);
    index.loadEntries(bytes);
    index.sanityCheck(logSize);
    return index;
  }

  /** The last entry, or (baseOffset, 0) when empty. */
  get lastEntry(): OffsetPosition {
    return this.count === 0 ? { offset: this.baseOffset, position: 0 } : this.entryAt(this.count - 1);
  }

  entryAt(slot: number): OffsetPosition {
    const at = slot * OFFSET_INDEX_ENTRY_SIZE;
    return { offset: this.baseOffset + this.buffer.readUInt32BE(at), position: this.buffer.readUInt32BE(at + 4) };
  }

  append(offset: number, position: number): void {
    const relative = this.relativeOffset(offset);
    if (this.count > 0) {
      const last = this.lastEntry;
      if (offset <= last.offset || position <= last.position) {
        throw new BrookError(
          'INVARIANT_VIOLATION',
          `invariant violated: index ${this.file} entry (${offset}, ${position}) is not after the last entry (${last.offset}, ${last.position})`,
          { file: this.file, offset },
        );
      }
    }
    this.ensureCapacity();
    const at = this.count * OFFSET_INDEX_ENTRY_SIZE;
    this.buffer.writeUInt32BE(relative, at);
    this.buffer.writeUInt32BE(position, at + 4);
    this.count++;
  }

  /** Greatest entry with offset <= target, or (baseOffset, 0). */
  lookup(target: number): OffsetPosition {
    const slot = this.floorSearch(target - this.baseOffset, (i) => this.buffer.readUInt32BE(i * OFFSET_INDEX_ENTRY_SIZE));
    return slot < 0 ? { offset: this.baseOffset, position: 0 } : this.entryAt(slot);
  }

  /** The first entry whose position is > `position`, if any (used to skip past an unreadable batch). */
  entryAfterPosition(position: number): OffsetPosition | undefined {
    const slot = this.floorSearch(position, (i) => this.buffer.readUInt32BE(i * OFFSET_INDEX_ENTRY_SIZE + 4));
    return slot + 1 < this.count ? this.entryAt(slot + 1) : undefined;
  }

  /** Removes every entry whose offset is >= `offset`. */
  truncateTo(offset: number): void {
    const slot = this.floorSearch(offset - this.baseOffset - 1, (i) => this.buffer.readUInt32BE(i * OFFSET_INDEX_ENTRY_SIZE));
    this.truncateEntries(slot + 1);
  }

  /**
   * Kafka's sanity check: entries strictly increasing in offset and position,
   * and every position inside the log file.
   */
  sanityCheck(logSize: number): void {
    let previous: OffsetPosition | undefined;
    for (let i = 0; i < this.count; i++) {
      const entry = this.entryAt(i);
      if (previous && (entry.offset <= previous.offset || entry.position <= previous.position)) {
        throw new BrookError('CORRUPT_DATA', `index ${this.file}: entry ${i} (${entry.offset}, ${entry.position}) is not after entry ${i - 1} (${previous.offset}, ${previous.position})`, { file: this.file });
      }
      if (entry.position >= logSize) {
        throw new BrookError('CORRUPT_DATA', `index ${this.file}: entry ${i} points at position ${entry.position}, past the log's ${logSize} bytes`, { file: this.file });
      }
      previous = entry;
    }
  }
}
