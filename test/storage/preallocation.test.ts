import fs from 'fs';
import path from 'path';
import { ManualClock } from '../../src/common/clock';
import { PartitionLog, nodeFileSystem, parseTopicConfig, type StorageFileSystem } from '../../src/storage';
import { decodeAll, makeBatch, makeTempDir, recordingLogger, removeDir, wrapFileSystem } from '../helpers/storage';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

function open(config: Record<string, string>, clean: boolean, logger = recordingLogger(), fileSystem: StorageFileSystem = nodeFileSystem): Promise<PartitionLog> {
  return PartitionLog.open({
    dir: path.join(dir, 'p0'),
    topic: 't',
    partition: 0,
    config: parseTopicConfig(config),
    clock: new ManualClock(1_700_000_000_000),
    logger,
    fileSystem,
    cleanShutdown: clean,
  });
}

function logFiles(): string[] {
  const p = path.join(dir, 'p0');
  return fs.readdirSync(p).filter((f) => f.endsWith('.log')).sort().map((f) => path.join(p, f));
}

async function values(log: PartitionLog): Promise<string[]> {
  const out: string[] = [];
  let offset = log.logStartOffset;
  while (offset < log.highWatermark) {
    const r = await log.read(offset, 1 << 20);
    out.push(...decodeAll(r.data).filter((x) => x.offset >= offset).map((x) => x.value));
    offset = r.nextOffset;
  }
  return out;
}

describe('segment preallocation (flush.policy=always)', () => {
  it('zero-fills space past the log, reports the logical size, and trims it on close', async () => {
    const log = await open({}, true);
    for (let i = 0; i < 20; i++) await log.append(makeBatch(1, { tag: `r${i}` }));
    const [file] = logFiles();
    expect(fs.statSync(file).size).toBeGreaterThanOrEqual(log.sizeBytes + 1024);
    const tail = fs.readFileSync(file).subarray(log.sizeBytes);
    expect(tail.every((b) => b === 0)).toBe(true);
    const size = log.sizeBytes;
    await log.close();
    expect(fs.statSync(file).size).toBe(size);
    const reopened = await open({}, true);
    expect(reopened.sizeBytes).toBe(size);
    expect((await values(reopened)).length).toBe(20);
    await reopened.close();
  });

  it('still trims zeros at close when a failed preallocation could not truncate them away', async () => {
    let failTruncate = false;
    const fileSystem = wrapFileSystem(nodeFileSystem, {
      async writev(_file, buffers, position, write) {
        await write(buffers, position);
        if (buffers.length === 1 && buffers[0].length >= 64 * 1024 && buffers[0].every((b) => b === 0)) {
          failTruncate = true; // the zeros landed, then the disk filled up
          throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
        }
      },
      truncate(_file, length, truncate) {
        if (!failTruncate) return truncate(length);
        failTruncate = false;
        return Promise.reject(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
      },
    });
    const log = await open({}, true, recordingLogger(), fileSystem);
    for (let i = 0; i < 5; i++) await log.append(makeBatch(1, { tag: `r${i}` }));
    const [file] = logFiles();
    expect(fs.statSync(file).size).toBeGreaterThan(log.sizeBytes); // the zero tail is still there
    const size = log.sizeBytes;
    await log.close();
    expect(fs.statSync(file).size).toBe(size);
  });

  it('after an unclean stop, recovery drops the zero tail as preallocated space, not as a torn batch', async () => {
    const log = await open({}, true);
    for (let i = 0; i < 5; i++) await log.append(makeBatch(2, { tag: `r${i}` }));
    const size = log.sizeBytes;
    await log.closeForDeletion(); // no flush, no trim: the file keeps its zero tail, as after a crash
    const logger = recordingLogger();
    const recovered = await open({}, false, logger);
    expect(recovered.highWatermark).toBe(10);
    expect(recovered.sizeBytes).toBe(size);
    expect(fs.statSync(logFiles()[0]).size).toBe(size);
    expect(logger.lines.some((l) => l.msg.includes('preallocated space'))).toBe(true);
    expect(logger.lines.some((l) => l.msg.includes('torn tail'))).toBe(false);
    expect((await recovered.append(makeBatch(1, { tag: 'after' }))).baseOffset).toBe(10);
    expect((await values(recovered)).slice(-2)).toEqual(['r4-1', 'after-0']);
    await recovered.close();
  });

  it('trims the sealed segment at a roll and does not preallocate under flush.policy=never', async () => {
    const log = await open({ 'segment.bytes': '2048' }, true);
    for (let i = 0; i < 30; i++) await log.append(makeBatch(1, { tag: `r${i}`, valueBytes: 100 }));
    expect(log.segmentCount).toBeGreaterThan(1);
    const files = logFiles();
    let total = 0;
    for (const f of files.slice(0, -1)) total += fs.statSync(f).size;
    const last = files[files.length - 1];
    expect(fs.statSync(last).size).toBeLessThanOrEqual(2048);
    await log.close();
    total += fs.statSync(last).size;
    expect(total).toBe(log.sizeBytes);

    await removeDir(dir);
    dir = await makeTempDir();
    const never = await open({ 'flush.policy': 'never' }, true);
    for (let i = 0; i < 5; i++) await never.append(makeBatch(1));
    expect(fs.statSync(logFiles()[0]).size).toBe(never.sizeBytes);
    await never.close();
  });
});
