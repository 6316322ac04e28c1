/** `brook group list|describe|reset-offsets|delete`. */
import { Command } from 'commander';
import { Admin, type GroupDescription, type ResetTarget } from '../../client';
import { globals, withConnection } from '../context';
import { printJson, printTable } from '../output';
import { parseNonNegativeInt, parsePosition } from '../parse';

function partitionsText(list: Array<{ topic: string; partitions: number[] }>): string {
  return list.map((tp) => `${tp.topic}:${[...tp.partitions].sort((a, b) => a - b).join(',')}`).join(' ') || '-';
}

function describeJson(g: GroupDescription): Record<string, unknown> {
  return {
    group: g.groupId,
    state: g.state,
    groupEpoch: g.groupEpoch,
    assignor: g.assignor,
    members: g.members.map((m) => ({
      memberId: m.memberId,
      instanceId: m.instanceId || null,
      memberEpoch: m.memberEpoch,
      topics: m.topics,
      assignment: m.assignment,
      owned: m.owned,
    })),
    partitions: g.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      committedOffset: Number(p.committedOffset),
      highWatermark: Number(p.highWatermark),
      lag: Number(p.lag),
      memberId: p.memberId || null,
    })),
    totalLag: Number(g.totalLag),
  };
}

function printDescription(g: GroupDescription): void {
  process.stdout.write(`group ${g.groupId}: ${g.state}, epoch ${g.groupEpoch}, assignor ${g.assignor || '-'}, ${g.members.length} member(s)\n\n`);
  if (g.members.length > 0) {
    printTable(
      ['MEMBER', 'INSTANCE', 'EPOCH', 'ASSIGNED'],
      g.members.map((m) => [m.memberId, m.instanceId || '-', m.memberEpoch, partitionsText(m.assignment)]),
    );
    process.stdout.write('\n');
  }
  const rows = g.partitions
    .slice()
    .sort((a, b) => (a.topic === b.topic ? a.partition - b.partition : a.topic < b.topic ? -1 : 1))
    .map((p) => [p.topic, p.partition, Number(p.committedOffset) < 0 ? '-' : Number(p.committedOffset), Number(p.highWatermark), Number(p.lag), p.memberId || '-']);
  const committed = g.partitions.filter((p) => Number(p.committedOffset) >= 0).length;
  printTable(['TOPIC', 'PARTITION', 'COMMITTED', 'HIGH-WATERMARK', 'LAG', 'MEMBER'], rows);
  process.stdout.write(`\ntotal lag ${Number(g.totalLag)} over ${g.partitions.length} partition(s), ${committed} with a committed offset\n`);
}

export function registerGroup(program: Command): Command {
  const group = program.command('group').description('list, describe, reset and delete consumer groups');

  group
    .command('list')
    .description('list consumer groups')
    .action(async (_opts: unknown, command: Command) => {
      await withConnection(command, async (connection) => {
        const groups = await new Admin(connection).listGroups();
        if (globals(command).json) printJson(groups.map((g) => ({ group: g.groupId, state: g.state, members: g.memberCount })));
        else printTable(['GROUP', 'STATE', 'MEMBERS'], groups.map((g) => [g.groupId, g.state, g.memberCount]));
      });
    });

  group
    .command('describe')
    .description('show members, assignments, committed offsets and lag per partition, with totals')
    .argument('<group>', 'group id')
    .action(async (groupId: string, _opts: unknown, command: Command) => {
      await withConnection(command, async (connection) => {
        const g = await new Admin(connection).describeGroup(groupId);
        if (globals(command).json) printJson(describeJson(g));
        else printDescription(g);
      });
    });

  group
    .command('reset-offsets')
    .description("move a group's committed offsets for a topic (only while the group has no members)")
    .argument('<group>', 'group id')
    .requiredOption('-t, --topic <topic>', 'topic whose offsets move')
    .requiredOption('--to <position>', 'earliest | latest | OFFSET | ISO-8601 time')
    .option('-p, --partition <p>', 'only this partition, repeatable (default: all)', (v: string, prev: number[] = []) => [...prev, parseNonNegativeInt(v)])
    .option('--dry-run', 'show the new offsets without committing them', false)
    .action(async (groupId: string, opts: { topic: string; to: string; partition?: number[]; dryRun: boolean }, command: Command) => {
      const position = parsePosition(opts.to, '--to');
      const target: ResetTarget =
        position.kind === 'earliest' ? 'earliest' : position.kind === 'latest' ? 'latest' : position.kind === 'offset' ? { offset: position.offset } : { timestampMs: position.timestampMs };
      await withConnection(command, async (connection) => {
        const offsets = await new Admin(connection).resetOffsets(groupId, opts.topic, target, { partitions: opts.partition, dryRun: opts.dryRun });
        if (globals(command).json) {
          printJson({ group: groupId, dryRun: opts.dryRun, offsets: offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: Number(o.offset) })) });
        } else {
          printTable(['TOPIC', 'PARTITION', 'NEW-OFFSET'], offsets.map((o) => [o.topic, o.partition, Number(o.offset)]));
          if (opts.dryRun) process.stdout.write('(dry run: nothing committed)\n');
        }
      });
    });

  group
    .command('delete')
    .description('delete a group with no members and its committed offsets')
    .argument('<group>', 'group id')
    .action(async (groupId: string, _opts: unknown, command: Command) => {
      await withConnection(command, async (connection) => {
        await new Admin(connection).deleteGroup(groupId);
        if (globals(command).json) printJson({ deleted: groupId });
        else process.stdout.write(`deleted group ${groupId}\n`);
      });
    });

  return group;
}
