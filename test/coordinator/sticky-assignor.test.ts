import fc from 'fast-check';
import { partitionKeys, type Assignment, type GroupAssignment } from '../../src/coordinator/assignment';
import type { AssignmentInput } from '../../src/coordinator/assignor-interface';
import { stickyAssign } from '../../src/coordinator/sticky-assignor';
import { arbitraryInput, counts, expectValidAssignment, input, spread } from './assignor-checks';

/** Partitions that a still-present member held (validly) before and another member holds now. */
function moved(inp: AssignmentInput, out: GroupAssignment): number {
  const ownerNow = new Map<string, string>();
  for (const [id, a] of out) for (const k of partitionKeys(a)) ownerNow.set(k, id);
  let n = 0;
  const seen = new Set<string>();
  for (const id of [...inp.members.keys()].sort()) {
    for (const k of partitionKeys(inp.previous.get(id) ?? new Map())) {
      if (seen.has(k)) continue;
      seen.add(k);
      const now = ownerNow.get(k);
      if (now !== undefined && now !== id) n++;
    }
  }
  return n;
}

/** Reference: the fewest moves any balanced homogeneous assignment needs. */
function fewestMoves(inp: AssignmentInput): number {
  const ids = [...inp.members.keys()].sort();
  const topics = new Set(inp.members.get(ids[0])!.topics);
  const claimed = new Set<string>();
  const kept = ids.map((id) => {
    let n = 0;
    for (const k of partitionKeys(inp.previous.get(id) ?? new Map())) {
      const t = k.slice(0, k.lastIndexOf('#'));
      const p = Number(k.slice(k.lastIndexOf('#') + 1));
      if (topics.has(t) && p < (inp.partitionCounts.get(t) ?? 0) && !claimed.has(k)) {
        claimed.add(k);
        n++;
      }
    }
    return n;
  });
  let total = 0;
  for (const t of topics) total += inp.partitionCounts.get(t) ?? 0;
  const base = Math.floor(total / ids.length);
  const extra = total % ids.length;
  return [...kept].sort((a, b) => b - a).reduce((sum, k, i) => sum + Math.max(0, k - (base + (i < extra ? 1 : 0))), 0);
}

function even(ids: string[], topic: string, partitions: number): Record<string, Assignment> {
  const prev: Record<string, Assignment> = {};
  const per = partitions / ids.length;
  ids.forEach((id, i) => (prev[id] = new Map([[topic, Array.from({ length: per }, (_, j) => i * per + j)]])));
  return prev;
}

describe('stickyAssign', () => {
  const eight = Array.from({ length: 8 }, (_, i) => `m${i}`);

  it('a ninth member on 64 partitions takes 7, moving no more than that', () => {
    const members = Object.fromEntries([...eight, 'm8'].map((id) => [id, ['t']]));
    const inp = input(members, { t: 64 }, even(eight, 't', 64));
    const out = stickyAssign(inp);
    expectValidAssignment(inp, out);
    expect(spread(out)).toBeLessThanOrEqual(1);
    expect(moved(inp, out)).toBe(7);
    expect(moved(inp, out)).toBeLessThanOrEqual(Math.ceil(64 / 9));
    expect(counts(out).get('m8')).toBe(7);
  });

  it("a departed member's partitions spread over the others and nothing else moves", () => {
    const members = Object.fromEntries(eight.slice(1).map((id) => [id, ['t']]));
    const inp = input(members, { t: 64 }, even(eight, 't', 64));
    const out = stickyAssign(inp);
    expectValidAssignment(inp, out);
    expect(moved(inp, out)).toBe(0);
    expect(spread(out)).toBeLessThanOrEqual(1);
  });

  it('keeps a balanced assignment exactly as it is', () => {
    const prev = even(eight, 't', 64);
    const inp = input(Object.fromEntries(eight.map((id) => [id, ['t']])), { t: 64 }, prev);
    const out = stickyAssign(inp);
    for (const id of eight) expect(out.get(id)).toEqual(prev[id]);
  });

  it('new partitions of a topic go to the least loaded members', () => {
    const inp = input({ m1: ['t'], m2: ['t'] }, { t: 6 }, { m1: new Map([['t', [0, 1]]]), m2: new Map([['t', [2, 3]]]) });
    const out = stickyAssign(inp);
    expect(out.get('m1')).toEqual(new Map([['t', [0, 1, 4]]]));
    expect(out.get('m2')).toEqual(new Map([['t', [2, 3, 5]]]));
  });

  it('heterogeneous: a member takes from the loaded member that shares its topic', () => {
    const inp = input({ m1: ['a', 'b'], m2: ['b'] }, { a: 2, b: 4 }, { m1: new Map([['a', [0, 1]], ['b', [0, 1, 2, 3]]]) });
    const out = stickyAssign(inp);
    expectValidAssignment(inp, out);
    expect(counts(out)).toEqual(new Map([['m1', 3], ['m2', 3]]));
    expect(out.get('m1')!.get('a')).toEqual([0, 1]);
  });

  it('property (homogeneous): valid, within one, fewest moves, deterministic and order-independent', () => {
    fc.assert(
      fc.property(arbitraryInput(true), (inp) => {
        const out = stickyAssign(inp);
        expectValidAssignment(inp, out);
        expect(spread(out)).toBeLessThanOrEqual(1);
        expect(moved(inp, out)).toBe(fewestMoves(inp));
        const reversed: AssignmentInput = { ...inp, members: new Map([...inp.members].reverse()), previous: new Map([...inp.previous].reverse()) };
        expect(stickyAssign(reversed)).toEqual(out);
      }),
    );
  });

  it('property (heterogeneous): valid, same subscriptions within one, no member two above a member that could take its partition', () => {
    fc.assert(
      fc.property(arbitraryInput(false), (inp) => {
        const out = stickyAssign(inp);
        expectValidAssignment(inp, out);
        const c = counts(out);
        for (const [a, ma] of inp.members) {
          for (const [b, mb] of inp.members) {
            if (c.get(a)! < c.get(b)! + 2) continue;
            for (const k of partitionKeys(out.get(a)!)) expect(mb.topics).not.toContain(k.slice(0, k.lastIndexOf('#')));
            if (ma.topics.join() === mb.topics.join()) throw new Error(`same subscription, counts ${c.get(a)} vs ${c.get(b)}`);
          }
        }
        expect(stickyAssign(inp)).toEqual(out);
      }),
    );
  });

  it('property: an already valid, balanced homogeneous assignment is a fixed point', () => {
    fc.assert(
      fc.property(arbitraryInput(true), (inp) => {
        const first = stickyAssign(inp);
        const again = stickyAssign({ ...inp, previous: first });
        expect(again).toEqual(first);
      }),
    );
  });
});
