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

/** Batches per second: the best of ROUNDS timed rounds, so that noise from other processes on a shared machine drops out. */
function measure(fn: () => unknown): number {
  for (let i = 0; i < 50; i++) fn();
  let best = 0;
  for (let round = 0; round < ROUNDS; round++) {
    let iterations = 0;
    const start = process.hrtime.bigint();
    let elapsedNs = 0n;
    while (elapsedNs < BigInt(ROUND_MS) * 1_000_000n) {
      for (let i = 0; i < 10; i++) fn();
      iterations += 10;
      elapsedNs = process.hrtime.bigint() - start;
    }
    best = Math.max(best, iterations / (Number(elapsedNs) / 1e9));
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
  const withHeaders = records.map((r, i) => ({ ...r, headers: [{ key: 'trace-id', value: Buffer.from(String(i)) }] }));
  const batch = encodeRecordBatch(records);
  const bytes = batch.length;

  const rows: Array<[string, number, number]> = [];
  const run = (name: string, perRecord: number, fn: () => unknown) => {
    const batchesPerS = measure(fn);
    rows.push([name, batchesPerS * perRecord, batchesPerS * bytes]);
  };

  run('encode', RECORDS, () => encodeRecordBatch(records, { baseTimestampMs: 1 }));
  run('encode, 1 header each', RECORDS, () => encodeRecordBatch(withHeaders, { baseTimestampMs: 1 }));
  run('validate (CRC + framing)', RECORDS, () => validateRecordBatch(batch, 0, bytes));
  run('CRC-32C alone', RECORDS, () => crc32c(batch, 21, bytes));
  run('readBatchHeader', RECORDS, () => readBatchHeader(batch));
  run('decode (views)', RECORDS, () => decodeRecordBatch(batch));
  run('decode (copy)', RECORDS, () => decodeRecordBatch(batch, 0, { copy: true }));
  let sink = 0;
  run('forEachRecord (views)', RECORDS, () => forEachRecord(batch, 0, (r) => (sink += r.offset)));

  console.log(`${RECORDS} records x ${VALUE_BYTES} B values, batch ${bytes} bytes; node ${process.version}`);
  console.log('operation'.padEnd(28) + 'records/s'.padStart(16) + 'MB/s'.padStart(12));
  for (const [name, recordsPerS, bytesPerS] of rows) {
    console.log(name.padEnd(28) + (recordsPerS / 1e6).toFixed(2).padStart(14) + ' M' + (bytesPerS / 1e6).toFixed(0).padStart(12));
  }
  if (sink === -1) console.log(sink);
}

main();
