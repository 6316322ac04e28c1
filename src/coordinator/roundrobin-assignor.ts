/**
 * The round-robin assignor: every partition of every subscribed topic, in
 * (topic, partition) order, goes to the next member in member-id order that
 * subscribes to its topic. With identical subscriptions the members' counts
 * differ by at most one; it never looks at the previous assignment, so a
 * membership change may move most partitions.
 */
import { assignmentOf, partitionKey, type GroupAssignment, type PartitionKey } from './assignment';
import { sortedMemberIds, subscribedTopics, type AssignmentInput } from './assignor-interface';

export function roundRobinAssign(input: AssignmentInput): GroupAssignment {
  const memberIds = sortedMemberIds(input);
  const keys = new Map<string, PartitionKey[]>(memberIds.map((id) => [id, []]));
  let cursor = 0;
  for (const topic of subscribedTopics(input)) {
    const count = input.partitionCounts.get(topic)!;
    for (let p = 0; p < count; p++) {
      // A subscriber exists: subscribedTopics only lists topics some member subscribes to.
      while (!input.members.get(memberIds[cursor % memberIds.length])!.topics.includes(topic)) cursor++;
      keys.get(memberIds[cursor % memberIds.length])!.push(partitionKey(topic, p));
      cursor++;
    }
  }
  return new Map(memberIds.map((id) => [id, assignmentOf(keys.get(id)!)]));
}
