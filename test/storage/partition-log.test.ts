import fs from 'fs';
import path from 'path';
import { ManualClock } from '../../src/common/clock';
import { isBrookError } from '../../src/common/errors';
import { encodeRecordBatch } from '../../src/record';
import { PartitionLog, nodeFileSystem, parseTopicConfig, type StorageFileSystem } from '../../src/storage';
import { storageError } from '../../src/storage/file-system';
import { silentLogger } from '../../src/storage/logger';
import { batchOffsets, decodeAll, instrumentedFileSystem, makeBatch, makeTempDir, refuseDsyncOpens, removeDir, wrapFileSystem } from '../helpers/storage';

let dir: string;
const clock = () => new ManualClock(1_700_000_000_000);

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

function open(config: Record<string, string> = {}, options: { clock?: ManualClock; fileSystem?: StorageFileSystem; clean?: boolean } = {}): Promise<PartitionLog> {
  return PartitionLog.open({
    dir: path.join(dir, 'p0'),
    topic: 't',
    partition: 0,
    config: parseTopicConfig(config),
    clock: options.clock ?? clock(),
    logger: silentLogger,
    fileSystem: options.fileSystem ?? nodeFileSystem,
    cleanShutdown: options.clean ?? true,
  });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isBrookError(e) ? e.code : `not a BrookError: ${String(e)}`;
  }
  return undefined;
}

async function readAll(log: PartitionLog, from = log.logStartOffset, maxBytes = 1 << 20): Promise<ReturnType<typeof decodeAll>> {
  const out: ReturnType<typeof decodeAll> = [];
  let offset = from;
  while (offset < log.highWatermark) {
    const r = await log.read(offset, maxBytes);
    expect(r.data.length).toBeGreaterThan(0);
    out.push(...decodeAll(r.data).filter((x) => x.offset >= offset));
    offset = r.nextOffset;
  }
  return out;
}

