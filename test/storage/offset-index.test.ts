import fc from 'fast-check';
import { OffsetIndex, OFFSET_INDEX_ENTRY_SIZE } from '../../src/storage/offset-index';
import { isBrookError } from '../../src/common/errors';

/** Reference model: the greatest entry <= target by linear floor search over a sorted array. */
function floor(entries: Array<[number, number]>, target: number, base: number): { offset: number; position: number } {
  let found: [number, number] | undefined;
  for (const e of entries) if (e[0] <= target) found = e;
  return found ? { offset: found[0], position: found[1] } : { offset: base, position: 0 };
}

describe('OffsetIndex', () => {
  it('matches a sorted-array floor search over random appends', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e12 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 10_000 })), { maxLength: 300 }),
        fc.array(fc.integer({ min: -10, max: 400_000 }), { minLength: 1, maxLength: 50 }),
        (base, steps, probes) => {
          const index = new OffsetIndex(base, 'test.index');
          const model: Array<[number, number]> = [];
          let offset = base;
          let position = 0;
          for (const [offsetStep, positionStep] of steps) {
            offset += offsetStep;
            position += positionStep;
            index.append(offset, position);
            model.push([offset, position]);
          }
          expect(index.entries).toBe(model.length);
          for (const probe of probes) {
            const target = base + probe;
            expect(index.lookup(target)).toEqual(floor(model, target, base));
          }
          // Every entry finds itself.
          for (const [o, p] of model) expect(index.lookup(o)).toEqual({ offset: o, position: p });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('writes Kafka’s 8-byte big-endian entries and reads them back', () => {
    const index = new OffsetIndex(100, 'x.index');
    index.append(105, 4200);
    index.append(0x1_0000 + 100, 0x01020304);
    const bytes = index.toBytes();
    expect(bytes.length).toBe(2 * OFFSET_INDEX_ENTRY_SIZE);
    expect(bytes.toString('hex')).toBe('00000005' + '00001068' + '00010000' + '01020304');
    const loaded = OffsetIndex.fromBytes(100, 'x.index', bytes, 0x0200_0000);
    expect(loaded.lookup(70_000)).toEqual({ offset: 0x1_0000 + 100, position: 0x01020304 });
  });

  it('truncates entries at and after an offset', () => {
    const index = new OffsetIndex(0, 'x.index');
    for (let i = 1; i <= 10; i++) index.append(i * 10, i * 100);
    index.truncateTo(50);
    expect(index.entries).toBe(4);
    expect(index.lookup(1000)).toEqual({ offset: 40, position: 400 });
    index.truncateTo(0);
    expect(index.entries).toBe(0);
    expect(index.lookup(5)).toEqual({ offset: 0, position: 0 });
  });

  it('refuses entries that do not move forward (a bug, not bad input)', () => {
    const index = new OffsetIndex(0, 'x.index');
    index.append(10, 100);
    expect(() => index.append(10, 200)).toThrow(/invariant violated/);
    expect(() => index.append(11, 100)).toThrow(/invariant violated/);
    expect(() => index.append(-1 + 0, 300)).toThrow(/invariant violated/);
  });

  it('rejects garbled files in the sanity check', () => {
    const good = new OffsetIndex(0, 'x.index');
    good.append(10, 100);
    good.append(20, 200);
    const bytes = Buffer.from(good.toBytes());
    const check = (b: Buffer, logSize = 1000): unknown => {
      try {
        OffsetIndex.fromBytes(0, 'x.index', b, logSize);
        return undefined;
      } catch (e) {
        return e;
      }
    };
    expect(check(bytes)).toBeUndefined();
    expect(isBrookError(check(bytes.subarray(0, 13)), 'CORRUPT_DATA')).toBe(true); // not a multiple of 8
    expect(isBrookError(check(bytes, 150), 'CORRUPT_DATA')).toBe(true); // position past the log
    const swapped = Buffer.concat([bytes.subarray(8), bytes.subarray(0, 8)]);
    expect(isBrookError(check(swapped), 'CORRUPT_DATA')).toBe(true); // not increasing
  });
});
