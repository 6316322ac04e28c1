/**
 * Idempotent producer state in the partition log: duplicates of the last 5
 * batches answered with their original offsets, gaps and fenced epochs
 * refused, state rebuilt after clean and unclean restarts and from the log
 * when a snapshot is damaged.
 */
import fs from 'fs';
import path from 'path';
import { ManualClock } from '../../src/common/clock';
import { isBrookError } from '../../src/common/errors';
import { encodeRecordBatch, readBatchHeader } from '../../src/record';
import { PartitionLog, ProducerIdManager, nodeFileSystem, parseTopicConfig, type StorageFileSystem } from '../../src/storage';
import { silentLogger } from '../../src/storage/logger';
import { ProducerStateManager, isNextSequence, lastSequenceOf } from '../../src/storage/producer-state';
import { decodeAll, makeRecord, makeTempDir, removeDir, wrapFileSystem } from '../helpers/storage';

let dir: string;
const partitionDir = (): string => path.join(dir, 'p0');

beforeEach(async () => {
  dir = await makeTempDir('brook-producer-state-');
});
afterEach(async () => {
  await removeDir(dir);
});

function open(options: { clean?: boolean; config?: Record<string, string>; fileSystem?: StorageFileSystem } = {}): Promise<PartitionLog> {
  return PartitionLog.open({
    dir: partitionDir(),
    topic: 't',
    partition: 0,
    config: parseTopicConfig(options.config ?? {}),
    clock: new ManualClock(1_700_000_000_000),
    logger: silentLogger,
    fileSystem: options.fileSystem ?? nodeFileSystem,
    cleanShutdown: options.clean ?? true,
  });
}

/** A batch of `count` records from producer `pid` at `epoch` starting at sequence `seq`. */
function batch(pid: number, epoch: number, seq: number, count = 2, tag = `p${pid}e${epoch}s${seq}`): Buffer {
  const records = Array.from({ length: count }, (_, i) => makeRecord(`${tag}-${i}`));
  return encodeRecordBatch(records, { baseTimestampMs: 1_700_000_000_000, producerId: pid, producerEpoch: epoch, baseSequence: seq });
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (e) {
    return isBrookError(e) ? e.code : `not a BrookError: ${String(e)}`;
  }
  return undefined;
}

async function values(log: PartitionLog): Promise<string[]> {
  const r = await log.read(log.logStartOffset, 1 << 24);
  return decodeAll(r.data).map((x) => x.value);
}

function snapshots(): string[] {
  return fs.readdirSync(partitionDir()).filter((n) => n.endsWith('.snapshot')).sort();
}

describe('sequence arithmetic', () => {
  it('wraps int32 sequences as Kafka does', () => {
    expect(lastSequenceOf(0, 1)).toBe(0);
    expect(lastSequenceOf(10, 5)).toBe(14);
    expect(lastSequenceOf(2147483646, 3)).toBe(0);
    expect(lastSequenceOf(2147483647, 1)).toBe(2147483647);
    expect(isNextSequence(2147483647, 0)).toBe(true);
    expect(isNextSequence(4, 5)).toBe(true);
    expect(isNextSequence(4, 6)).toBe(false);
  });
});