describe('PartitionLog append and read', () => {
  it('assigns contiguous offsets in call order to many concurrent appends', async () => {
    const log = await open();
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(makeBatch((i % 4) + 1, { tag: `a${i}` }))));
    let expected = 0;
    for (const [i, r] of results.entries()) {
      expect(r.baseOffset).toBe(expected);
      expect(r.recordCount).toBe((i % 4) + 1);
      expect(r.lastOffset).toBe(expected + r.recordCount - 1);
      expect(r.logAppendTimeMs).toBe(-1);
      expected = r.lastOffset + 1;
    }
    expect(log.highWatermark).toBe(expected);
    expect(log.logEndOffset).toBe(expected);
    const records = await readAll(log);
    expect(records.map((r) => r.offset)).toEqual(Array.from({ length: expected }, (_, i) => i));
    expect(records[0].value).toBe('a0-0');
    await log.close();
  });

  it('returns whole batches from the one holding the offset, at least one even over maxBytes', async () => {
    const log = await open();
    for (let i = 0; i < 5; i++) await log.append(makeBatch(10, { valueBytes: 100 }));
    const r = await log.read(15, 1);
    expect(batchOffsets(r.data)).toEqual([{ baseOffset: 10, lastOffset: 19, size: expect.any(Number) }]);
    expect(r.firstOffset).toBe(10);
    expect(r.nextOffset).toBe(20);
    expect(r.highWatermark).toBe(50);
    const all = await log.read(0, 1 << 20);
    expect(batchOffsets(all.data)).toHaveLength(5);
    const empty = await log.read(50, 100);
    expect(empty.data.length).toBe(0);
    expect(empty.nextOffset).toBe(50);
    await log.close();
  });

  it('refuses offsets outside [logStartOffset, highWatermark] naming both bounds', async () => {
    const log = await open();
    await log.append(makeBatch(3));
    for (const offset of [-1, 4, 1e9]) {
      const error = await log.read(offset, 100).catch((e) => e);
      expect(error.code).toBe('OFFSET_OUT_OF_RANGE');
      expect(error.message).toContain('[0, 3]');
    }
    expect(await codeOf(log.read(1.5, 100))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(log.read(0, -1))).toBe('INVALID_ARGUMENT');
    await log.close();
  });

  it('refuses a batch over max.message.bytes, naming the limit, and writes nothing', async () => {
    const log = await open({ 'max.message.bytes': '2000' });
    const error = await log.append(makeBatch(1, { valueBytes: 3000 })).catch((e) => e);
    expect(error.code).toBe('RECORD_TOO_LARGE');
    expect(error.message).toContain('max.message.bytes=2000');
    expect(log.logEndOffset).toBe(0);
    expect(log.sizeBytes).toBe(0);
    await log.append(makeBatch(1));
    expect(log.highWatermark).toBe(1);
    await log.close();
  });

  it('refuses malformed batches (CRC, magic, length, trailing bytes) and writes nothing', async () => {
    const log = await open();
    const badCrc = makeBatch(2);
    badCrc[badCrc.length - 1] ^= 0xff;
    const badMagic = makeBatch(2);
    badMagic[16] = 1;
    const truncated = makeBatch(2).subarray(0, 70);
    const twoBatches = Buffer.concat([makeBatch(1), makeBatch(1)]);
    for (const batch of [badCrc, badMagic, truncated, twoBatches, Buffer.alloc(10)]) {
      expect(await codeOf(log.append(batch))).toBe('CORRUPT_RECORD_BATCH');
    }
    expect(await codeOf(log.append('nope' as unknown as Buffer))).toBe('INVALID_ARGUMENT');
    expect(log.logEndOffset).toBe(0);
    expect(log.sizeBytes).toBe(0);
    await log.close();
  });

  it('stamps LogAppendTime with the injected clock', async () => {
    const c = clock();
    const log = await open({ 'message.timestamp.type': 'LogAppendTime' }, { clock: c });
    c.advance(5000);
    const r = await log.append(makeBatch(3, { timestampMs: 42 }));
    expect(r.logAppendTimeMs).toBe(c.nowMs());
    const records = decodeAll((await log.read(0, 1000)).data);
    expect(records.map((x) => x.timestampMs)).toEqual([c.nowMs(), c.nowMs(), c.nowMs()]);
    await log.close();
  });

  it('emits highWatermark as it advances, and only to acknowledged ends', async () => {
    const log = await open();
    const seen: number[] = [];
    log.on('highWatermark', (hw: number) => seen.push(hw));
    await log.append(makeBatch(2));
    await Promise.all([log.append(makeBatch(1)), log.append(makeBatch(3))]);
    expect(seen[seen.length - 1]).toBe(6);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    await log.close();
  });

  it('appendRecords encodes one batch with the clock as default timestamp', async () => {
    const c = clock();
    const log = await open({}, { clock: c });
    const r = await log.appendRecords([{ value: Buffer.from('x') }, { key: Buffer.from('k'), value: Buffer.from('y'), timestampMs: 7 }]);
    expect(r).toMatchObject({ baseOffset: 0, lastOffset: 1, recordCount: 2 });
    const records = decodeAll((await log.read(0, 1000)).data);
    expect(records.map((x) => [x.value, x.timestampMs])).toEqual([['x', c.nowMs()], ['y', 7]]);
    await log.close();
  });
});

