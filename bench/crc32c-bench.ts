/**
 * CRC-32C throughput: the native @node-rs/crc32 binding (whole buffer, and
 * with the `subarray` a range needs) against the JS slicing-by-8 fallback.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/crc32c-bench.js
 *
 * Prints MB/s (10^6 bytes per second) for inputs from 100 B to 1 MiB; the
 * crossover between JS and native sets NATIVE_THRESHOLD in crc32c.ts.
 */
import { crc32c as nativeCrc32c } from '@node-rs/crc32';
import { crc32c, crc32cJs, crc32cNative, crc32cImplementation, NATIVE_THRESHOLD } from '../src/record/crc32c';

const SIZES = [100, 256, 512, 1024, 4096, 16 * 1024, 1024 * 1024];
const TARGET_MS = 400;

function measure(name: string, size: number, fn: () => number): number {
  // Warm up, then run batches until TARGET_MS has passed.
  let sink = 0;
  for (let i = 0; i < 200; i++) sink ^= fn();
  const batch = Math.max(1, Math.floor((4 * 1024 * 1024) / size));
  let iterations = 0;
  const start = process.hrtime.bigint();
  let elapsedNs = 0n;
  while (elapsedNs < BigInt(TARGET_MS) * 1_000_000n) {
    for (let i = 0; i < batch; i++) sink ^= fn();
    iterations += batch;
    elapsedNs = process.hrtime.bigint() - start;
  }
  const mbPerS = (iterations * size) / 1e6 / (Number(elapsedNs) / 1e9);
  if (sink === 0.5) console.log(name); // keep `sink` observable
  return mbPerS;
}

function main(): void {
  console.log(`crc32c: ${crc32cImplementation}, JS below ${NATIVE_THRESHOLD} B`);
  const rows: string[][] = [['input', 'native (whole buf)', 'native + subarray', 'JS slicing-by-8', 'crc32c (chosen)']];
  for (const size of SIZES) {
    // The range sits one byte into a larger buffer, as a batch's CRC range does.
    const backing = Buffer.alloc(size + 2);
    for (let i = 0; i < backing.length; i++) backing[i] = (i * 31 + 7) & 0xff;
    const whole = backing.subarray(1, size + 1);
    const check = crc32cJs(backing, 1, size + 1);
    if ((nativeCrc32c(whole) >>> 0) !== check) throw new Error(`native and JS disagree at ${size} B`);
    const ranged = crc32cNative ?? crc32cJs;
    const nativeWhole = measure('native', size, () => nativeCrc32c(whole));
    const nativeRange = measure('native+subarray', size, () => ranged(backing, 1, size + 1));
    const js = measure('js', size, () => crc32cJs(backing, 1, size + 1));
    const chosen = measure('chosen', size, () => crc32c(backing, 1, size + 1));
    const label = size >= 1024 * 1024 ? `${size / 1024 / 1024} MiB` : size >= 1024 ? `${size / 1024} KiB` : `${size} B`;
    rows.push([label, nativeWhole.toFixed(0), nativeRange.toFixed(0), js.toFixed(0), chosen.toFixed(0)]);
  }
  for (const row of rows) console.log(row.map((cell, i) => (i === 0 ? cell.padEnd(8) : cell.padStart(20))).join(''));
  console.log('(MB/s)');
}

main();
