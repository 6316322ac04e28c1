/**
 * The storage engine's only edge to the disk. Everything in src/storage does
 * its I/O through a `StorageFileSystem`, so tests can count fsyncs, fail a
 * write with ENOSPC, or observe what reached the "disk"; production uses
 * `nodeFileSystem`.
 *
 * `nodeFileSystem` works on raw file descriptors with the callback `fs` API:
 * on Node 20 a `FileHandle` call costs ~2 µs more than the same call on a raw
 * fd (promise + handle bookkeeping), which is visible at 100k small appends/s.
 * Every error leaves as a `BrookError`: ENOSPC/EDQUOT as DISK_FULL (retriable),
 * anything else as STORAGE_ERROR naming the file, with the errno error as
 * `cause`.
 */
import fs from 'fs';
import { BrookError } from '../common/errors';

/** An open file: positional reads and writes, no implicit file position. */
export interface StorageFile {
  readonly path: string;
  /** Reads up to `length` bytes at `position` into `buffer[offset..]`; returns bytes read (0 at end of file). */
  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number>;
  /** Writes every byte of `buffers`, in order, starting at `position`. */
  writev(buffers: readonly Buffer[], position: number): Promise<void>;
  /** fdatasync(2): file data (and the size, if it changed) reach stable storage. */
  datasync(): Promise<void>;
  /**
   * Optional: `writev` that resolves only once the bytes are durable, as
   * after `writev` then `datasync`. `nodeFileSystem` writes through a second
   * descriptor opened with O_DSYNC: one trip through libuv's thread pool
   * instead of two; when that descriptor cannot be opened (EMFILE, say), the
   * call writes through the file's own descriptor and fdatasyncs it, and
   * tries the open again next time. A failure may come from the write or
   * from the flush (an EIO cannot tell which). Callers fall back to writev +
   * datasync without it.
   */
  writevDurable?(buffers: readonly Buffer[], position: number): Promise<void>;
  /** Optional: no writevDurable for a while (a sealed segment); lets go of what it keeps open for them. */
  endDurableWrites?(): Promise<void>;
  truncate(length: number): Promise<void>;
  size(): Promise<number>;
  close(): Promise<void>;
}

export interface StorageFileSystem {
  /** Opens for reading and writing; `create` makes the file if missing (never truncates). */
  open(path: string, options?: { create?: boolean }): Promise<StorageFile>;
  readFile(path: string): Promise<Buffer>;
  /** Writes a whole file (truncating) and fsyncs it before resolving. */
  writeFileSync(path: string, data: Buffer): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Removes a tree; missing is fine. */
  removeTree(path: string): Promise<void>;
  mkdir(path: string): Promise<void>;
  readdir(path: string): Promise<string[]>;
  exists(path: string): Promise<boolean>;
  /** fsync(2) a directory so renames, creations and unlinks in it are durable. */
  syncDirectory(path: string): Promise<void>;
}

/** True when `e` (raw or wrapped by this module) is "no such file or directory". */
export function isNotFound(e: unknown): boolean {
  const code = (x: unknown): unknown => (x as NodeJS.ErrnoException | undefined)?.code;
  return code(e) === 'ENOENT' || code((e as { cause?: unknown } | undefined)?.cause) === 'ENOENT';
}

export function storageError(e: unknown, file: string, action: string): BrookError {
  if (e instanceof BrookError) return e;
  const errno = (e as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new BrookError('DISK_FULL', `no space left to ${action} ${file}`, { file }, { cause: e });
  }
  const reason = e instanceof Error ? e.message : String(e);
  return new BrookError('STORAGE_ERROR', `could not ${action} ${file}: ${reason}`, { file }, { cause: e });
}

function call<T>(file: string, action: string, fn: (cb: (err: NodeJS.ErrnoException | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    fn((err, value) => (err ? reject(storageError(err, file, action)) : resolve(value as T)));
  });
}

class NodeFile implements StorageFile {
  private closed = false;
  /** The O_DSYNC descriptor of writevDurable, opened on first use. */
  private durableFd: Promise<number> | undefined;

  constructor(readonly path: string, private readonly fd: number) {}

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return call<number>(this.path, 'read', (cb) => fs.read(this.fd, buffer, offset, length, position, cb));
  }

  writev(buffers: readonly Buffer[], position: number): Promise<void> {
    return this.writevTo(this.fd, buffers, position);
  }

  async writevDurable(buffers: readonly Buffer[], position: number): Promise<void> {
    if (this.closed) throw storageError(new Error('file is closed'), this.path, 'write');
    const opening = (this.durableFd ??= call<number>(this.path, 'open', (cb) => fs.open(this.path, fs.constants.O_WRONLY | fs.constants.O_DSYNC, cb)));
    let fd: number | undefined;
    try {
      fd = await opening;
    } catch {
      // Nothing is written yet. Failing here would count as a failed flush
      // and take the partition offline (see LogSegment.append), for a
      // descriptor this call can do without.
      if (this.durableFd === opening) this.durableFd = undefined;
    }
    if (fd === undefined) {
      await this.writevTo(this.fd, buffers, position);
      await this.datasync();
      return;
    }
    await this.writevTo(fd, buffers, position);
  }

  async endDurableWrites(): Promise<void> {
    const durable = this.durableFd;
    this.durableFd = undefined;
    if (durable === undefined) return;
    const fd = await durable.catch(() => undefined);
    if (fd !== undefined) await call<void>(this.path, 'close', (cb) => fs.close(fd, cb));
  }

  private async writevTo(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
    let total = 0;
    for (const b of buffers) total += b.length;
    let written = await call<number>(this.path, 'write', (cb) => fs.writev(fd, buffers as Buffer[], position, cb));
    if (written === total) return;
    // A short write (rare on regular files): write the rest buffer by buffer.
    let skip = written;
    for (const b of buffers) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      let chunk = b.subarray(skip);
      skip = 0;
      while (chunk.length > 0) {
        const n = await call<number>(this.path, 'write', (cb) => fs.write(fd, chunk, 0, chunk.length, position + written, cb));
        written += n;
        chunk = chunk.subarray(n);
      }
    }
  }

  datasync(): Promise<void> {
    return call<void>(this.path, 'fdatasync', (cb) => fs.fdatasync(this.fd, cb));
  }

  truncate(length: number): Promise<void> {
    return call<void>(this.path, 'truncate', (cb) => fs.ftruncate(this.fd, length, cb));
  }

  async size(): Promise<number> {
    const stat = await call<fs.Stats>(this.path, 'stat', (cb) => fs.fstat(this.fd, cb));
    return stat.size;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.endDurableWrites();
    await call<void>(this.path, 'close', (cb) => fs.close(this.fd, cb));
  }
}