describe('PartitionLog durability', () => {
  it('group-commits concurrent appends under flush.policy=always', async () => {
    const fileSystem = instrumentedFileSystem(nodeFileSystem);
    const log = await open({}, { fileSystem });
    const before = fileSystem.datasyncs;
    const appenders = 8;
    const perAppender = 25;
    await Promise.all(
      Array.from({ length: appenders }, async () => {
        for (let i = 0; i < perAppender; i++) await log.append(makeBatch(1));
      }),
    );
    const fsyncs = fileSystem.datasyncs - before;
    expect(log.highWatermark).toBe(appenders * perAppender);
    // One fdatasync per round; with 8 appenders a round carries ~8 appends.
    expect(fsyncs).toBeLessThanOrEqual((appenders * perAppender) / 4);
    await log.close();
  });

  it('does not fsync appends under flush.policy=never, and flush() makes them durable', async () => {
    const fileSystem = instrumentedFileSystem(nodeFileSystem);
    const log = await open({ 'flush.policy': 'never' }, { fileSystem });
    const before = fileSystem.datasyncs;
    for (let i = 0; i < 10; i++) await log.append(makeBatch(1));
    expect(fileSystem.datasyncs).toBe(before);
    expect(log.highWatermark).toBe(10);
    await log.flush();
    expect(fileSystem.datasyncs).toBe(before + 1);
    await log.close();
  });

  it('under flush.policy=never, syncs a rolled segment before the producer snapshot that describes it', async () => {
    const events: string[] = [];
    const wrapped = wrapFileSystem(nodeFileSystem, {
      datasync(file, sync) {
        events.push(`datasync ${path.basename(file)}`);
        return sync();
      },
    });
    const fileSystem: StorageFileSystem = {
      ...wrapped,
      writeFileSync: (file, data) => {
        events.push(`write ${path.basename(file)}`);
        return wrapped.writeFileSync(file, data);
      },
    };
    const log = await open({ 'flush.policy': 'never', 'segment.bytes': '1024' }, { fileSystem });
    for (let i = 0; i < 8; i++) {
      await log.append(encodeRecordBatch([{ key: null, value: Buffer.alloc(200, 1), headers: [] }], { baseTimestampMs: 1, producerId: 3, producerEpoch: 0, baseSequence: i }));
    }
    expect(log.segmentCount).toBeGreaterThan(1);
    // The first snapshot is written by the first roll, which sealed the segment at offset 0.
    const snapshot = events.findIndex((e) => /^write \d{20}\.snapshot\.tmp$/.test(e));
    expect(snapshot).toBeGreaterThan(-1);
    expect(events.slice(0, snapshot)).toContain(`datasync ${'0'.repeat(20)}.log`);
    await log.close();
  });

  it('flushes flush.policy=interval partitions once the interval has passed', async () => {
    const c = clock();
    const fileSystem = instrumentedFileSystem(nodeFileSystem);
    const log = await open({ 'flush.policy': 'interval', 'flush.interval.ms': '1000' }, { fileSystem, clock: c });
    const before = fileSystem.datasyncs;
    await log.append(makeBatch(1));
    await log.maybeFlush();
    expect(fileSystem.datasyncs).toBe(before);
    c.advance(1000);
    await log.maybeFlush();
    expect(fileSystem.datasyncs).toBe(before + 1);
    await log.close();
  });

  it.each([
    ['one durable write (O_DSYNC)', true],
    ['writev, then fdatasync', false],
  ])('undoes a write that failed half done for a full disk, written as %s, and keeps working', async (_path, durableWrites) => {
    const fileSystem = instrumentedFileSystem(nodeFileSystem, { durableWrites });
    const log = await open({}, { fileSystem });
    await log.append(makeBatch(2, { tag: 'ok' }));
    const size = log.sizeBytes;
    const logFile = path.join(dir, 'p0', `${'0'.repeat(20)}.log`);
    const kept = fs.readFileSync(logFile).subarray(0, size);
    const durableBefore = fileSystem.durableWrites;
    fileSystem.failNextWrite = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    const results = await Promise.allSettled([log.append(makeBatch(3, { tag: 'lost' })), log.append(makeBatch(3, { tag: 'lost' }))]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason.code).toBe('DISK_FULL');
    }
    // The failed round went the way the test names: half of it reached the file, then the error.
    expect(fileSystem.durableWrites - durableBefore).toBe(durableWrites ? 1 : 0);
    expect(log.highWatermark).toBe(2);
    expect(log.logEndOffset).toBe(2);
    expect(log.sizeBytes).toBe(size);
    // Nothing of the half-written round is left: the file ends where the log does.
    expect(fs.readFileSync(logFile).equals(kept)).toBe(true);
    // Space is back: the refused offsets go to the next batch, once each.
    const r = await log.append(makeBatch(1, { tag: 'after' }));
    expect(r.baseOffset).toBe(2);
    expect(fileSystem.durableWrites - durableBefore).toBe(durableWrites ? 2 : 0);
    expect(await readAll(log)).toEqual([
      { offset: 0, timestampMs: expect.any(Number), value: 'ok-0' },
      { offset: 1, timestampMs: expect.any(Number), value: 'ok-1' },
      { offset: 2, timestampMs: expect.any(Number), value: 'after-0' },
    ]);
    await log.close();
    const reopened = await open({}, { clean: false });
    expect((await readAll(reopened)).map((x) => [x.offset, x.value])).toEqual([
      [0, 'ok-0'],
      [1, 'ok-1'],
      [2, 'after-0'],
    ]);
    await reopened.close();
  });

  it('keeps a partition writable when the O_DSYNC descriptor cannot be opened (EMFILE): the round is written and fdatasynced through the file\'s own', async () => {
    let refuse = false;
    const opens = refuseDsyncOpens(() => refuse);
    try {
      const log = await open();
      refuse = true;
      expect((await log.append(makeBatch(2, { tag: 'a' }))).baseOffset).toBe(0);
      expect((await log.append(makeBatch(1, { tag: 'b' }))).baseOffset).toBe(2);
      expect(opens.refused).toBe(2);
      refuse = false;
      expect((await log.append(makeBatch(1, { tag: 'c' }))).baseOffset).toBe(3);
      expect((await readAll(log)).map((x) => x.value)).toEqual(['a-0', 'a-1', 'b-0', 'c-0']);
      await log.close();
    } finally {
      opens.restore();
    }
    const reopened = await open({}, { clean: false });
    expect((await readAll(reopened)).map((x) => x.value)).toEqual(['a-0', 'a-1', 'b-0', 'c-0']);
    await reopened.close();
  });
});

