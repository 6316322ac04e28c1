import fc from 'fast-check';
import { crc32c, crc32cJs, crc32cNative, NATIVE_THRESHOLD } from '../../src/record/crc32c';

describe('crc32c', () => {
  it('has the standard check value for "123456789"', () => {
    const input = Buffer.from('123456789', 'latin1');
    expect(crc32cJs(input)).toBe(0xe3069283);
    expect(crc32c(input)).toBe(0xe3069283);
  });

  it('matches published vectors (RFC 3720 B.4)', () => {
    expect(crc32cJs(Buffer.alloc(32, 0x00))).toBe(0x8a9136aa);
    expect(crc32cJs(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32cJs(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32cJs(Buffer.alloc(0))).toBe(0);
  });

  it('agrees between JS, native and the chosen function on any range', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2 * NATIVE_THRESHOLD + 40 }), fc.nat(), fc.nat(), (bytes, a, b) => {
        const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const end = start + (bytes.length === start ? 0 : b % (bytes.length - start + 1));
        const expected = crc32cJs(bytes, start, end);
        expect(crc32c(bytes, start, end)).toBe(expected);
        if (crc32cNative) expect(crc32cNative(bytes, start, end)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('returns an unsigned number', () => {
    const big = Buffer.alloc(4096, 0xa5);
    expect(crc32c(big)).toBeGreaterThanOrEqual(0);
    expect(crc32c(big)).toBe(crc32cJs(big));
  });
});

describe('crc32c without the native package', () => {
  it('falls back to the JS implementation', () => {
    jest.isolateModules(() => {
      jest.doMock('@node-rs/crc32', () => {
        throw new Error('no prebuilt binary for this platform');
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const fallback = require('../../src/record/crc32c') as typeof import('../../src/record/crc32c');
      expect(fallback.crc32cImplementation).toBe('js');
      expect(fallback.crc32cNative).toBeNull();
      const big = Buffer.alloc(10_000, 7);
      expect(fallback.crc32c(big, 3, 9_000)).toBe(crc32cJs(big, 3, 9_000));
      expect(fallback.crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    });
    jest.dontMock('@node-rs/crc32');
  });
});