export const nodeFileSystem: StorageFileSystem = Object.freeze({
  async open(path: string, options: { create?: boolean } = {}): Promise<StorageFile> {
    const flags = options.create ? fs.constants.O_RDWR | fs.constants.O_CREAT : fs.constants.O_RDWR;
    const fd = await call<number>(path, 'open', (cb) => fs.open(path, flags, 0o644, cb));
    return new NodeFile(path, fd);
  },
  async readFile(path: string): Promise<Buffer> {
    try {
      return await fs.promises.readFile(path);
    } catch (e) {
      throw storageError(e, path, 'read');
    }
  },
  async writeFileSync(path: string, data: Buffer): Promise<void> {
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await fs.promises.open(path, 'w', 0o644);
      await handle.writeFile(data);
      await handle.sync();
    } catch (e) {
      throw storageError(e, path, 'write');
    } finally {
      await handle?.close();
    }
  },
  async rename(from: string, to: string): Promise<void> {
    try {
      await fs.promises.rename(from, to);
    } catch (e) {
      throw storageError(e, from, `rename to ${to}`);
    }
  },
  async unlink(path: string): Promise<void> {
    try {
      await fs.promises.unlink(path);
    } catch (e) {
      if (!isNotFound(e)) throw storageError(e, path, 'delete');
    }
  },
  async removeTree(path: string): Promise<void> {
    try {
      await fs.promises.rm(path, { recursive: true, force: true });
    } catch (e) {
      throw storageError(e, path, 'delete');
    }
  },
  async mkdir(path: string): Promise<void> {
    try {
      await fs.promises.mkdir(path, { recursive: true });
    } catch (e) {
      throw storageError(e, path, 'create directory');
    }
  },
  async readdir(path: string): Promise<string[]> {
    try {
      return await fs.promises.readdir(path);
    } catch (e) {
      throw storageError(e, path, 'list');
    }
  },
  async exists(path: string): Promise<boolean> {
    try {
      await fs.promises.access(path);
      return true;
    } catch {
      return false;
    }
  },
  async syncDirectory(path: string): Promise<void> {
    let handle: fs.promises.FileHandle | undefined;
    try {
      handle = await fs.promises.open(path, 'r');
      await handle.sync();
    } catch (e) {
      throw storageError(e, path, 'fsync directory');
    } finally {
      await handle?.close();
    }
  },
});

/** `file` with the time of each flush (datasync, writevDurable) reported to `observe`. */
class TimedFile implements StorageFile {
  readonly writevDurable?: (buffers: readonly Buffer[], position: number) => Promise<void>;
  readonly endDurableWrites?: () => Promise<void>;

  constructor(private readonly file: StorageFile, private readonly observe: (seconds: number) => void) {
    const durable = file.writevDurable;
    if (durable) this.writevDurable = (buffers, position) => this.timed(() => durable.call(file, buffers, position));
    const end = file.endDurableWrites;
    if (end) this.endDurableWrites = () => end.call(file);
  }

  get path(): string {
    return this.file.path;
  }

  private async timed(flush: () => Promise<void>): Promise<void> {
    const start = process.hrtime.bigint();
    await flush();
    this.observe(Number(process.hrtime.bigint() - start) / 1e9);
  }

  read(buffer: Buffer, offset: number, length: number, position: number): Promise<number> {
    return this.file.read(buffer, offset, length, position);
  }

  writev(buffers: readonly Buffer[], position: number): Promise<void> {
    return this.file.writev(buffers, position);
  }

  datasync(): Promise<void> {
    return this.timed(() => this.file.datasync());
  }

  truncate(length: number): Promise<void> {
    return this.file.truncate(length);
  }

  size(): Promise<number> {
    return this.file.size();
  }

  close(): Promise<void> {
    return this.file.close();
  }
}

/**
 * `base`, with the duration of every flush of an open file reported to
 * `observe` in seconds (successful ones): each `datasync`, and each
 * `writevDurable` (an O_DSYNC write: the write and its flush as one). The
 * broker's brook_fsync_duration_seconds comes from here.
 */
export function timedFileSystem(base: StorageFileSystem, observe: (seconds: number) => void): StorageFileSystem {
  return Object.freeze({
    ...base,
    async open(path: string, options?: { create?: boolean }): Promise<StorageFile> {
      return new TimedFile(await base.open(path, options), observe);
    },
  });
}
