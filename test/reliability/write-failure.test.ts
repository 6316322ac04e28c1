/**
 * A failed write (ENOSPC, half the bytes landed) while other appends keep
 * arriving: the partition log must cut the file back to the high watermark,
 * refuse what it could not write, and hand out contiguous offsets afterwards
 * — including to appends that arrive while the rollback's truncate is still
 * in progress.
 */
import { systemClock } from '../../src/common/clock';
import { DEFAULT_TOPIC_CONFIG, PartitionLog, nodeFileSystem, type StorageFileSystem } from '../../src/storage';
import { storageError } from '../../src/storage/file-system';
import { batchOffsets, decodeAll, makeBatch, makeTempDir, recordingLogger, removeDir } from '../helpers/storage';

let dir: string | undefined;
afterEach(async () => removeDir(dir));

/** Fails the next writev with ENOSPC after writing half its bytes; holds truncates until released. */
function fullDiskFileSystem(): StorageFileSystem & { failNextWrite: boolean; holdTruncate: Promise<void> | undefined; truncateStarted: Promise<void> } {
  let started!: () => void;
  const fsx = {
    ...nodeFileSystem,
    failNextWrite: false,
    holdTruncate: undefined as Promise<void> | undefined,
    truncateStarted: new Promise<void>((resolve) => (started = resolve)),
    async open(file: string, options?: { create?: boolean }) {
      const inner = await nodeFileSystem.open(file, options);
      return {
        path: inner.path,
        read: inner.read.bind(inner),
        size: inner.size.bind(inner),
        close: inner.close.bind(inner),
        datasync: inner.datasync.bind(inner),
        async truncate(length: number) {
          started();
          if (fsx.holdTruncate) await fsx.holdTruncate;
          return inner.truncate(length);
        },
        async writev(buffers: readonly Buffer[], position: number) {
          if (fsx.failNextWrite) {
            fsx.failNextWrite = false;
            const all = Buffer.concat(buffers as Buffer[]);
            await inner.writev([all.subarray(0, Math.floor(all.length / 2))], position);
            const error = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) as NodeJS.ErrnoException;
            throw storageError(error, file, 'write');
          }
          return inner.writev(buffers, position);
        },
      };
    },
  };
  return fsx;
}

it('hands out contiguous offsets to appends that arrive while a failed write is being undone', async () => {
  dir = await makeTempDir();
  const fsx = fullDiskFileSystem();
  const log = await PartitionLog.open({ dir, topic: 't', partition: 0, config: DEFAULT_TOPIC_CONFIG, clock: systemClock, logger: recordingLogger(), fileSystem: fsx, cleanShutdown: false });
  await log.append(makeBatch(3, { tag: 'a' }));

  let release!: () => void;
  fsx.holdTruncate = new Promise<void>((resolve) => (release = resolve));
  fsx.failNextWrite = true;
  const failed = log.append(makeBatch(2, { tag: 'b' })).then(() => 'acked', (e) => e.code);
  await fsx.truncateStarted;
  // The writer is undoing the failed write; this append arrives meanwhile.
  const during = log.append(makeBatch(2, { tag: 'c' })).then((r) => r, (e) => e.code);
  release();
  expect(await failed).toBe('DISK_FULL');
  const duringResult = await during;
  const after = await log.append(makeBatch(2, { tag: 'd' }));

  const read = await log.read(0, 1 << 20);
  const offsets = decodeAll(read.data).map((r) => r.offset);
  expect(offsets).toEqual(Array.from({ length: offsets.length }, (_, i) => i));
  expect(batchOffsets(read.data).map((b) => b.baseOffset)[0]).toBe(0);
  // Whatever happened to the append made during the rollback, it is either refused or at offset 3.
  if (typeof duringResult === 'string') expect(duringResult).toBe('DISK_FULL');
  else expect(duringResult.baseOffset).toBe(3);
  expect(after.baseOffset).toBe(typeof duringResult === 'string' ? 3 : 5);
  expect(read.highWatermark).toBe(after.lastOffset + 1);
  await log.close();
});
