/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of
 * Kafka's RecordBatch v2. Check value: crc32c("123456789") = 0xE3069283.
 *
 * Implementation chosen by measurement (`bench/crc32c-bench.ts`, Node 20.20,
 * x86-64, 2 vCPUs; MB/s = 10^6 bytes/s, higher is better):
 *
 *   input     native, whole buffer   native + subarray   JS slicing-by-8
 *   100 B              762                   435               1384
 *   256 B             1470                  1095               1262
 *   512 B             2313                  1864               1320
 *   1 KiB             3415                  2769               1303
 *   16 KiB            5849                  5715               1331
 *   1 MiB             6239                  6231               1313
 *
 * The native binding (@node-rs/crc32) pays a fixed N-API call cost (plus a
 * `subarray` view, since it takes only whole typed arrays) of roughly 0.1 µs,
 * so the JS table code wins below about 300 bytes and the native one wins
 * from there on, by 4-5x at batch sizes that matter. `crc32c` therefore uses
 * JS for ranges shorter than NATIVE_THRESHOLD bytes and native above. The JS
 * code is also the whole implementation when the native package cannot be
 * loaded (unsupported platform, missing optional binary), and an independent
 * second implementation the tests compare against.
 */

/** The pure-JS implementation, always available. */
export function crc32cJs(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = ~0;
  let i = start;
  const t0 = T0, t1 = T1, t2 = T2, t3 = T3, t4 = T4, t5 = T5, t6 = T6, t7 = T7;
  // Slicing-by-8: fold eight input bytes per step through eight tables.
  const stop8 = end - ((end - i) & 7);
  while (i < stop8) {
    const a = crc ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    crc =
      t7[a & 0xff] ^
      t6[(a >>> 8) & 0xff] ^
      t5[(a >>> 16) & 0xff] ^
      t4[a >>> 24] ^
      t3[buf[i + 4]] ^
      t2[buf[i + 5]] ^
      t1[buf[i + 6]] ^
      t0[buf[i + 7]];
    i += 8;
  }
  while (i < end) {
    crc = t0[(crc ^ buf[i]) & 0xff] ^ (crc >>> 8);
    i++;
  }
  return ~crc >>> 0;
}

const POLYNOMIAL = 0x82f63b78;

function buildTables(): Uint32Array[] {
  const tables = Array.from({ length: 8 }, () => new Uint32Array(256));
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    tables[0][n] = c >>> 0;
  }
  // tables[k][n] is the CRC of byte n followed by k zero bytes.
  for (let n = 0; n < 256; n++) {
    let c = tables[0][n];
    for (let k = 1; k < 8; k++) {
      c = tables[0][c & 0xff] ^ (c >>> 8);
      tables[k][n] = c >>> 0;
    }
  }
  return tables;
}

const [T0, T1, T2, T3, T4, T5, T6, T7] = buildTables();

type NativeCrc32c = (input: Uint8Array, initialState?: number) => number;

function loadNative(): NativeCrc32c | null {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require('@node-rs/crc32') as { crc32c?: NativeCrc32c };
    const fn = mod.crc32c;
    // Trust the binding only if it computes the standard check value.
    if (typeof fn !== 'function' || fn(Buffer.from('123456789', 'latin1')) >>> 0 !== 0xe3069283) return null;
    return fn;
  } catch {
    return null;
  }
}

const native = loadNative();

/** Which implementation `crc32c` uses in this process. */
export const crc32cImplementation: 'native' | 'js' = native ? 'native' : 'js';

/** The native implementation, or null when it could not be loaded. */
export const crc32cNative: ((buf: Uint8Array, start?: number, end?: number) => number) | null = native
  ? (buf, start = 0, end = buf.length) =>
      (start === 0 && end === buf.length ? native(buf) : native(buf.subarray(start, end))) >>> 0
  : null;

/** Ranges shorter than this go to the JS code (see the table above). */
export const NATIVE_THRESHOLD = 256;

/** CRC-32C of `buf[start, end)`, as an unsigned 32-bit number. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  if (native === null || end - start < NATIVE_THRESHOLD) return crc32cJs(buf, start, end);
  return (start === 0 && end === buf.length ? native(buf) : native(buf.subarray(start, end))) >>> 0;
}
