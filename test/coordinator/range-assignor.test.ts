import fc from 'fast-check';
import { rangeAssign } from '../../src/coordinator/range-assignor';
import { arbitraryInput, expectValidAssignment, input } from './assignor-checks';

describe('rangeAssign', () => {
  it('gives each subscriber a contiguous range, the first ones one more', () => {
    const out = rangeAssign(input({ m1: ['t'], m2: ['t'], m3: ['t'] }, { t: 7 }));
    expect(out.get('m1')!.get('t')).toEqual([0, 1, 2]);
    expect(out.get('m2')!.get('t')).toEqual([3, 4]);
    expect(out.get('m3')!.get('t')).toEqual([5, 6]);
  });

  it('balances each topic among its own subscribers only', () => {
    const out = rangeAssign(input({ m1: ['a', 'b'], m2: ['b'] }, { a: 2, b: 2 }));
    expect(out.get('m1')).toEqual(new Map([['a', [0, 1]], ['b', [0]]]));
    expect(out.get('m2')).toEqual(new Map([['b', [1]]]));
  });

  it('ignores topics that do not exist and leaves members without partitions empty', () => {
    const out = rangeAssign(input({ m1: ['missing'], m2: ['t'] }, { t: 1 }));
    expect(out.get('m1')!.size).toBe(0);
    expect(out.get('m2')!.get('t')).toEqual([0]);
  });

  it('property: valid, per-topic spread within one, deterministic', () => {
    fc.assert(
      fc.property(arbitraryInput(false), (inp) => {
        const out = rangeAssign(inp);
        expectValidAssignment(inp, out);
        for (const [topic] of inp.partitionCounts) {
          const subs = [...inp.members].filter(([, m]) => m.topics.includes(topic)).map(([id]) => id);
          const n = subs.map((id) => out.get(id)!.get(topic)?.length ?? 0);
          if (n.length) expect(Math.max(...n) - Math.min(...n)).toBeLessThanOrEqual(1);
        }
        expect(rangeAssign(inp)).toEqual(out);
      }),
    );
  });
});
