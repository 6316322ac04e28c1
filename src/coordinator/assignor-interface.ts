/**
 * The contract every assignor meets. An assignor is a pure function: the same
 * input gives the same output whatever the order of the maps it is handed
 * (members are always visited in member-id order), and it never looks at
 * anything but its input.
 *
 * Output rules, checked by the coordinator and by the property tests:
 *   - every member of the input has an entry (possibly empty);
 *   - a member only gets partitions of topics it subscribes to that exist in
 *     `partitionCounts`;
 *   - every partition of every subscribed, existing topic goes to exactly one
 *     member.
 */
import type { Assignment, GroupAssignment } from './assignment';

export interface MemberSubscription {
  /** Subscribed topic names, sorted, without duplicates. */
  readonly topics: readonly string[];
}

export interface AssignmentInput {
  readonly members: ReadonlyMap<string, MemberSubscription>;
  /** Partition counts of the subscribed topics that exist; other topics are ignored. */
  readonly partitionCounts: ReadonlyMap<string, number>;
  /** The group's previous target assignment (member id → assignment), for assignors that keep partitions in place. */
  readonly previous: ReadonlyMap<string, Assignment>;
}

export type Assignor = (input: AssignmentInput) => GroupAssignment;

export const ASSIGNOR_NAMES = ['range', 'roundrobin', 'sticky'] as const;
export type AssignorName = (typeof ASSIGNOR_NAMES)[number];
export const DEFAULT_ASSIGNOR: AssignorName = 'sticky';

export function isAssignorName(name: string): name is AssignorName {
  return (ASSIGNOR_NAMES as readonly string[]).includes(name);
}

/** Member ids in the order every assignor visits them. */
export function sortedMemberIds(input: AssignmentInput): string[] {
  return [...input.members.keys()].sort();
}

/** The existing topics some member subscribes to, sorted. */
export function subscribedTopics(input: AssignmentInput): string[] {
  const topics = new Set<string>();
  for (const member of input.members.values()) {
    for (const topic of member.topics) if (input.partitionCounts.has(topic)) topics.add(topic);
  }
  return [...topics].sort();
}