describe('PartitionLog durable writes (flush.policy=always)', () => {
  /**
   * `nodeFileSystem` whose .log files report their writev, writevDurable and
   * datasync calls to `events`; `hold`, while set, delays every
   * writevDurable until it resolves; `fail`, once set, fails the next one.
   */
  function observed() {
    const state = {
      events: [] as string[],
      hold: undefined as Promise<void> | undefined,
      fail: undefined as NodeJS.ErrnoException | undefined,
    };
    const fileSystem: StorageFileSystem = {
      ...nodeFileSystem,
      async open(file: string, options?: { create?: boolean }) {
        const inner = await nodeFileSystem.open(file, options);
        if (!file.endsWith('.log')) return inner;
        const { writev, writevDurable, datasync } = { writev: inner.writev.bind(inner), writevDurable: inner.writevDurable!.bind(inner), datasync: inner.datasync.bind(inner) };
        inner.writev = (buffers, position) => {
          state.events.push('writev');
          return writev(buffers, position);
        };
        inner.datasync = () => {
          state.events.push('datasync');
          return datasync();
        };
        inner.writevDurable = async (buffers, position) => {
          state.events.push('writevDurable');
          if (state.hold) await state.hold;
          const failure = state.fail;
          state.fail = undefined;
          if (failure) throw storageError(failure, file, 'write');
          return writevDurable(buffers, position);
        };
        return inner;
      },
    };
    return { state, fileSystem };
  }

  it('writes a round with one durable write, and acknowledges and shows it only after that write', async () => {
    const { state, fileSystem } = observed();
    const log = await open({}, { fileSystem });
    await log.append(makeBatch(1, { tag: 'first' }));
    state.events.length = 0;
    let release!: () => void;
    state.hold = new Promise<void>((resolve) => (release = resolve));
    let acknowledged = false;
    const appended = log.append(makeBatch(2, { tag: 'held' })).then((r) => {
      acknowledged = true;
      return r;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(state.events).toEqual(['writevDurable']);
    expect(acknowledged).toBe(false);
    expect(log.highWatermark).toBe(1);
    expect((await log.read(1, 1 << 20)).data.length).toBe(0);
    state.hold = undefined;
    release();
    expect((await appended).baseOffset).toBe(1);
    expect(log.highWatermark).toBe(3);
    expect(state.events).toEqual(['writevDurable']);
    await log.close();
    const reopened = await open({}, { clean: false });
    expect((await readAll(reopened)).map((x) => x.value)).toEqual(['first-0', 'held-0', 'held-1']);
    await reopened.close();
  });

  it('fdatasyncs the whole file in the first round under always after rounds under another policy', async () => {
    const { state, fileSystem } = observed();
    const log = await open({ 'flush.policy': 'never' }, { fileSystem });
    await log.append(makeBatch(1));
    log.updateConfig(parseTopicConfig({ 'flush.policy': 'always' }));
    state.events.length = 0;
    await log.append(makeBatch(1));
    // (Preallocation may write and sync zeros first.)
    expect(state.events.slice(-2)).toEqual(['writev', 'datasync']);
    expect(state.events).not.toContain('writevDurable');
    state.events.length = 0;
    await log.append(makeBatch(1));
    expect(state.events).toEqual(['writevDurable']);
    await log.close();
  });

  it('undoes a durable write that failed for a full disk, and keeps working', async () => {
    const { state, fileSystem } = observed();
    const log = await open({}, { fileSystem });
    await log.append(makeBatch(1, { tag: 'ok' }));
    state.fail = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    expect(await codeOf(log.append(makeBatch(2)))).toBe('DISK_FULL');
    expect(log.highWatermark).toBe(1);
    expect((await log.append(makeBatch(1, { tag: 'after' }))).baseOffset).toBe(1);
    expect((await readAll(log)).map((x) => x.value)).toEqual(['ok-0', 'after-0']);
    await log.close();
  });

  it('takes the partition offline when a durable write fails otherwise (its flush may have failed)', async () => {
    const { state, fileSystem } = observed();
    const log = await open({}, { fileSystem });
    await log.append(makeBatch(1));
    state.fail = Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    expect(await codeOf(log.append(makeBatch(2)))).toBe('STORAGE_ERROR');
    expect(log.highWatermark).toBe(1);
    const refused = await log.append(makeBatch(1)).catch((e: unknown) => e);
    expect(isBrookError(refused, 'STORAGE_ERROR') && /offline/.test(refused.message)).toBe(true);
    await log.close();
  });
});

describe('PartitionLog reads from any offset', () => {
  it('returns the same whole batches from every offset whatever the index spacing, with headroom and a supplied allocator', async () => {
    // Batches larger than the 64 KiB scan window and small ones, a sparse index, maxBytes below and above a batch.
    const config = { 'index.interval.bytes': '200000' };
    let log = await open(config);
    const sizes = [1, 700, 3, 1, 900, 2, 1, 1, 650, 5];
    for (const [i, n] of sizes.entries()) await log.append(makeBatch(n, { tag: `r${i}`, valueBytes: 100 }));
    const allocated: number[] = [];
    const allocate = (size: number): Buffer => {
      allocated.push(size);
      return Buffer.alloc(size + 10, 0xee).subarray(0, size);
    };
    // First from the live log (its tail cache holds the last batches), then reopened (from disk): the same answers.
    const answers: Array<{ data: Buffer; nextOffset: number }> = [];
    for (const source of ['tail cache', 'disk']) {
      if (source === 'disk') {
        await log.close();
        log = await open(config);
      }
      const expected = decodeAll((await log.read(0, 1 << 30)).data);
      let answer = 0;
      for (let offset = 0; offset < log.highWatermark; offset += 13) {
        for (const maxBytes of [1, 40_000, 100_000, 1 << 20]) {
          const plain = await log.read(offset, maxBytes);
          const roomy = await log.read(offset, maxBytes, 50, allocate);
          expect(roomy.data.equals(plain.data)).toBe(true);
          expect(roomy.nextOffset).toBe(plain.nextOffset);
          expect(roomy.headroom).toBe(50);
          expect(roomy.data.byteOffset).toBeGreaterThanOrEqual(50);
          if (source === 'tail cache') {
            const records = decodeAll(plain.data);
            expect(records[0].offset).toBeLessThanOrEqual(offset);
            expect(records.some((x) => x.offset === offset)).toBe(true);
            expect(records).toEqual(expected.slice(expected.findIndex((x) => x.offset === records[0].offset), expected.findIndex((x) => x.offset === records[0].offset) + records.length));
            answers.push({ data: plain.data, nextOffset: plain.nextOffset });
          } else {
            const cached = answers[answer++];
            expect(plain.data.equals(cached.data)).toBe(true);
            expect(plain.nextOffset).toBe(cached.nextOffset);
          }
        }
      }
      expect(allocated.length).toBeGreaterThan(0);
      allocated.length = 0;
    }
    await log.close();
  });
});

describe('PartitionLog tail cache', () => {
  /** `nodeFileSystem` counting the reads of .log files. */
  function countingReads(): StorageFileSystem & { logReads: number } {
    const counted = {
      ...nodeFileSystem,
      logReads: 0,
      async open(file: string, options?: { create?: boolean }) {
        const inner = await nodeFileSystem.open(file, options);
        const read = inner.read.bind(inner);
        inner.read = (buffer, offset, length, position) => {
          if (file.endsWith('.log')) counted.logReads++;
          return read(buffer, offset, length, position);
        };
        return inner;
      },
    };
    return counted;
  }

  it('answers readers at the end of the log from memory, with the bytes on disk', async () => {
    const fileSystem = countingReads();
    const log = await open({ 'message.timestamp.type': 'LogAppendTime' }, { fileSystem });
    for (let i = 0; i < 20; i++) {
      const { baseOffset } = await log.append(makeBatch(3, { tag: `b${i}` }));
      // A reader waiting at the end gets the new batch without a disk read.
      expect(decodeAll((await log.read(baseOffset + 1, 1 << 20)).data).map((x) => x.value)).toEqual([`b${i}-0`, `b${i}-1`, `b${i}-2`]);
    }
    const reads = [];
    for (let offset = 0; offset < 60; offset += 5) {
      for (const [maxBytes, headroom] of [[1, 0], [300, 16], [1 << 20, 0]]) reads.push({ offset, maxBytes, headroom, result: await log.read(offset, maxBytes, headroom) });
    }
    expect(fileSystem.logReads).toBe(0);
    await log.close();
    const reopened = await open({ 'message.timestamp.type': 'LogAppendTime' });
    for (const { offset, maxBytes, headroom, result } of reads) {
      const fromDisk = await reopened.read(offset, maxBytes, headroom);
      expect(result.data.equals(fromDisk.data)).toBe(true);
      expect([result.firstOffset, result.nextOffset, result.headroom]).toEqual([fromDisk.firstOffset, fromDisk.nextOffset, fromDisk.headroom]);
    }
    await reopened.close();
  });

  it('reads from disk what has left the cache, and never serves past the high watermark', async () => {
    const fileSystem = countingReads();
    const log = await open({}, { fileSystem });
    // ~1.5 MiB in 24 batches of 64 KiB: the first ones leave the (256 KiB) cache.
    for (let i = 0; i < 24; i++) await log.append(makeBatch(1, { tag: `big${i}`, valueBytes: 64 * 1024 }));
    const fromStart = await readAll(log, 0, 256 * 1024);
    expect(fromStart.map((x) => x.value)).toEqual(Array.from({ length: 24 }, (_, i) => `big${i}-0`));
    expect(fileSystem.logReads).toBeGreaterThan(0);
    const reads = fileSystem.logReads;
    expect(decodeAll((await log.read(23, 1 << 20)).data).map((x) => x.offset)).toEqual([23]);
    expect(fileSystem.logReads).toBe(reads);
    // A batch being written is not in the cache, nor readable, until the high watermark passes it.
    const pending = log.append(makeBatch(2, { tag: 'late' }));
    expect((await log.read(24, 1 << 20)).data.length).toBe(0);
    await pending;
    expect(decodeAll((await log.read(24, 1 << 20)).data).map((x) => x.value)).toEqual(['late-0', 'late-1']);
    await log.close();
  });

  it('keeps serving the right bytes after a failed write was undone', async () => {
    const fileSystem = instrumentedFileSystem(nodeFileSystem);
    const log = await open({}, { fileSystem });
    await log.append(makeBatch(2, { tag: 'ok' }));
    fileSystem.failNextWrite = Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
    await expect(log.append(makeBatch(3, { tag: 'lost' }))).rejects.toMatchObject({ code: 'DISK_FULL' });
    await log.append(makeBatch(2, { tag: 'after' }));
    expect((await readAll(log)).map((x) => x.value)).toEqual(['ok-0', 'ok-1', 'after-0', 'after-1']);
    expect(decodeAll((await log.read(3, 1 << 20)).data).map((x) => x.value)).toEqual(['after-0', 'after-1']);
    await log.close();
  });

  it('holds at most 64 MiB across all the partitions of the process, and a closed log gives its share back', async () => {
    const fileSystem = countingReads();
    // Every batch is a small view into one 256 KiB ArrayBuffer, which it keeps
    // alive: the cache counts 256 KiB for each, the most one partition holds.
    // 64 MiB is 256 of them; 270 partitions append one each.
    const slab = new ArrayBuffer(256 * 1024);
    const viewOf = (bytes: Buffer, slot: number): Buffer => {
      const view = Buffer.from(slab, slot * 512, bytes.length);
      bytes.copy(view);
      return view;
    };
    const partitions = 270;
    const logs: PartitionLog[] = [];
    try {
      const opening = Array.from({ length: partitions }, (_, i) =>
        PartitionLog.open({ dir: path.join(dir, `p${i}`), topic: 't', partition: i, config: parseTopicConfig({ 'flush.policy': 'never' }), clock: clock(), logger: silentLogger, fileSystem, cleanShutdown: true }),
      );
      for (const opened of await Promise.allSettled(opening)) if (opened.status === 'fulfilled') logs.push(opened.value);
      expect(logs).toHaveLength(partitions);
      for (const [i, log] of logs.entries()) await log.append(viewOf(makeBatch(1, { tag: `p${i}` }), i));
      let fromMemory = 0;
      for (const [i, log] of logs.entries()) {
        const before = fileSystem.logReads;
        expect(decodeAll((await log.read(0, 1 << 20)).data).map((x) => x.value)).toEqual([`p${i}-0`]);
        if (fileSystem.logReads === before) fromMemory++;
      }
      expect(fromMemory).toBeLessThanOrEqual(256);
      expect(fromMemory).toBeGreaterThan(200);
    } finally {
      await Promise.all(logs.map((log) => log.close()));
    }
    const log = await PartitionLog.open({ dir: path.join(dir, 'last'), topic: 't', partition: 0, config: parseTopicConfig({ 'flush.policy': 'never' }), clock: clock(), logger: silentLogger, fileSystem, cleanShutdown: true });
    await log.append(viewOf(makeBatch(1, { tag: 'last' }), 300));
    const before = fileSystem.logReads;
    expect(decodeAll((await log.read(0, 1 << 20)).data).map((x) => x.value)).toEqual(['last-0']);
    expect(fileSystem.logReads).toBe(before);
    await log.close();
  });
});

describe('PartitionLog segments and retention', () => {
  it('rolls on segment.bytes and reads across segment boundaries', async () => {
    const log = await open({ 'segment.bytes': '1024', 'index.interval.bytes': '100' });
    for (let i = 0; i < 40; i++) await log.append(makeBatch(2, { tag: `b${i}`, valueBytes: 40 }));
    expect(log.segmentCount).toBeGreaterThan(5);
    const files = (await import('fs')).readdirSync(path.join(dir, 'p0')).filter((f) => f.endsWith('.log'));
    expect(files.length).toBe(log.segmentCount);
    expect(files.every((f) => /^\d{20}\.log$/.test(f))).toBe(true);
    // Every offset reads back with small and large maxBytes.
    for (let offset = 0; offset < 80; offset += 7) {
      const r = await log.read(offset, 1);
      const records = decodeAll(r.data);
      expect(records.some((x) => x.offset === offset)).toBe(true);
    }
    const big = await log.read(0, 1 << 20);
    expect(decodeAll(big.data).map((x) => x.offset)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(big.nextOffset).toBe(80);
    await log.close();
  });

  it('rolls on segment.ms using the injected clock', async () => {
    const c = clock();
    const log = await open({ 'segment.ms': '60000' }, { clock: c });
    await log.append(makeBatch(1));
    c.advance(30_000);
    await log.append(makeBatch(1));
    expect(log.segmentCount).toBe(1);
    c.advance(30_001);
    await log.append(makeBatch(1));
    expect(log.segmentCount).toBe(2);
    await log.close();
  });

  it('deletes sealed segments by retention.ms, advancing the log start offset', async () => {
    const c = clock();
    const log = await open({ 'retention.ms': '3600000', 'segment.ms': '1000' }, { clock: c });
    for (let i = 0; i < 4; i++) {
      await log.append(makeBatch(5, { timestampMs: c.nowMs() }));
      c.advance(1001);
    }
    await log.append(makeBatch(5, { timestampMs: c.nowMs() })); // rolls: 4 sealed + active
    expect(log.segmentCount).toBe(5);
    expect(await log.enforceRetention()).toBe(0);
    c.advance(3_600_000 - 2 * 1001); // the two oldest segments are now past retention, the third exactly at it
    expect(await log.enforceRetention()).toBe(2);
    expect(log.logStartOffset).toBe(10);
    expect(log.segmentCount).toBe(3);
    expect(await codeOf(log.read(9, 100))).toBe('OFFSET_OUT_OF_RANGE');
    expect(decodeAll((await log.read(10, 100)).data)[0].offset).toBe(10);
    c.advance(100 * 3_600_000);
    await log.enforceRetention();
    expect(log.segmentCount).toBe(1); // the active segment is never deleted
    expect(log.logStartOffset).toBe(20);
    await log.close();
    const reopened = await open();
    expect(reopened.logStartOffset).toBe(20);
    expect(reopened.highWatermark).toBe(25);
    await reopened.close();
  });

  it('deletes the oldest sealed segments by retention.bytes', async () => {
    const log = await open({ 'segment.bytes': '1024', 'retention.bytes': '3000' });
    for (let i = 0; i < 30; i++) await log.append(makeBatch(1, { valueBytes: 200 }));
    const before = log.sizeBytes;
    expect(before).toBeGreaterThan(3000);
    const deleted = await log.enforceRetention();
    expect(deleted).toBeGreaterThan(0);
    // Kafka's rule: delete the oldest segment only while what remains is still >= retention.bytes.
    expect(log.sizeBytes).toBeGreaterThanOrEqual(3000);
    expect(log.sizeBytes).toBeLessThan(3000 + 1024);
    expect(log.logStartOffset).toBeGreaterThan(0);
    expect((await readAll(log)).map((x) => x.offset)).toEqual(Array.from({ length: 30 - log.logStartOffset }, (_, i) => i + log.logStartOffset));
    await log.close();
  });

  it('moves the log start offset with deleteRecordsBefore, deleting whole segments below it', async () => {
    const log = await open({ 'segment.bytes': '1024' });
    for (let i = 0; i < 20; i++) await log.append(makeBatch(1, { valueBytes: 200 }));
    const segments = log.segmentCount;
    await log.deleteRecordsBefore(9);
    expect(log.logStartOffset).toBe(9);
    expect(log.segmentCount).toBeLessThan(segments);
    expect(await codeOf(log.read(8, 100))).toBe('OFFSET_OUT_OF_RANGE');
    expect((await readAll(log))[0].offset).toBe(9);
    await log.deleteRecordsBefore(3); // below the start: no-op
    expect(log.logStartOffset).toBe(9);
    expect(await codeOf(log.deleteRecordsBefore(21))).toBe('OFFSET_OUT_OF_RANGE');
    expect(await codeOf(log.deleteRecordsBefore(-1))).toBe('OFFSET_OUT_OF_RANGE');
    await log.deleteRecordsBefore(20);
    expect(log.logStartOffset).toBe(20);
    expect((await log.read(20, 10)).data.length).toBe(0);
    await log.close();
  });

  it('does not pull a segment from under an in-flight read', async () => {
    const c = clock();
    const log = await open({ 'segment.bytes': '1024', 'retention.bytes': '0' }, { clock: c });
    for (let i = 0; i < 10; i++) await log.append(makeBatch(1, { valueBytes: 300 }));
    const reading = log.read(0, 1 << 20); // holds the first segment across awaits
    const retention = log.enforceRetention();
    const r = await reading;
    expect(decodeAll(r.data)[0].offset).toBe(0);
    expect(await retention).toBeGreaterThan(0);
    expect(log.logStartOffset).toBeGreaterThan(0);
    await log.close();
  });
});

describe('PartitionLog offsetForTimestamp', () => {
  it('finds the first offset whose timestamp is >= the target, across segments', async () => {
    const log = await open({ 'segment.bytes': '1024', 'index.interval.bytes': '64' });
    const t0 = 1_700_000_000_000;
    // Batch i holds records with timestamps t0 + 10*i + j, j = 0..2.
    for (let i = 0; i < 40; i++) {
      const records = [0, 1, 2].map((j) => ({ value: Buffer.alloc(20, j), timestampMs: t0 + 10 * i + j }));
      await log.append(encodeRecordBatch(records, { baseTimestampMs: t0 }));
    }
    expect(log.segmentCount).toBeGreaterThan(2);
    for (let i = 0; i < 40; i++) {
      for (const j of [0, 1, 2]) expect(await log.offsetForTimestamp(t0 + 10 * i + j)).toEqual({ offset: 3 * i + j, timestampMs: t0 + 10 * i + j });
      expect(await log.offsetForTimestamp(t0 + 10 * i + 5)).toEqual(i === 39 ? null : { offset: 3 * (i + 1), timestampMs: t0 + 10 * (i + 1) });
    }
    expect(await log.offsetForTimestamp(0)).toEqual({ offset: 0, timestampMs: t0 });
    expect(await log.offsetForTimestamp(t0 + 10_000)).toBeNull();
    await log.close();
    const reopened = await open({ 'segment.bytes': '1024', 'index.interval.bytes': '64' });
    expect(await reopened.offsetForTimestamp(t0 + 10 * 17 + 2)).toEqual({ offset: 53, timestampMs: t0 + 172 });
    await reopened.close();
  });
});
