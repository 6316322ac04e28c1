/**
 * The range assignor: for each topic, its subscribers (in member-id order)
 * get contiguous ranges of partitions; with P partitions and N subscribers
 * the first P % N subscribers get ⌈P/N⌉ partitions and the rest ⌊P/N⌋.
 * Members that subscribe to the same topics with the same partition counts
 * get the same partition numbers of each — what joins of co-partitioned
 * topics want. Balance is per topic, so across many topics the first members
 * may carry more.
 */
import { assignmentOf, partitionKey, type GroupAssignment, type PartitionKey } from './assignment';
import { sortedMemberIds, subscribedTopics, type AssignmentInput } from './assignor-interface';

export function rangeAssign(input: AssignmentInput): GroupAssignment {
  const memberIds = sortedMemberIds(input);
  const keys = new Map<string, PartitionKey[]>(memberIds.map((id) => [id, []]));
  for (const topic of subscribedTopics(input)) {
    const subscribers = memberIds.filter((id) => input.members.get(id)!.topics.includes(topic));
    const count = input.partitionCounts.get(topic)!;
    const base = Math.floor(count / subscribers.length);
    const extra = count % subscribers.length;
    let next = 0;
    subscribers.forEach((id, i) => {
      const size = base + (i < extra ? 1 : 0);
      for (let p = next; p < next + size; p++) keys.get(id)!.push(partitionKey(topic, p));
      next += size;
    });
  }
  return new Map(memberIds.map((id) => [id, assignmentOf(keys.get(id)!)]));
}
