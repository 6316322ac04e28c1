/**
 * Storage engine benchmark (`make bench`, or after a build:
 * `node dist/bench/storage-bench.js`). Scratch data lives under os.tmpdir()
 * and is removed at the end. BENCH_LOG_MIB (default 1024) sets the size of
 * the log used for the read and recovery figures.
 *
 * In one run, on the same bytes (100-byte values; batches of 1, 100 and
 * 1000 records):
 * - append throughput with flush.policy=never and =always, next to a raw
 *   positional fs write of the same byte stream with the same fsync cadence;
 * - fdatasyncs per append with 8 concurrent appenders under always;
 * - sequential read throughput from offset 0 with CRC checking;
 * - recovery time of an unclean stop (whole log past the checkpoint) with
 *   1 GiB and with 64 MiB segments;
 * - index memory per GiB of log.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { encodeRecordBatch } from '../src/record';
import { LogManager, nodeFileSystem, type StorageFileSystem } from '../src/storage';

const LOG_MIB = Number(process.env.BENCH_LOG_MIB ?? 1024);
const VALUE = Buffer.alloc(100, 'v');
const NO_TIMERS = { retentionCheckIntervalMs: 0, recoveryCheckpointIntervalMs: 0, flushCheckIntervalMs: 0 };

function batchOf(records: number): Buffer {
  return encodeRecordBatch(Array.from({ length: records }, () => ({ value: VALUE })), { baseTimestampMs: Date.now() });
}

function counting(base: StorageFileSystem): StorageFileSystem & { datasyncs: number } {
  const fsx = {
    ...base,
    datasyncs: 0,
    async open(file: string, options?: { create?: boolean }) {
      const inner = await base.open(file, options);
      return {
        path: inner.path,
        read: inner.read.bind(inner),
        writev: inner.writev.bind(inner),
        truncate: inner.truncate.bind(inner),
        size: inner.size.bind(inner),
        close: inner.close.bind(inner),
        datasync: () => {
          fsx.datasyncs++;
          return inner.datasync();
        },
      };
    },
  };
  return fsx;
}

interface Row {
  [column: string]: string | number;
}
const rows: Row[] = [];
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function scratch(): Promise<string> {
  return fs.promises.mkdtemp(path.join(os.tmpdir(), 'brook-bench-'));
}

/** Raw limit: positional writes of the same bytes, fdatasync after each when `sync`. */
async function rawAppend(template: Buffer, count: number, sync: boolean): Promise<number> {
  const dir = await scratch();
  const fd = fs.openSync(path.join(dir, 'raw.log'), 'w');
  const start = process.hrtime.bigint();
  let position = 0;
  for (let i = 0; i < count; i++) {
    const copy = Buffer.from(template); // the engine appends copies too (it stamps in place)
    await new Promise<void>((resolve, reject) => fs.write(fd, copy, 0, copy.length, position, (e) => (e ? reject(e) : resolve())));
    position += copy.length;
    if (sync) await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  fs.closeSync(fd);
  await fs.promises.rm(dir, { recursive: true, force: true });
  return seconds;
}

async function engineAppend(template: Buffer, count: number, policy: 'never' | 'always', appenders = 1): Promise<{ seconds: number; datasyncs: number }> {
  const dir = await scratch();
  const fileSystem = counting(nodeFileSystem);
  const manager = await LogManager.open({ dataDir: dir, fileSystem, ...NO_TIMERS });
  await manager.createTopic('bench', 1, { 'flush.policy': policy });
  const log = manager.partition('bench', 0);
  const before = fileSystem.datasyncs;
  const start = process.hrtime.bigint();
  let next = 0;
  await Promise.all(
    Array.from({ length: appenders }, async () => {
      while (next++ < count) await log.append(Buffer.from(template));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const datasyncs = fileSystem.datasyncs - before;
  await manager.close();
  await fs.promises.rm(dir, { recursive: true, force: true });
  return { seconds, datasyncs };
}

async function appendFigures(): Promise<void> {
  for (const records of [1, 100, 1000]) {
    const template = batchOf(records);
    for (const policy of ['never', 'always'] as const) {
      // Enough appends for ~2 s under never; always is bounded by fdatasync latency.
      const count = policy === 'never' ? Math.max(200, Math.floor((256 * 1024 * 1024) / template.length / (records === 1 ? 8 : 1))) : Math.max(50, Math.min(2000, Math.floor((64 * 1024 * 1024) / template.length)));
      const engine = await engineAppend(template, count, policy);
      const raw = await rawAppend(template, count, policy === 'always');
      const mb = (count * template.length) / 1e6;
      rows.push({
        figure: `append ${policy}`,
        'records/batch': records,
        appends: count,
        'engine records/s': fmt((count * records) / engine.seconds),
        'engine MB/s': fmt(mb / engine.seconds, 1),
        'raw MB/s': fmt(mb / raw, 1),
        'engine/raw': `${fmt((100 * raw) / engine.seconds)}%`,
      });
    }
  }
}

async function groupCommitFigure(): Promise<void> {
  for (const records of [1, 100]) {
    const template = batchOf(records);
    const count = 4000;
    const engine = await engineAppend(template, count, 'always', 8);
    rows.push({
      figure: 'always, 8 appenders',
      'records/batch': records,
      appends: count,
      'engine records/s': fmt((count * records) / engine.seconds),
      fdatasyncs: engine.datasyncs,
      'appends per fdatasync': fmt(count / engine.datasyncs, 1),
    });
  }
}

/** Builds a LOG_MIB log of 1000-record batches under flush.policy=never. */
async function buildLog(dir: string, segmentBytes: number): Promise<{ manager: LogManager; bytes: number }> {
  const manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
  await manager.createTopic('bench', 1, { 'flush.policy': 'never', 'segment.bytes': String(segmentBytes) });
  const log = manager.partition('bench', 0);
  const template = batchOf(1000);
  const target = LOG_MIB * 1024 * 1024;
  const pending: Promise<unknown>[] = [];
  while (log.logEndOffset / 1000 * template.length < target) {
    pending.push(log.append(Buffer.from(template)));
    if (pending.length >= 64) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await log.flush();
  return { manager, bytes: log.sizeBytes };
}

async function readAndRecoveryFigures(): Promise<void> {
  for (const segmentMiB of [1024, 64]) {
    const dir = await scratch();
    const { manager, bytes } = await buildLog(dir, Math.min(segmentMiB * 1024 * 1024, 2_147_483_647));
    if (segmentMiB === 1024) {
      const log = manager.partition('bench', 0);
      // Warm the page cache once, then measure.
      for (let pass = 0; pass < 2; pass++) {
        let offset = 0;
        let total = 0;
        const start = process.hrtime.bigint();
        while (offset < log.highWatermark) {
          const r = await log.read(offset, 1024 * 1024);
          total += r.data.length;
          offset = r.nextOffset;
        }
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        if (pass === 1) rows.push({ figure: 'sequential read, CRC on', 'log MiB': fmt(bytes / 2 ** 20), 'MB/s': fmt(total / 1e6 / seconds, 0), 'fetch size': '1 MiB' });
      }
      const partitionDir = path.join(dir, 'topics', 'bench', '0');
      await manager.close();
      let indexBytes = 0;
      for (const name of fs.readdirSync(partitionDir)) if (name.endsWith('.index') || name.endsWith('.timeindex')) indexBytes += fs.statSync(path.join(partitionDir, name)).size;
      rows.push({ figure: 'index memory per GiB', 'log MiB': fmt(bytes / 2 ** 20), 'index KiB per GiB': fmt(indexBytes / 1024 / (bytes / 2 ** 30), 0), note: 'index.interval.bytes=4096, 1000-record batches' });
    } else {
      await manager.close();
    }
    // An unclean stop with nothing checkpointed: the whole log is the tail to re-validate.
    const partitionDir = path.join(dir, 'topics', 'bench', '0');
    fs.rmSync(path.join(dir, '.clean-shutdown'));
    fs.rmSync(path.join(partitionDir, 'partition.checkpoint'));
    const start = process.hrtime.bigint();
    const reopened = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    rows.push({ figure: `recovery, ${segmentMiB} MiB segments`, 'log MiB': fmt(bytes / 2 ** 20), seconds: fmt(seconds, 2), 'GB/s': fmt(bytes / 1e9 / seconds, 2) });
    await reopened.close();
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  console.log(`storage bench: node ${process.version}, ${os.cpus().length} cores, log ${LOG_MIB} MiB, scratch ${os.tmpdir()}`);
  await appendFigures();
  await groupCommitFigure();
  await readAndRecoveryFigures();
  for (const row of rows) console.log(Object.entries(row).map(([k, v]) => `${k}=${v}`).join('  '));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
