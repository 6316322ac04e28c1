/**
 * Helpers for storage tests: a scratch data directory that is always removed,
 * record batches built with the real codec, and decoding of read results.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { decodeRecordBatch, encodeRecordBatch, readBatchHeader, type RecordInput } from '../../src/record';
import type { StorageLogger } from '../../src/storage';

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

/** Wraps a file system to count fdatasync calls and to fail writes on demand. */
export function instrumentedFileSystem(base: import('../../src/storage').StorageFileSystem): import('../../src/storage').StorageFileSystem & {
  datasyncs: number;
  writes: number;
  failNextWrite?: NodeJS.ErrnoException;
} {
  const fsx = {
    ...base,
    datasyncs: 0,
    writes: 0,
    failNextWrite: undefined as NodeJS.ErrnoException | undefined,
    async open(file: string, options?: { create?: boolean }) {
      const inner = await base.open(file, options);
      return {
        path: inner.path,
        read: inner.read.bind(inner),
        truncate: inner.truncate.bind(inner),
        size: inner.size.bind(inner),
        close: inner.close.bind(inner),
        async writev(buffers: readonly Buffer[], position: number) {
          fsx.writes++;
          const failure = fsx.failNextWrite;
          if (failure) {
            fsx.failNextWrite = undefined;
            // Half the bytes land, then the error: what a full disk looks like.
            const all = Buffer.concat(buffers as Buffer[]);
            await inner.writev([all.subarray(0, Math.floor(all.length / 2))], position);
            const { storageError } = await import('../../src/storage/file-system');
            throw storageError(failure, file, 'write');
          }
          return inner.writev(buffers, position);
        },
        async datasync() {
          fsx.datasyncs++;
          return inner.datasync();
        },
      };
    },
  };
  return fsx;
}
