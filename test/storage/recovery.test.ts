import fs from 'fs';
import path from 'path';
import { isBrookError } from '../../src/common/errors';
import { LogManager, type PartitionLog } from '../../src/storage';
import { decodeAll, makeBatch, makeTempDir, recordingLogger, removeDir } from '../helpers/storage';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const NO_TIMERS = { retentionCheckIntervalMs: 0, recoveryCheckpointIntervalMs: 0, flushCheckIntervalMs: 0 };

function partitionDir(): string {
  return path.join(dir, 'topics', 't', '0');
}

function segmentFiles(suffix: string): string[] {
  return fs.readdirSync(partitionDir()).filter((f) => f.endsWith(suffix)).sort().map((f) => path.join(partitionDir(), f));
}

async function fill(config: Record<string, string>, batches: number, recordsPerBatch = 3): Promise<{ manager: LogManager; log: PartitionLog }> {
  const manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
  await manager.createTopic('t', 1, config);
  const log = manager.partition('t', 0);
  for (let i = 0; i < batches; i++) await log.append(makeBatch(recordsPerBatch, { tag: `b${i}`, valueBytes: 60 }));
  return { manager, log };
}

async function readEverything(log: PartitionLog): Promise<number[]> {
  const offsets: number[] = [];
  let offset = log.logStartOffset;
  while (offset < log.highWatermark) {
    const r = await log.read(offset, 700);
    offsets.push(...decodeAll(r.data).map((x) => x.offset).filter((o) => o >= offset));
    offset = r.nextOffset;
  }
  return offsets;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('recovery after an unclean stop', () => {
  it('truncates a torn tail (truncated .log) to the last valid batch and logs the bytes dropped', async () => {
    const { log } = await fill({}, 10);
    const size = log.sizeBytes;
    // No close(): the process "died". Cut the last batch in half.
    const [logFile] = segmentFiles('.log');
    fs.truncateSync(logFile, size - 40);
    const logger = recordingLogger();
    const manager = await LogManager.open({ dataDir: dir, logger, ...NO_TIMERS });
    const recovered = manager.partition('t', 0);
    expect(recovered.highWatermark).toBe(27);
    expect(await readEverything(recovered)).toEqual(range(27));
    const torn = logger.lines.find((l) => l.msg.includes('torn tail'));
    expect(torn?.obj).toMatchObject({ droppedBytes: size - 40 - recovered.sizeBytes });
    expect((await recovered.append(makeBatch(1))).baseOffset).toBe(27);
    await manager.close();
  });

  it.each([
    ['random garbage', (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + 13) & 0xff))],
    ['zeros (a preallocated tail)', (n: number) => Buffer.alloc(n)],
  ])('drops %s appended to the .log', async (_name, garbage) => {
    const { log } = await fill({}, 6);
    const size = log.sizeBytes;
    fs.appendFileSync(segmentFiles('.log')[0], garbage(5000));
    const manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    const recovered = manager.partition('t', 0);
    expect(recovered.highWatermark).toBe(18);
    expect(recovered.sizeBytes).toBe(size);
    expect(fs.statSync(segmentFiles('.log')[0]).size).toBe(size);
    expect(await readEverything(recovered)).toEqual(range(18));
    await manager.close();
  });

  it('recovers every acknowledged batch across many segments and rebuilds the active index', async () => {
    const { log } = await fill({ 'segment.bytes': '1024', 'index.interval.bytes': '100' }, 40);
    expect(log.segmentCount).toBeGreaterThan(5);
    for (const f of segmentFiles('.index')) fs.rmSync(f);
    const manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    const recovered = manager.partition('t', 0);
    expect(recovered.highWatermark).toBe(120);
    expect(await readEverything(recovered)).toEqual(range(120));
    await manager.close();
  });
});

describe('index files', () => {
  it('rebuilds a deleted .index after a clean shutdown', async () => {
    const { manager } = await fill({ 'segment.bytes': '2048', 'index.interval.bytes': '100' }, 30);
    await manager.close();
    const victims = segmentFiles('.index');
    for (const f of victims) fs.rmSync(f);
    const reopened = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    expect(await readEverything(reopened.partition('t', 0))).toEqual(range(90));
    // Sealed segments get their rebuilt index written back.
    expect(fs.existsSync(victims[0])).toBe(true);
    expect(fs.statSync(victims[0]).size).toBeGreaterThan(0);
    await reopened.close();
  });

  it('rebuilds a garbled .index (same length, wrong bytes) and still reads every offset', async () => {
    const { manager } = await fill({ 'segment.bytes': '4096', 'index.interval.bytes': '100' }, 30);
    await manager.close();
    for (const f of segmentFiles('.index')) {
      const bytes = fs.readFileSync(f);
      // Plausible but wrong: every entry shifted by one batch.
      for (let at = 0; at + 8 <= bytes.length; at += 8) bytes.writeUInt32BE(bytes.readUInt32BE(at) + 1, at);
      fs.writeFileSync(f, bytes);
    }
    for (const f of segmentFiles('.timeindex')) fs.writeFileSync(f, Buffer.from('not a time index'));
    const logger = recordingLogger();
    const reopened = await LogManager.open({ dataDir: dir, logger, ...NO_TIMERS });
    const log = reopened.partition('t', 0);
    expect(await readEverything(log)).toEqual(range(90));
    for (let offset = 0; offset < 90; offset += 4) {
      const first = decodeAll((await log.read(offset, 1)).data);
      expect(first.some((x) => x.offset === offset)).toBe(true);
    }
    expect(logger.lines.some((l) => l.msg.includes('rebuilding'))).toBe(true);
    await reopened.close();
  });
});

describe('corruption in sealed data', () => {
  it('reports CORRUPT_DATA for the damaged batch only, keeps serving the rest, and never deletes it', async () => {
    const { manager, log } = await fill({ 'segment.bytes': '2048' }, 30);
    expect(log.segmentCount).toBeGreaterThan(3);
    await manager.close();
    // Flip one byte inside a record of the 3rd batch of the first (sealed) segment.
    const first = segmentFiles('.log')[0];
    const bytes = fs.readFileSync(first);
    const batchSize = bytes.readInt32BE(8) + 12;
    const victimPosition = 2 * batchSize + 100;
    bytes[victimPosition] ^= 0x01;
    fs.writeFileSync(first, bytes);

    for (const clean of [true, false]) {
      if (!clean) fs.rmSync(path.join(dir, '.clean-shutdown'), { force: true });
      const reopened = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
      const p = reopened.partition('t', 0);
      expect(p.highWatermark).toBe(90);
      for (const offset of [6, 7, 8]) {
        const error = await p.read(offset, 1000).catch((e) => e);
        expect(isBrookError(error, 'CORRUPT_DATA')).toBe(true);
        expect(error.message).toContain(path.basename(first));
        expect(error.message).toContain('offsets 6-8');
      }
      // Before the damage: served, stopping short of the bad batch.
      const before = await p.read(0, 1 << 20);
      expect(decodeAll(before.data).map((x) => x.offset)).toEqual(range(6));
      expect(before.nextOffset).toBe(6);
      // After it: everything else reads.
      const after: number[] = [];
      let offset = 9;
      while (offset < p.highWatermark) {
        const r = await p.read(offset, 500);
        after.push(...decodeAll(r.data).map((x) => x.offset));
        offset = r.nextOffset;
      }
      expect(after).toEqual(range(90).slice(9));
      expect(fs.statSync(first).size).toBe(bytes.length); // not truncated
      if (clean) await reopened.close();
    }
  });
});
