/** `brook topic create|list|describe|alter|delete`. */
import { Command } from 'commander';
import { Admin, type TopicDescription } from '../../client';
import { globals, withConnection } from '../context';
import { printJson, printTable } from '../output';
import { collectPair, collectString, parsePositiveInt } from '../parse';
import { UsageError } from '../usage-error';

/** CreateTopicRequest.partitions 0: the broker picks its num.partitions. */
const BROKER_DEFAULT_PARTITIONS = 0;

function configObject(pairs: Array<[string, string]> | undefined): Record<string, string> {
  return Object.fromEntries(pairs ?? []);
}

function topicJson(t: TopicDescription): Record<string, unknown> {
  return {
    name: t.name,
    partitions: t.partitionCount,
    internal: t.internal,
    createdAtMs: Number(t.createdAtMs),
    config: t.config,
    overrides: t.overrides,
    partitionDetails: t.partitions.map((p) => ({
      partition: p.partition,
      logStartOffset: Number(p.logStartOffset),
      highWatermark: Number(p.highWatermark),
      logEndOffset: Number(p.logEndOffset),
      sizeBytes: Number(p.sizeBytes),
      segmentCount: p.segmentCount,
    })),
  };
}

function printDescription(t: TopicDescription): void {
  const overrides = Object.entries(t.overrides).map(([k, v]) => `${k}=${v}`).join(', ');
  process.stdout.write(`topic ${t.name}: ${t.partitionCount} partition(s)${t.internal ? ', internal' : ''}${overrides ? `, overrides: ${overrides}` : ''}\n\n`);
  printTable(
    ['PARTITION', 'LOG-START', 'HIGH-WATERMARK', 'RECORDS', 'SIZE-BYTES', 'SEGMENTS'],
    t.partitions.map((p) => [p.partition, Number(p.logStartOffset), Number(p.highWatermark), Number(p.highWatermark) - Number(p.logStartOffset), Number(p.sizeBytes), p.segmentCount]),
  );
  process.stdout.write('\n');
  printTable(['CONFIG', 'VALUE', 'SOURCE'], Object.keys(t.config).sort().map((k) => [k, t.config[k], k in t.overrides ? 'topic' : 'default']));
}

export function registerTopic(program: Command): Command {
  const topic = program.command('topic').description('create, list, describe, alter and delete topics');

  topic
    .command('create')
    .description('create a topic')
    .argument('<name>', 'topic name: letters, digits, ".", "_", "-" (1-249 chars)')
    .option('-p, --partitions <n>', "number of partitions (default: the broker's num.partitions)", parsePositiveInt)
    .option('--config <key=value>', 'topic config override, repeatable (e.g. retention.ms=86400000)', collectPair)
    .action(async (name: string, opts: { partitions?: number; config?: Array<[string, string]> }, command: Command) => {
      await withConnection(command, async (connection) => {
        const created = await new Admin(connection).createTopic(name, { partitions: opts.partitions ?? BROKER_DEFAULT_PARTITIONS, config: configObject(opts.config) });
        if (globals(command).json) printJson(topicJson(created));
        else process.stdout.write(`created topic ${created.name} with ${created.partitionCount} partition(s)\n`);
      });
    });

  topic
    .command('list')
    .description('list topics')
    .option('--internal', 'include internal topics such as __consumer_offsets', false)
    .action(async (opts: { internal: boolean }, command: Command) => {
      await withConnection(command, async (connection) => {
        const topics = await new Admin(connection).listTopics({ includeInternal: opts.internal });
        if (globals(command).json) printJson(topics.map((t) => ({ name: t.name, partitions: t.partitionCount, internal: t.internal, overrides: t.overrides })));
        else
          printTable(
            ['TOPIC', 'PARTITIONS', 'OVERRIDES'],
            topics.map((t) => [t.name, t.partitionCount, Object.entries(t.overrides).map(([k, v]) => `${k}=${v}`).join(',') || '-']),
          );
      });
    });

  topic
    .command('describe')
    .description('show partitions (log start, high watermark, size, segments) and config of a topic')
    .argument('<name>', 'topic name')
    .action(async (name: string, _opts: unknown, command: Command) => {
      await withConnection(command, async (connection) => {
        const t = await new Admin(connection).describeTopic(name);
        if (globals(command).json) printJson(topicJson(t));
        else printDescription(t);
      });
    });

  topic
    .command('alter')
    .description("change a topic's config, or raise its partition count")
    .argument('<name>', 'topic name')
    .option('--config <key=value>', 'config to set, repeatable', collectPair)
    .option('--delete-config <key>', 'config key to return to its default, repeatable', collectString)
    .option('--partitions <n>', 'new (larger) partition count', parsePositiveInt)
    .action(async (name: string, opts: { config?: Array<[string, string]>; deleteConfig?: string[]; partitions?: number }, command: Command) => {
      if (!opts.config && !opts.deleteConfig && opts.partitions === undefined) {
        throw new UsageError('topic alter needs --config, --delete-config or --partitions');
      }
      await withConnection(command, async (connection) => {
        const admin = new Admin(connection);
        let t: TopicDescription | undefined;
        if (opts.config || opts.deleteConfig) t = await admin.alterTopicConfig(name, configObject(opts.config), opts.deleteConfig ?? []);
        if (opts.partitions !== undefined) t = await admin.createPartitions(name, opts.partitions);
        if (globals(command).json) printJson(topicJson(t!));
        else {
          const overrides = Object.entries(t!.overrides).map(([k, v]) => `${k}=${v}`).join(', ') || 'none';
          process.stdout.write(`altered topic ${t!.name}: ${t!.partitionCount} partition(s), overrides: ${overrides}\n`);
        }
      });
    });

  topic
    .command('delete')
    .description('delete a topic and all its data')
    .argument('<name>', 'topic name')
    .action(async (name: string, _opts: unknown, command: Command) => {
      await withConnection(command, async (connection) => {
        await new Admin(connection).deleteTopic(name);
        if (globals(command).json) printJson({ deleted: name });
        else process.stdout.write(`deleted topic ${name}\n`);
      });
    });

  return topic;
}
