/**
 * What the offset and time indexes share: a growable array of fixed-size,
 * big-endian entries held in memory, sorted by a key, searched by binary
 * search for the greatest entry whose key is <= a target.
 *
 * Kafka memory-maps its index files; Node has no mmap, so a segment's index
 * lives in a Buffer and is written to its file whole when the segment is
 * sealed (rolled) and on clean shutdown. The active segment's index is never
 * trusted after an unclean stop: recovery rebuilds it while re-validating the
 * tail. Memory: with index.interval.bytes=4096 a 1 GiB segment has at most
 * 262,144 offset entries (2 MiB) and as many time entries (3 MiB).
 *
 * Concurrency: synchronous methods only, so no call interleaves with another;
 * callers (LogSegment) own the ordering of appends against reads.
 */
import { BrookError } from '../common/errors';

/** Relative offsets are u32: a segment spans at most this many offsets. */
export const MAX_RELATIVE_OFFSET = 0xffff_ffff;

export abstract class AbstractIndex {
  protected buffer: Buffer;
  protected count = 0;

  protected constructor(
    readonly baseOffset: number,
    readonly file: string,
    protected readonly entrySize: number,
    initialCapacityEntries = 64,
  ) {
    this.buffer = Buffer.allocUnsafe(initialCapacityEntries * entrySize);
  }

  get entries(): number {
    return this.count;
  }

  /** Bytes of memory this index holds (its allocated buffer). */
  get memoryBytes(): number {
    return this.buffer.length;
  }

  /** Bytes of entries, as written to the file. */
  get sizeInBytes(): number {
    return this.count * this.entrySize;
  }

  /** The entries as they go on disk. Shares memory with the index until the next append. */
  toBytes(): Buffer {
    return this.buffer.subarray(0, this.count * this.entrySize);
  }

  clear(): void {
    this.count = 0;
  }

  /** Drops entries from index `n` on. */
  protected truncateEntries(n: number): void {
    if (n < this.count) this.count = Math.max(0, n);
  }

  protected ensureCapacity(): void {
    if ((this.count + 1) * this.entrySize <= this.buffer.length) return;
    const grown = Buffer.allocUnsafe(this.buffer.length * 2);
    this.buffer.copy(grown, 0, 0, this.count * this.entrySize);
    this.buffer = grown;
  }

  protected relativeOffset(offset: number): number {
    const relative = offset - this.baseOffset;
    if (!Number.isInteger(relative) || relative < 0 || relative > MAX_RELATIVE_OFFSET) {
      throw new BrookError('INVARIANT_VIOLATION', `invariant violated: offset ${offset} does not fit index ${this.file} (base offset ${this.baseOffset})`, { file: this.file, offset });
    }
    return relative;
  }

  /**
   * Index of the greatest entry whose key is <= target, or -1 if every entry
   * is greater. `keyAt` must be non-decreasing over the entries.
   */
  protected floorSearch(target: number, keyAt: (slot: number) => number): number {
    let lo = 0;
    let hi = this.count - 1;
    if (hi < 0 || keyAt(0) > target) return -1;
    while (lo < hi) {
      // Upper middle, so `lo = mid` always progresses.
      const mid = (lo + hi + 1) >>> 1;
      if (keyAt(mid) <= target) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  protected loadEntries(bytes: Buffer): void {
    if (bytes.length % this.entrySize !== 0) {
      throw new BrookError('CORRUPT_DATA', `index ${this.file} is ${bytes.length} bytes, not a multiple of the ${this.entrySize}-byte entry size`, { file: this.file });
    }
    this.buffer = Buffer.allocUnsafe(Math.max(bytes.length, 64 * this.entrySize));
    bytes.copy(this.buffer);
    this.count = bytes.length / this.entrySize;
  }
}
