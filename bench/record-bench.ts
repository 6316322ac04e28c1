/**
 * RecordBatch v2 codec throughput on a batch of 1000 records with 8-byte
 * keys and 100-byte values (about 118 KB):
 *   encode, validate (CRC + record framing), header-only read, decode,
 *   forEachRecord.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/record-bench.js
 */
import {
  decodeRecordBatch,
  encodeRecordBatch,
  forEachRecord,
  readBatchHeader,
  validateRecordBatch,
  type RecordInput,
} from '../src/record';
import { crc32c } from '../src/record/crc32c';

const RECORDS = 1000;
const VALUE_BYTES = 100;
const ROUNDS = 7;
const ROUND_MS = 250;

/**
 * Batches per second of CPU time: the best of ROUNDS rounds. CPU time
 * (process.cpuUsage) rather than wall time, and the best round rather than
 * the mean, so that other processes on a shared machine do not skew it.
 */
function measure(fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn();
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let iterations = 0;
    const startCpu = process.cpuUsage();
    let cpuMicros = 0;
    while (cpuMicros < ROUND_MS * 1000) {
      for (let i = 0; i < 10; i++) fn();
      iterations += 10;
      const used = process.cpuUsage(startCpu);
      cpuMicros = used.user + used.system;
    }
    best = Math.max(best, iterations / (cpuMicros / 1e6));
  }
  return best;
}

function main(): void {
  const records: RecordInput[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const value = Buffer.alloc(VALUE_BYTES);
    for (let j = 0; j < VALUE_BYTES; j++) value[j] = (i + j) & 0xff;
    records.push({ key: Buffer.from(String(i).padStart(8, '0')), value, timestampMs: 1_700_000_000_000 + (i >> 4) });
  }
  // Built as literals: records made with object spread ({ ...r, headers })
  // were measured to encode about 4x slower (V8 gives them other hidden classes).
  const withHeaders: RecordInput[] = records.map((r, i) => ({
    key: r.key,
    value: r.value,
    timestampMs: r.timestampMs,
    headers: [{ key: 'trace-id', value: Buffer.from(String(i)) }],
  }));
  const batch = encodeRecordBatch(records);
  const bytes = batch.length;

  const rows: Array<[string, number]> = [];
  const run = (name: string, fn: () => unknown) => rows.push([name, measure(fn)]);

  run('encode', () => encodeRecordBatch(records, { baseTimestampMs: 1 }));
  run('encode, 1 header each', () => encodeRecordBatch(withHeaders, { baseTimestampMs: 1 }));
  run('validate (CRC + framing)', () => validateRecordBatch(batch, 0, bytes));
  run('CRC-32C alone', () => crc32c(batch, 21, bytes));
  run('readBatchHeader', () => readBatchHeader(batch));
  run('decode (views)', () => decodeRecordBatch(batch));
  run('decode (copy)', () => decodeRecordBatch(batch, 0, { copy: true }));
  let sink = 0;
  run('forEachRecord (views)', () => forEachRecord(batch, 0, (r) => (sink += r.offset)));

  console.log(`${RECORDS} records x ${VALUE_BYTES} B values, batch ${bytes} bytes; node ${process.version}`);
  console.log('operation'.padEnd(28) + 'µs/batch'.padStart(10) + 'records/s'.padStart(14) + 'MB/s'.padStart(10));
  for (const [name, batchesPerS] of rows) {
    console.log(
      name.padEnd(28) +
        (1e6 / batchesPerS).toFixed(2).padStart(10) +
        ((batchesPerS * RECORDS) / 1e6).toFixed(2).padStart(12) + ' M' +
        ((batchesPerS * bytes) / 1e6).toFixed(0).padStart(10),
    );
  }
  if (sink === -1) console.log(sink);
}

main();