describe('duplicate detection', () => {
  it('answers a retry of any of the last 5 batches with its original offsets and writes nothing', async () => {
    const log = await open();
    const first: number[] = [];
    for (let i = 0; i < 6; i++) first.push((await log.append(batch(7, 0, i * 2))).baseOffset);
    const end = log.logEndOffset;
    // Batches 1..5 are remembered; each retry gets its original base offset.
    for (let i = 1; i < 6; i++) {
      const again = await log.append(batch(7, 0, i * 2));
      expect(again.baseOffset).toBe(first[i]);
      expect(again.lastOffset).toBe(first[i] + 1);
    }
    expect(log.logEndOffset).toBe(end);
    // The oldest one has left the window: refused, not written.
    expect(await codeOf(log.append(batch(7, 0, 0)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect(log.logEndOffset).toBe(end);
    await log.close();
  });

  it('lets only one of two concurrent copies of a batch be written', async () => {
    const log = await open();
    const [a, b] = await Promise.all([log.append(batch(3, 0, 0, 4)), log.append(batch(3, 0, 0, 4))]);
    expect(a.baseOffset).toBe(0);
    expect(b.baseOffset).toBe(0);
    expect(log.logEndOffset).toBe(4);
    expect(await values(log)).toHaveLength(4);
    await log.close();
  });

  it('leaves batches without a producer id alone', async () => {
    const log = await open();
    const plain = encodeRecordBatch([makeRecord('x')], { baseTimestampMs: 1 });
    await log.append(Buffer.from(plain));
    await log.append(Buffer.from(plain));
    expect(log.logEndOffset).toBe(2);
    expect(log.producerState.producerCount).toBe(0);
    await log.close();
  });

  it('keeps producers apart', async () => {
    const log = await open();
    await log.append(batch(1, 0, 0));
    await log.append(batch(2, 0, 0));
    expect((await log.append(batch(1, 0, 0))).baseOffset).toBe(0);
    expect((await log.append(batch(2, 0, 0))).baseOffset).toBe(2);
    await log.close();
  });
});

describe('refusals', () => {
  it('refuses a gap with OUT_OF_ORDER_SEQUENCE and writes nothing', async () => {
    const log = await open();
    await log.append(batch(9, 0, 0, 3));
    const error = await log.append(batch(9, 0, 5)).catch((e: unknown) => e);
    expect(isBrookError(error, 'OUT_OF_ORDER_SEQUENCE')).toBe(true);
    expect((error as Error).message).toMatch(/expected 3/);
    expect(log.logEndOffset).toBe(3);
    expect((await log.append(batch(9, 0, 3))).baseOffset).toBe(3);
    await log.close();
  });

  it('refuses a producer it knows nothing of unless it starts at 0 (UNKNOWN_PRODUCER_ID)', async () => {
    const log = await open();
    expect(await codeOf(log.append(batch(11, 0, 4)))).toBe('UNKNOWN_PRODUCER_ID');
    expect(log.logEndOffset).toBe(0);
    await log.close();
  });

  it('fences an older epoch, and a newer epoch must start at 0', async () => {
    const log = await open();
    await log.append(batch(5, 0, 0));
    expect(await codeOf(log.append(batch(5, 1, 2)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect((await log.append(batch(5, 1, 0))).baseOffset).toBe(2);
    expect(await codeOf(log.append(batch(5, 0, 2)))).toBe('PRODUCER_FENCED');
    // Even a retry of the old epoch's batch is fenced now.
    expect(await codeOf(log.append(batch(5, 0, 0)))).toBe('PRODUCER_FENCED');
    expect(log.logEndOffset).toBe(4);
    await log.close();
  });

  it('accepts the sequence after 2^31-1 as 0', () => {
    const state = new ProducerStateManager({ dir, topic: 't', partition: 0, fileSystem: nodeFileSystem, logger: silentLogger });
    const atEnd = readBatchHeader(batch(4, 0, 2147483646, 2), 0);
    state.applyFromLog({ ...atEnd, baseOffset: 10, lastOffset: 11 }, 0);
    expect(state.check(readBatchHeader(batch(4, 0, 0, 3), 0))).toMatchObject({ kind: 'new', firstSeq: 0, lastSeq: 2 });
    expect(state.check(readBatchHeader(batch(4, 0, 2147483646, 2), 0))).toMatchObject({ kind: 'duplicate' });
    expect(() => state.check(readBatchHeader(batch(4, 0, 1, 1), 0))).toThrow(/expected 0/);
  });
});

describe('state across restarts', () => {
  async function writeSome(log: PartitionLog): Promise<number[]> {
    const offsets: number[] = [];
    for (let i = 0; i < 4; i++) offsets.push((await log.append(batch(21, 0, i * 2))).baseOffset);
    return offsets;
  }

  it('is restored after a clean close (from the snapshot, nothing scanned)', async () => {
    let log = await open();
    const offsets = await writeSome(log);
    await log.close();
    expect(snapshots()).toEqual([`${String(8).padStart(20, '0')}.snapshot`]);
    log = await open({ clean: true });
    expect((await log.append(batch(21, 0, 6))).baseOffset).toBe(offsets[3]);
    expect(await codeOf(log.append(batch(21, 0, 10)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect((await log.append(batch(21, 0, 8))).baseOffset).toBe(8);
    await log.close();
  });

  it('is rebuilt from the log after an unclean stop (no snapshot)', async () => {
    let log = await open();
    const offsets = await writeSome(log);
    await log.closeForDeletion(); // no snapshot, no checkpoint: like a crash
    expect(snapshots()).toEqual([]);
    log = await open({ clean: false });
    expect((await log.append(batch(21, 0, 2))).baseOffset).toBe(offsets[1]);
    expect(await codeOf(log.append(batch(21, 0, 9)))).toBe('OUT_OF_ORDER_SEQUENCE');
    expect((await log.append(batch(21, 0, 8))).baseOffset).toBe(8);
    expect(await values(log)).toHaveLength(10);
    await log.close();
  });

  it('uses the roll snapshot plus the log after it, across segments, after an unclean stop', async () => {
    let log = await open({ config: { 'segment.bytes': '1024' } });
    const offsets: number[] = [];
    for (let i = 0; i < 30; i++) offsets.push((await log.append(batch(31 + (i % 2), 0, Math.floor(i / 2) * 3, 3, `r${i}`))).baseOffset);
    expect(log.segmentCount).toBeGreaterThan(2);
    expect(snapshots().length).toBeGreaterThan(0);
    await log.closeForDeletion();
    log = await open({ clean: false, config: { 'segment.bytes': '1024' } });
    // The last 5 batches of each producer are recognised.
    for (let i = 20; i < 30; i++) expect((await log.append(batch(31 + (i % 2), 0, Math.floor(i / 2) * 3, 3, `r${i}`))).baseOffset).toBe(offsets[i]);
    expect((await log.append(batch(31, 0, 45, 3))).baseOffset).toBe(90);
    await log.close();
  });

  it('rebuilds from the log when the snapshot is corrupt', async () => {
    let log = await open();
    const offsets = await writeSome(log);
    await log.close();
    const [name] = snapshots();
    const file = path.join(partitionDir(), name);
    const bytes = fs.readFileSync(file);
    bytes[bytes.length - 5] ^= 0xff;
    fs.writeFileSync(file, bytes);
    log = await open({ clean: true });
    expect(snapshots()).toEqual([]); // the damaged snapshot is gone
    expect((await log.append(batch(21, 0, 4))).baseOffset).toBe(offsets[2]);
    expect((await log.append(batch(21, 0, 8))).baseOffset).toBe(8);
    await log.close();
  });

  it('answers a retry after a restart with the original append time under LogAppendTime', async () => {
    const config = { 'message.timestamp.type': 'LogAppendTime' };
    const early = encodeRecordBatch([makeRecord('a')], { baseTimestampMs: 5, producerId: 41, producerEpoch: 0, baseSequence: 0 });
    let log = await open({ config });
    const first = await log.append(Buffer.from(early));
    expect(first.logAppendTimeMs).toBe(1_700_000_000_000); // the clock of open()
    await log.close();
    log = await open({ clean: true, config });
    expect(await log.append(Buffer.from(early))).toEqual(first);
    await log.close();
  });

  it('ignores a snapshot beyond the end of a log a crash cut short', async () => {
    let log = await open();
    await writeSome(log);
    await log.close();
    // Pretend the snapshot describes more than the log holds.
    const [name] = snapshots();
    fs.renameSync(path.join(partitionDir(), name), path.join(partitionDir(), `${String(50).padStart(20, '0')}.snapshot`));
    log = await open({ clean: false });
    expect(snapshots()).toEqual([]);
    expect((await log.append(batch(21, 0, 6))).baseOffset).toBe(6);
    await log.close();
  });
});

describe('a failed write after a roll', () => {
  it('takes back the roll snapshot, so a retry after a later unclean stop gets its own offsets', async () => {
    const config = { 'segment.bytes': '4096' };
    let failNewSegment = false;
    const fileSystem = wrapFileSystem(nodeFileSystem, {
      writev(file, buffers, position, write) {
        if (!failNewSegment || !file.endsWith('.log') || path.basename(file) === `${'0'.repeat(20)}.log`) return write(buffers, position);
        failNewSegment = false;
        return Promise.reject(Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }));
      },
    });
    const big = (seq: number): Buffer => encodeRecordBatch([makeRecord(`big-${seq}`, 300)], { baseTimestampMs: 1_700_000_000_000, producerId: 7, producerEpoch: 0, baseSequence: seq });
    let log = await open({ config, fileSystem });
    let seq = 0;
    while (log.sizeBytes + 3 * big(0).length < 4096) await log.append(big(seq++));
    const end = log.highWatermark;

    // One round: two batches fit the old segment, the third rolls (snapshot at its base offset) and its write fails.
    failNewSegment = true;
    const round = await Promise.allSettled([0, 1, 2, 3].map((i) => log.append(big(seq + i))));
    expect(round.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect(log.highWatermark).toBe(end);
    expect(snapshots().filter((name) => Number(name.slice(0, 20)) > end)).toEqual([]);

    // The producer resends from `seq` (one record each), after someone else's batch: the log grows past the old roll offset.
    await log.append(encodeRecordBatch([makeRecord('anonymous')], { baseTimestampMs: 1_700_000_000_000 }));
    const acked: number[] = [];
    for (let i = 0; i < 3; i++) acked.push((await log.append(batch(7, 0, seq + i, 1))).baseOffset);
    expect(acked).toEqual([end + 1, end + 2, end + 3]);
    await log.closeForDeletion(); // like a crash: no clean-close snapshot

    log = await open({ clean: false, config, fileSystem });
    for (let i = 0; i < 3; i++) expect((await log.append(batch(7, 0, seq + i, 1))).baseOffset).toBe(acked[i]);
    expect((await log.append(batch(7, 0, seq + 3, 1))).baseOffset).toBe(end + 4);
    await log.close();
  });

  it('ignores a batch from the log that does not follow the last one kept', async () => {
    const state = new ProducerStateManager({ dir: partitionDir(), topic: 't', partition: 0, fileSystem: nodeFileSystem, logger: silentLogger });
    const header = (baseOffset: number, seq: number): ReturnType<typeof readBatchHeader> => {
      const b = batch(9, 0, seq, 1);
      b.writeBigInt64BE(BigInt(baseOffset), 0);
      return readBatchHeader(b);
    };
    state.applyFromLog(header(10, 0), 0);
    state.applyFromLog(header(11, 1), 0);
    state.applyFromLog(header(11, 2), 0); // offsets not above the last kept
    state.applyFromLog(header(5, 2), 0);
    expect(state.batchesOf(9)?.batches.map((b) => [b.firstSeq, b.baseOffset])).toEqual([[0, 10], [1, 11]]);
  });
});

describe('ProducerIdManager', () => {
  it('answers a retried epoch bump (its reply was lost) with the epoch it handed out, and fences older epochs', async () => {
    const manager = await ProducerIdManager.open(nodeFileSystem, dir, silentLogger);
    const { producerId } = await manager.initProducerId();
    expect(await manager.initProducerId(producerId, 0)).toEqual({ producerId, producerEpoch: 1 });
    expect(await manager.initProducerId(producerId, 0)).toEqual({ producerId, producerEpoch: 1 });
    expect(await manager.initProducerId(producerId, 1)).toEqual({ producerId, producerEpoch: 2 });
    await expect(manager.initProducerId(producerId, 0)).rejects.toMatchObject({ code: 'PRODUCER_FENCED', message: expect.stringContaining('epoch 2 was handed out since') });
    // At the largest epoch the id is replaced; a retry of that request gets the same new id.
    const replaced = await manager.initProducerId(producerId, 0x7fff);
    expect(replaced.producerId).not.toBe(producerId);
    expect(replaced.producerEpoch).toBe(0);
    expect(await manager.initProducerId(producerId, 0x7fff)).toEqual(replaced);
    await expect(manager.initProducerId(producerId, 2)).rejects.toMatchObject({ code: 'PRODUCER_FENCED' });
  });

  it('never hands out an id twice across restarts and bumps epochs', async () => {
    const a = await ProducerIdManager.open(nodeFileSystem, dir, silentLogger);
    const first = await Promise.all(Array.from({ length: 5 }, () => a.initProducerId()));
    expect(new Set(first.map((x) => x.producerId)).size).toBe(5);
    expect(first.every((x) => x.producerEpoch === 0)).toBe(true);
    expect(await a.initProducerId(first[0].producerId, 0)).toEqual({ producerId: first[0].producerId, producerEpoch: 1 });
    expect(await a.initProducerId(first[0].producerId, 1)).toEqual({ producerId: first[0].producerId, producerEpoch: 2 });
    await expect(a.initProducerId(first[0].producerId, 0)).rejects.toMatchObject({ code: 'PRODUCER_FENCED' });
    await expect(a.initProducerId(999_999, 0)).rejects.toMatchObject({ code: 'UNKNOWN_PRODUCER_ID' });
    const b = await ProducerIdManager.open(nodeFileSystem, dir, silentLogger);
    const next = await b.initProducerId();
    expect(Math.min(...first.map((x) => x.producerId))).toBeLessThan(next.producerId);
    expect(first.map((x) => x.producerId)).not.toContain(next.producerId);
  });
});
