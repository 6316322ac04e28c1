/**
 * The sticky assignor (the default): keeps every partition where the
 * previous target assignment put it, unless that would leave the members'
 * partition counts more than one apart, and moves as few partitions as that
 * allows.
 *
 * Homogeneous groups (every member subscribes to the same topics), the
 * common case, have an exact answer. With T partitions and N members, T % N
 * members hold ⌈T/N⌉ and the rest ⌊T/N⌋. The larger quotas go to the members
 * that already hold the most (ties by member id), each member keeps up to
 * its quota of what it held, and only the excess moves — the fewest moves
 * any balanced assignment needs. Example: 8 members holding 8 of 64
 * partitions each, a 9th joins: quotas 8,7,7,…,7, seven partitions move.
 *
 * Heterogeneous groups: partitions are kept where still valid, unowned ones
 * go one by one (topics with the fewest subscribers first) to the least
 * loaded subscriber, then single partitions move from a member holding at
 * least two more than another member that subscribes to their topic, until
 * no such move exists. Each move lowers the sum of squared counts, so this
 * stops; afterwards members with the same subscription are within one of
 * each other, and no member is two above another that could take one of its
 * partitions.
 *
 * Deterministic: members are visited in id order, partitions in (topic,
 * partition) order.
 */
import {
  assignmentOf,
  comparePartitionKeys,
  parsePartitionKey,
  partitionKey,
  partitionKeys,
  type GroupAssignment,
  type PartitionKey,
} from './assignment';
import { sortedMemberIds, subscribedTopics, type AssignmentInput } from './assignor-interface';

export function stickyAssign(input: AssignmentInput): GroupAssignment {
  const memberIds = sortedMemberIds(input);
  if (memberIds.length === 0) return new Map();
  const held = keptPartitions(input, memberIds);
  const homogeneous = memberIds.every((id) => sameTopics(input.members.get(id)!.topics, input.members.get(memberIds[0])!.topics));
  if (homogeneous) balanceHomogeneous(input, memberIds, held);
  else balanceHeterogeneous(input, memberIds, held);
  return new Map(memberIds.map((id) => [id, assignmentOf(held.get(id)!)]));
}

/** What each member may keep of its previous assignment: still subscribed, still existing, not claimed by an earlier member. */
function keptPartitions(input: AssignmentInput, memberIds: string[]): Map<string, PartitionKey[]> {
  const claimed = new Set<PartitionKey>();
  const held = new Map<string, PartitionKey[]>();
  for (const id of memberIds) {
    const topics = new Set(input.members.get(id)!.topics);
    const kept: PartitionKey[] = [];
    const previous = input.previous.get(id);
    if (previous) {
      for (const key of partitionKeys(previous)) {
        const { topic, partition } = parsePartitionKey(key);
        const count = input.partitionCounts.get(topic);
        if (!topics.has(topic) || count === undefined || partition >= count || claimed.has(key)) continue;
        claimed.add(key);
        kept.push(key);
      }
    }
    held.set(id, kept.sort(comparePartitionKeys));
  }
  return held;
}

function unheldPartitions(topics: readonly string[], input: AssignmentInput, held: Map<string, PartitionKey[]>): PartitionKey[] {
  const taken = new Set<PartitionKey>();
  for (const keys of held.values()) for (const key of keys) taken.add(key);
  const free: PartitionKey[] = [];
  for (const topic of topics) {
    const count = input.partitionCounts.get(topic)!;
    for (let p = 0; p < count; p++) {
      const key = partitionKey(topic, p);
      if (!taken.has(key)) free.push(key);
    }
  }
  return free;
}

function balanceHomogeneous(input: AssignmentInput, memberIds: string[], held: Map<string, PartitionKey[]>): void {
  const topics = subscribedTopics(input);
  let total = 0;
  for (const topic of topics) total += input.partitionCounts.get(topic)!;
  const base = Math.floor(total / memberIds.length);
  const extra = total % memberIds.length;
  // Larger quotas to the members holding most, so the fewest partitions move.
  const byHeld = [...memberIds].sort((a, b) => held.get(b)!.length - held.get(a)!.length || (a < b ? -1 : 1));
  const quota = new Map(byHeld.map((id, i) => [id, base + (i < extra ? 1 : 0)]));
  for (const id of memberIds) {
    const keys = held.get(id)!;
    if (keys.length > quota.get(id)!) keys.length = quota.get(id)!; // the excess (highest partitions) goes back to the pool
  }
  const pool = unheldPartitions(topics, input, held);
  let next = 0;
  for (const id of memberIds) {
    const keys = held.get(id)!;
    while (keys.length < quota.get(id)!) keys.push(pool[next++]);
  }
}

function balanceHeterogeneous(input: AssignmentInput, memberIds: string[], held: Map<string, PartitionKey[]>): void {
  const subscriptions = new Map(memberIds.map((id) => [id, new Set(input.members.get(id)!.topics)]));
  const subscribers = (topic: string) => memberIds.filter((id) => subscriptions.get(id)!.has(topic));
  const topics = subscribedTopics(input).sort((a, b) => subscribers(a).length - subscribers(b).length || (a < b ? -1 : 1));
  const least = (candidates: string[]) =>
    candidates.reduce((best, id) => (held.get(id)!.length < held.get(best)!.length ? id : best));

  for (const key of unheldPartitions(topics, input, held)) {
    held.get(least(subscribers(parsePartitionKey(key).topic)))!.push(key);
  }

  for (;;) {
    const ascending = [...memberIds].sort((a, b) => held.get(a)!.length - held.get(b)!.length || (a < b ? -1 : 1));
    let moved = false;
    search: for (const under of ascending) {
      for (let i = ascending.length - 1; i >= 0; i--) {
        const over = ascending[i];
        if (held.get(over)!.length < held.get(under)!.length + 2) break;
        const from = held.get(over)!;
        for (let j = from.length - 1; j >= 0; j--) {
          if (!subscriptions.get(under)!.has(parsePartitionKey(from[j]).topic)) continue;
          held.get(under)!.push(from[j]);
          from.splice(j, 1);
          moved = true;
          break search;
        }
      }
    }
    if (!moved) return;
  }
}

function sameTopics(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((topic, i) => topic === b[i]);
}
