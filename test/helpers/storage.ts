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
 * as its last argument and decides whether, when and how to make it. Errors
 * a hook throws reach the storage engine as the real file system's would,
 * as BrookErrors (ENOSPC as DISK_FULL; see storageError).
 */
export interface FileSystemHooks {
  writev?(file: string, buffers: readonly Buffer[], position: number, write: (buffers: readonly Buffer[], position: number) => Promise<void>): Promise<void>;
  /**
   * Around writevDurable (the write and its flush in one call, what
   * flush.policy=always uses), with the real durable write as `write`.
   * Without it, the `writev` hook is put around durable writes too.
   */
  writevDurable?(file: string, buffers: readonly Buffer[], position: number, write: (buffers: readonly Buffer[], position: number) => Promise<void>): Promise<void>;
  datasync?(file: string, sync: () => Promise<void>): Promise<void>;
  truncate?(file: string, length: number, truncate: (length: number) => Promise<void>): Promise<void>;
}

export interface WrapOptions {
  /** false: the files offer no writevDurable, so the engine writes and fdatasyncs separately (as over a file system without it). Default true. */
  durableWrites?: boolean;
}

/** `base` with `hooks` around the writes, syncs and truncations of every file it opens; everything else passes through. */
export function wrapFileSystem(base: StorageFileSystem, hooks: FileSystemHooks, options: WrapOptions = {}): StorageFileSystem {
  const hooked = async <T>(file: string, action: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (e) {
      throw storageError(e, file, action);
    }
  };
  return {
    ...base,
    async open(file: string, openOptions?: { create?: boolean }): Promise<StorageFile> {
      const inner = await base.open(file, openOptions);
      const write = inner.writev.bind(inner);
      const sync = inner.datasync.bind(inner);
      const truncate = inner.truncate.bind(inner);
      const wrapped: StorageFile = {
        path: inner.path,
        read: inner.read.bind(inner),
        size: inner.size.bind(inner),
        close: inner.close.bind(inner),
        writev: (buffers, position) => (hooks.writev ? hooked(file, 'write', () => hooks.writev!(file, buffers, position, write)) : write(buffers, position)),
        datasync: () => (hooks.datasync ? hooked(file, 'fdatasync', () => hooks.datasync!(file, sync)) : sync()),
        truncate: (length) => (hooks.truncate ? hooked(file, 'truncate', () => hooks.truncate!(file, length, truncate)) : truncate(length)),
      };
      if (options.durableWrites !== false && inner.writevDurable !== undefined) {
        const writeDurable = inner.writevDurable.bind(inner);
        const hook = hooks.writevDurable ?? hooks.writev;
        wrapped.writevDurable = (buffers, position) => (hook ? hooked(file, 'write', () => hook(file, buffers, position, writeDurable)) : writeDurable(buffers, position));
        if (inner.endDurableWrites !== undefined) wrapped.endDurableWrites = inner.endDurableWrites.bind(inner);
      }
      return wrapped;
    },
  };
}

/**
 * Wraps a file system to count fdatasync calls and writes, and to fail the
 * next write on demand. A durable write (writevDurable: a write and its
 * flush in one call) counts as a write and as an fdatasync, and also in
 * `durableWrites`; a failed one lands half its bytes through the durable
 * path, as the plain write does through writev.
 */
export function instrumentedFileSystem(
  base: StorageFileSystem,
  options: WrapOptions = {},
): StorageFileSystem & {
  datasyncs: number;
  writes: number;
  durableWrites: number;
  failNextWrite?: NodeJS.ErrnoException;
} {
  const counters = { datasyncs: 0, writes: 0, durableWrites: 0, failNextWrite: undefined as NodeJS.ErrnoException | undefined };
  const countedWrite = async (file: string, buffers: readonly Buffer[], position: number, write: (buffers: readonly Buffer[], position: number) => Promise<void>): Promise<void> => {
    counters.writes++;
    const failure = counters.failNextWrite;
    if (!failure) return write(buffers, position);
    counters.failNextWrite = undefined;
    // Half the bytes land, then the error: what a full disk looks like.
    const all = Buffer.concat(buffers as Buffer[]);
    await write([all.subarray(0, Math.floor(all.length / 2))], position);
    throw storageError(failure, file, 'write');
  };
  const wrapped = wrapFileSystem(
    base,
    {
      writev: countedWrite,
      writevDurable(file, buffers, position, writeDurable) {
        counters.durableWrites++;
        counters.datasyncs++;
        return countedWrite(file, buffers, position, writeDurable);
      },
      datasync(_file, sync) {
        counters.datasyncs++;
        return sync();
      },
    },
    options,
  );
  return Object.assign(counters, wrapped);
}

/**
 * Makes `fs.open` fail with EMFILE for O_DSYNC opens (the durable-write
 * descriptor) while `refuse()` says so, leaving every other open alone.
 * `refused` counts the refusals; call `restore()` when done.
 */
export function refuseDsyncOpens(refuse: () => boolean): { readonly refused: number; restore(): void } {
  const realOpen = fs.open;
  let refused = 0;
  const spy = jest.spyOn(fs, 'open').mockImplementation(((...args: unknown[]) => {
    const flags = args[1];
    if (typeof flags === 'number' && (flags & fs.constants.O_DSYNC) !== 0 && refuse()) {
      refused++;
      const callback = args[args.length - 1] as (e: NodeJS.ErrnoException) => void;
      process.nextTick(callback, Object.assign(new Error('EMFILE: too many open files, open'), { code: 'EMFILE', errno: -24, syscall: 'open' }));
      return;
    }
    return (realOpen as unknown as (...a: unknown[]) => void)(...args);
  }) as never);
  return {
    get refused() {
      return refused;
    },
    restore: () => spy.mockRestore(),
  };
}
