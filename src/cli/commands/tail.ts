/**
 * `brook tail TOPIC`: the last N records of each partition (default 10),
 * then exit; `-f` keeps following. `--from` starts at a position instead
 * (with `-n`, at most N records per partition). `--group` reads as a member
 * of a consumer group, following until Ctrl-C (or N records with `-n`), and
 * commits what it printed when it stops.
 */
import { Command, Option } from 'commander';
import { Consumer, PartitionReader, type ConsumedRecord, type Connection } from '../../client';
import { withConnection } from '../context';
import { formatRecord, isStdoutClosed, writeOut, type RecordFormat } from '../output';
import { parseNonNegativeInt, parsePosition, type Position } from '../parse';
import { offsetOf, partitionBounds, type PartitionBounds } from '../partitions';
import { UsageError } from '../usage-error';

interface TailFlags {
  partition?: number;
  lines?: number;
  follow: boolean;
  from?: string;
  group?: string;
  format: RecordFormat;
}

/** Aborts on Ctrl-C / SIGTERM (once), so loops end and output is flushed. */
function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { signal: controller.signal, dispose: () => (process.off('SIGINT', stop), process.off('SIGTERM', stop)) };
}

async function printRecords(records: ConsumedRecord[], format: RecordFormat): Promise<void> {
  if (records.length === 0) return;
  await writeOut(records.map((r) => formatRecord(r, format)).join(''));
}

/** Reads one partition from `start`, up to `end` (exclusive) unless following, at most `limit` records. */
async function tailPartition(
  connection: Connection,
  topic: string,
  bounds: PartitionBounds,
  start: number,
  end: number,
  limit: number,
  follow: boolean,
  format: RecordFormat,
  signal: AbortSignal,
): Promise<void> {
  if (limit <= 0) return;
  if (!follow && start >= end) return;
  const reader = new PartitionReader(connection, topic, bounds.partition, start, { maxWaitMs: follow ? 1000 : 0 });
  try {
    let printed = 0;
    while (!signal.aborted && !isStdoutClosed()) {
      if (!follow && reader.position! >= end) return;
      let records: ConsumedRecord[];
      try {
        ({ records } = await reader.fetch(signal));
      } catch (e) {
        if (signal.aborted) return;
        throw e;
      }
      if (!follow) records = records.filter((r) => r.offset < end);
      if (records.length > limit - printed) records = records.slice(0, limit - printed);
      await printRecords(records, format);
      printed += records.length;
      if (printed >= limit) return;
      if (!follow && records.length === 0 && reader.position! < end && reader.highWatermark <= reader.position!) return;
    }
  } finally {
    reader.close();
  }
}

async function tailStandalone(connection: Connection, topic: string, flags: TailFlags, from: Position | undefined, signal: AbortSignal): Promise<void> {
  const partitions = await partitionBounds(connection, topic, flags.partition);
  const n = flags.lines ?? 10;
  const plans = await Promise.all(
    partitions.map(async (b) => {
      let start: number;
      if (from) start = Math.min(Math.max(await offsetOf(connection, topic, b, from), b.logStartOffset), b.highWatermark);
      else start = Math.max(b.logStartOffset, b.highWatermark - n);
      const limit = from && flags.lines === undefined ? Number.POSITIVE_INFINITY : from ? n : flags.follow ? Number.POSITIVE_INFINITY : n;
      return { bounds: b, start, limit };
    }),
  );
  if (!flags.follow) {
    // One partition after the other, each in offset order.
    for (const plan of plans) {
      if (signal.aborted) return;
      await tailPartition(connection, topic, plan.bounds, plan.start, plan.bounds.highWatermark, plan.limit, false, flags.format, signal);
    }
    return;
  }
  await Promise.all(
    plans.map((plan) => tailPartition(connection, topic, plan.bounds, plan.start, Number.POSITIVE_INFINITY, plan.limit, true, flags.format, signal)),
  );
}

async function tailGroup(connection: Connection, topic: string, flags: TailFlags, from: Position | undefined, signal: AbortSignal): Promise<void> {
  const consumer = new Consumer(connection, {
    groupId: flags.group!,
    offsetReset: from?.kind === 'earliest' ? 'earliest' : 'latest',
    sessionTimeoutMs: 10_000,
    maxWaitMs: 1000,
  });
  consumer.subscribe(topic);
  const limit = flags.lines ?? Number.POSITIVE_INFINITY;
  let printed = 0;
  const onAbort = (): void => void consumer.close();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const record of consumer) {
      await writeOut(formatRecord(record, flags.format));
      if (++printed >= limit || isStdoutClosed()) break;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await consumer.close();
  }
}

export function registerTail(program: Command): Command {
  return program
    .command('tail')
    .description('print the last records of a topic (default 10 per partition), or follow it with -f')
    .argument('<topic>', 'topic to read')
    .option('-p, --partition <p>', 'only this partition', parseNonNegativeInt)
    .option('-n, --lines <n>', 'records per partition: the last N (default 10), or at most N with --from / --group', parseNonNegativeInt)
    .option('-f, --follow', 'keep printing new records until Ctrl-C', false)
    .option('--from <position>', 'start at earliest | latest | OFFSET | ISO-8601 time (e.g. 2024-05-01T12:00:00Z)')
    .option('-g, --group <group>', 'read as a member of this consumer group (follows until Ctrl-C) and commit what was printed')
    .addOption(new Option('--format <format>', 'text: one value per line; json: one JSON object per record').choices(['text', 'json']).default('text'))
    .addHelpText(
      'after',
      '\nJSON lines carry topic, partition, offset, timestamp (ms), key, value and headers; keys and values\nthat are not UTF-8 are base64 with "keyEncoding"/"valueEncoding": "base64".',
    )
    .action(async (topic: string, flags: TailFlags, command: Command) => {
      const from = flags.from !== undefined ? parsePosition(flags.from, '--from') : undefined;
      if (flags.group !== undefined) {
        if (flags.partition !== undefined) throw new UsageError('--partition cannot be used with --group (the group assigns partitions)');
        if (from && from.kind !== 'earliest' && from.kind !== 'latest') throw new UsageError('with --group, --from takes earliest or latest (where partitions without a committed offset start)');
      }
      const { signal, dispose } = interruptSignal();
      try {
        await withConnection(command, (connection) =>
          flags.group !== undefined ? tailGroup(connection, topic, flags, from, signal) : tailStandalone(connection, topic, flags, from, signal),
        );
      } finally {
        dispose();
      }
    });
}
