/**
 * Partition assignments as values.
 *
 * An `Assignment` maps a topic to the partitions of it a member holds, sorted
 * ascending without duplicates; topics with no partitions are left out. A
 * `GroupAssignment` gives every member of a group its `Assignment` (possibly
 * empty). Inside the coordinator a single partition is often handled by its
 * `PartitionKey`, `topic#partition` — `#` cannot occur in a topic name, and
 * the partition is parsed from after the last `#` anyway.
 */

export type Assignment = ReadonlyMap<string, readonly number[]>;
export type GroupAssignment = Map<string, Assignment>;
export type PartitionKey = string;

export const EMPTY_ASSIGNMENT: Assignment = new Map();

export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}#${partition}`;
}

export function parsePartitionKey(key: PartitionKey): { topic: string; partition: number } {
  const at = key.lastIndexOf('#');
  return { topic: key.slice(0, at), partition: Number(key.slice(at + 1)) };
}

/** Orders keys by topic, then partition number (not lexically: 2 before 10). */
export function comparePartitionKeys(a: PartitionKey, b: PartitionKey): number {
  const x = parsePartitionKey(a);
  const y = parsePartitionKey(b);
  if (x.topic !== y.topic) return x.topic < y.topic ? -1 : 1;
  return x.partition - y.partition;
}

/** Builds a normalized assignment (sorted topics and partitions, no duplicates, no empty topics). */
export function assignmentOf(keys: Iterable<PartitionKey>): Assignment {
  const byTopic = new Map<string, Set<number>>();
  for (const key of keys) {
    const { topic, partition } = parsePartitionKey(key);
    let set = byTopic.get(topic);
    if (!set) byTopic.set(topic, (set = new Set()));
    set.add(partition);
  }
  const result = new Map<string, readonly number[]>();
  for (const topic of [...byTopic.keys()].sort()) {
    result.set(topic, [...byTopic.get(topic)!].sort((a, b) => a - b));
  }
  return result;
}

export function assignmentFromTopics(entries: Iterable<{ topic: string; partitions: readonly number[] }>): Assignment {
  const keys: PartitionKey[] = [];
  for (const { topic, partitions } of entries) for (const p of partitions) keys.push(partitionKey(topic, p));
  return assignmentOf(keys);
}

export function* partitionKeys(assignment: Assignment): Generator<PartitionKey> {
  for (const [topic, partitions] of assignment) for (const p of partitions) yield partitionKey(topic, p);
}

export function partitionCount(assignment: Assignment): number {
  let n = 0;
  for (const partitions of assignment.values()) n += partitions.length;
  return n;
}

/** `[{topic, partitions}]` in topic order, the shape the wire uses. */
export function assignmentToList(assignment: Assignment): { topic: string; partitions: number[] }[] {
  return [...assignment].map(([topic, partitions]) => ({ topic, partitions: [...partitions] }));
}
