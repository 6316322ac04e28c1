import fc from 'fast-check';
import { TimeIndex, TIME_INDEX_ENTRY_SIZE } from '../../src/storage/time-index';

describe('TimeIndex', () => {
  it('matches a sorted-array floor search by timestamp over random appends', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: -5, max: 50 }), fc.integer({ min: 0, max: 20 })), { maxLength: 300 }),
        fc.array(fc.integer({ min: -100, max: 20_000 }), { minLength: 1, maxLength: 40 }),
        (steps, probes) => {
          const base = 1000;
          const t0 = 1_700_000_000_000;
          const index = new TimeIndex(base, 'x.timeindex');
          const model: Array<{ timestampMs: number; offset: number }> = [];
          let ts = t0;
          let offset = base;
          for (const [tsStep, offsetStep] of steps) {
            ts += tsStep; // may go backwards: such entries are skipped
            offset += offsetStep;
            const last = model[model.length - 1];
            const expectAppend = !last || ts > last.timestampMs;
            expect(index.maybeAppend(ts, offset)).toBe(expectAppend);
            if (expectAppend) model.push({ timestampMs: ts, offset });
          }
          for (const probe of probes) {
            const target = t0 + probe;
            let expected = { timestampMs: -1, offset: base };
            for (const e of model) if (e.timestampMs <= target) expected = e;
            expect(index.lookup(target)).toEqual(expected);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('stores 12-byte entries: i64 timestamp then u32 relative offset, big-endian', () => {
    const index = new TimeIndex(10, 'x.timeindex');
    index.maybeAppend(0x0102030405, 12);
    const bytes = index.toBytes();
    expect(bytes.length).toBe(TIME_INDEX_ENTRY_SIZE);
    expect(bytes.toString('hex')).toBe('0000000102030405' + '00000002');
    const loaded = TimeIndex.fromBytes(10, 'x.timeindex', bytes, 13);
    expect(loaded.lookup(0x0102030405 + 7)).toEqual({ timestampMs: 0x0102030405, offset: 12 });
    expect(() => TimeIndex.fromBytes(10, 'x.timeindex', bytes, 12)).toThrow(/past the segment's end/);
  });

  it('truncates entries at and after an offset', () => {
    const index = new TimeIndex(0, 'x.timeindex');
    for (let i = 1; i <= 5; i++) index.maybeAppend(i * 1000, i * 10);
    index.truncateTo(30);
    expect(index.lastEntry).toEqual({ timestampMs: 2000, offset: 20 });
  });
});
