/**
 * Helpers for storage tests: a scratch data directory that is always removed,
 * record batches built with the real codec, and decoding of read results.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { decodeRecordBatch, encodeRecordBatch, readBatchHeader, type RecordInput } from '../../src/record';
import type { StorageFile, StorageFileSystem, StorageLogger } from '../../src/storage';
import { storageError } from '../../src/storage/file-system';

export async function makeTempDir(prefix = 'brook-storage-'): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await fs.promises.rm(dir, { recursive: true, force: true });
}

/** One batch of `count` records whose values are `${tag}-${i}` padded to `valueBytes`. */
export function makeBatch(count: number, options: { tag?: string; valueBytes?: number; timestampMs?: number; key?: string } = {}): Buffer {
  const records: RecordInput[] = [];
  for (let i = 0; i < count; i++) records.push(makeRecord(`${options.tag ?? 'v'}-${i}`, options.valueBytes, options.timestampMs, options.key));
  return encodeRecordBatch(records, { baseTimestampMs: options.timestampMs ?? 1_700_000_000_000 });
}

export function makeRecord(text: string, valueBytes = 0, timestampMs?: number, key?: string): RecordInput {
  const value = Buffer.alloc(Math.max(valueBytes, Buffer.byteLength(text)), ' ');
  value.write(text);
  return { key: key === undefined ? null : Buffer.from(key), value, timestampMs };
}

export interface DecodedRead {
  offset: number;
  timestampMs: number;
  value: string;
}

/** Every record in `data` (whole batches back to back). */
export function decodeAll(data: Buffer): DecodedRead[] {
  const out: DecodedRead[] = [];
  let position = 0;
  while (position < data.length) {
    const header = readBatchHeader(data, position);
    const { records } = decodeRecordBatch(data, position);
    for (const r of records) out.push({ offset: r.offset, timestampMs: r.timestampMs, value: (r.value ?? Buffer.alloc(0)).toString().trimEnd() });
    position += header.sizeInBytes;
  }
  return out;
}

/** Base offsets of the batches in `data`. */
export function batchOffsets(data: Buffer): Array<{ baseOffset: number; lastOffset: number; size: number }> {
  const out = [];
  let position = 0;
  while (position < data.length) {
    const h = readBatchHeader(data, position);
    out.push({ baseOffset: h.baseOffset, lastOffset: h.lastOffset, size: h.sizeInBytes });
    position += h.sizeInBytes;
  }
  return out;
}

/** A logger that remembers what it was told, for asserting on warnings. */
export function recordingLogger(): StorageLogger & { lines: Array<{ level: string; obj: object; msg: string }> } {
  const lines: Array<{ level: string; obj: object; msg: string }> = [];
  return {
    lines,
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
  };
}

/**
 * What a test may put around each file's I/O. Every hook gets the real call
 * as its last argument and decides whether, when and how to make it.
 */
export interface FileSystemHooks {
  writev?(file: string, buffers: readonly Buffer[], position: number, write: (buffers: readonly Buffer[], position: number) => Promise<void>): Promise<void>;
  datasync?(file: string, sync: () => Promise<void>): Promise<void>;
  truncate?(file: string, length: number, truncate: (length: number) => Promise<void>): Promise<void>;
}

/** `base` with `hooks` around the writes, syncs and truncations of every file it opens; everything else passes through. */
export function wrapFileSystem(base: StorageFileSystem, hooks: FileSystemHooks): StorageFileSystem {
  return {
    ...base,
    async open(file: string, options?: { create?: boolean }): Promise<StorageFile> {
      const inner = await base.open(file, options);
      const write = inner.writev.bind(inner);
      const sync = inner.datasync.bind(inner);
      const truncate = inner.truncate.bind(inner);
      return {
        path: inner.path,
        read: inner.read.bind(inner),
        size: inner.size.bind(inner),
        close: inner.close.bind(inner),
        writev: (buffers, position) => (hooks.writev ? hooks.writev(file, buffers, position, write) : write(buffers, position)),
        datasync: () => (hooks.datasync ? hooks.datasync(file, sync) : sync()),
        truncate: (length) => (hooks.truncate ? hooks.truncate(file, length, truncate) : truncate(length)),
      };
    },
  };
}

/** Wraps a file system to count fdatasync calls and writes, and to fail the next write on demand. */
export function instrumentedFileSystem(base: StorageFileSystem): StorageFileSystem & {
  datasyncs: number;
  writes: number;
  failNextWrite?: NodeJS.ErrnoException;
} {
  const counters = { datasyncs: 0, writes: 0, failNextWrite: undefined as NodeJS.ErrnoException | undefined };
  const wrapped = wrapFileSystem(base, {
    async writev(file, buffers, position, write) {
      counters.writes++;
      const failure = counters.failNextWrite;
      if (!failure) return write(buffers, position);
      counters.failNextWrite = undefined;
      // Half the bytes land, then the error: what a full disk looks like.
      const all = Buffer.concat(buffers as Buffer[]);
      await write([all.subarray(0, Math.floor(all.length / 2))], position);
      throw storageError(failure, file, 'write');
    },
    datasync(_file, sync) {
      counters.datasyncs++;
      return sync();
    },
  });
  return Object.assign(counters, wrapped);
}
