import fc from 'fast-check';
import { roundRobinAssign } from '../../src/coordinator/roundrobin-assignor';
import { arbitraryInput, expectValidAssignment, input, spread } from './assignor-checks';

describe('roundRobinAssign', () => {
  it('deals partitions across members in turn, across topics', () => {
    const out = roundRobinAssign(input({ m1: ['a', 'b'], m2: ['a', 'b'] }, { a: 3, b: 2 }));
    expect(out.get('m1')).toEqual(new Map([['a', [0, 2]], ['b', [1]]]));
    expect(out.get('m2')).toEqual(new Map([['a', [1]], ['b', [0]]]));
  });

  it('skips members that do not subscribe to the topic', () => {
    const out = roundRobinAssign(input({ m1: ['a'], m2: ['b'] }, { a: 2, b: 2 }));
    expect(out.get('m1')).toEqual(new Map([['a', [0, 1]]]));
    expect(out.get('m2')).toEqual(new Map([['b', [0, 1]]]));
  });

  it('property: valid everywhere; homogeneous groups within one', () => {
    fc.assert(
      fc.property(arbitraryInput(false), (inp) => {
        expectValidAssignment(inp, roundRobinAssign(inp));
      }),
    );
    fc.assert(
      fc.property(arbitraryInput(true), (inp) => {
        const out = roundRobinAssign(inp);
        expectValidAssignment(inp, out);
        expect(spread(out)).toBeLessThanOrEqual(1);
      }),
    );
  });
});
