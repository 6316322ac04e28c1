import fc from 'fast-check';
import { partitionKey, partitionKeys, type Assignment, type GroupAssignment } from '../../src/coordinator/assignment';
import type { AssignmentInput } from '../../src/coordinator/assignor-interface';

/** Every subscribed partition assigned exactly once, to a subscriber; every member present. */
export function expectValidAssignment(input: AssignmentInput, output: GroupAssignment): void {
  expect([...output.keys()].sort()).toEqual([...input.members.keys()].sort());
  const owner = new Map<string, string>();
  for (const [id, assignment] of output) {
    const topics = input.members.get(id)!.topics;
    for (const key of partitionKeys(assignment)) {
      const topic = key.slice(0, key.lastIndexOf('#'));
      expect(topics).toContain(topic);
      expect(owner.get(key)).toBeUndefined();
      owner.set(key, id);
    }
  }
  for (const [topic, count] of input.partitionCounts) {
    const subscribed = [...input.members.values()].some((m) => m.topics.includes(topic));
    for (let p = 0; p < count; p++) expect(owner.has(partitionKey(topic, p))).toBe(subscribed);
  }
}

export function counts(output: GroupAssignment): Map<string, number> {
  return new Map([...output].map(([id, a]) => [id, [...partitionKeys(a)].length]));
}

export function spread(output: GroupAssignment, ids?: string[]): number {
  const c = [...counts(output)].filter(([id]) => !ids || ids.includes(id)).map(([, n]) => n);
  return c.length === 0 ? 0 : Math.max(...c) - Math.min(...c);
}

export function input(
  members: Record<string, string[]>,
  partitionCounts: Record<string, number>,
  previous: Record<string, Assignment> = {},
): AssignmentInput {
  return {
    members: new Map(Object.entries(members).map(([id, topics]) => [id, { topics: [...new Set(topics)].sort() }])),
    partitionCounts: new Map(Object.entries(partitionCounts)),
    previous: new Map(Object.entries(previous)),
  };
}

const TOPICS = ['a', 'b', 'c', 'd'];

/** Random groups: up to 12 members, up to 4 topics of up to 40 partitions, random previous assignments. */
export const arbitraryInput = (homogeneous: boolean): fc.Arbitrary<AssignmentInput> =>
  fc
    .record({
      memberCount: fc.integer({ min: 1, max: 12 }),
      counts: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: TOPICS.length, maxLength: TOPICS.length }),
      shared: fc.subarray(TOPICS, { minLength: 1 }),
      subscriptions: fc.array(fc.subarray(TOPICS, { minLength: 1 }), { minLength: 12, maxLength: 12 }),
      previousOwners: fc.array(fc.integer({ min: -1, max: 14 }), { minLength: 160, maxLength: 160 }),
    })
    .map(({ memberCount, counts: c, shared, subscriptions, previousOwners }) => {
      const ids = Array.from({ length: memberCount }, (_, i) => `m${String(i).padStart(2, '0')}`);
      const members: Record<string, string[]> = {};
      ids.forEach((id, i) => (members[id] = homogeneous ? shared : subscriptions[i]));
      const partitionCounts: Record<string, number> = {};
      TOPICS.forEach((t, i) => (partitionCounts[t] = c[i]));
      // Previous owners may be members no longer present (ids past memberCount) or -1 (unowned).
      const previous: Record<string, string[]> = {};
      let i = 0;
      for (const t of TOPICS) {
        for (let p = 0; p < 40; p++) {
          const o = previousOwners[i++ % previousOwners.length];
          if (o < 0) continue;
          const id = `m${String(o).padStart(2, '0')}`;
          (previous[id] ??= []).push(partitionKey(t, p));
        }
      }
      const prev: Record<string, Assignment> = {};
      for (const [id, keys] of Object.entries(previous)) {
        const map = new Map<string, number[]>();
        for (const k of keys) {
          const t = k.slice(0, k.lastIndexOf('#'));
          map.set(t, [...(map.get(t) ?? []), Number(k.slice(k.lastIndexOf('#') + 1))]);
        }
        prev[id] = map;
      }
      return input(members, partitionCounts, prev);
    });
