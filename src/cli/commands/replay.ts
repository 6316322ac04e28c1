/**
 * `brook replay TOPIC --from X [--to Y]`: re-reads exactly [from, to) of each
 * partition — once, in offset order, partition after partition — to stdout
 * or `--into` another topic. Without `--to`, up to the high watermark at
 * start. A progress bar (records, rate, ETA) goes to stderr when stderr is a
 * terminal, and nowhere otherwise.
 *
 * Ctrl-C (SIGINT) stops a replay part-way: `brook` then exits 1 with
 * "interrupted after N record(s)" on stderr, so a script never mistakes a
 * partial replay for a complete one (1 rather than the shell's 130, to keep
 * to the documented 0/1/2 exit codes).
 */
import { Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { Admin, PartitionReader, Producer, type Connection, type RecordMetadata } from '../../client';
import { globals, withConnection } from '../context';
import { formatRecord, isStdoutClosed, printJson, writeOut, type RecordFormat } from '../output';
import { parseNonNegativeInt, parsePosition } from '../parse';
import { offsetOf, partitionBounds } from '../partitions';
import { OffsetSummary } from './produce';
import { UsageError } from '../usage-error';

interface ReplayFlags {
  from: string;
  to?: string;
  partition?: number;
  into?: string;
  format: RecordFormat;
}

interface Range {
  partition: number;
  from: number;
  to: number;
}

function progressBar(total: number): { tick: (n: number) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { tick: () => undefined, stop: () => undefined };
  const started = Date.now();
  let done = 0;
  const bar = new SingleBar(
    {
      stream: process.stderr,
      format: 'replay |{bar}| {value}/{total} records | {rate} rec/s | ETA {eta_formatted}',
      hideCursor: true,
      etaBuffer: 50,
      fps: 10,
    },
    { barCompleteChar: '#', barIncompleteChar: '.', barGlue: '' } as never,
  );
  bar.start(total, 0, { rate: 0 });
  return {
    tick: (n) => {
      done += n;
      const seconds = Math.max(0.001, (Date.now() - started) / 1000);
      bar.update(done, { rate: Math.round(done / seconds) });
    },
    stop: () => bar.stop(),
  };
}

async function replayRanges(
  connection: Connection,
  topic: string,
  ranges: Range[],
  flags: ReplayFlags,
  json: boolean,
  signal: AbortSignal,
): Promise<void> {
  const total = ranges.reduce((sum, r) => sum + Math.max(0, r.to - r.from), 0);
  const progress = progressBar(total);
  let producer: Producer | undefined;
  let targetPartitions = 0;
  const summary = new OffsetSummary();
  const pending: Promise<void>[] = [];
  let failure: unknown;
  let replayed = 0;
  if (flags.into !== undefined) {
    targetPartitions = (await new Admin(connection).describeTopic(flags.into)).partitionCount;
    producer = new Producer(connection, { lingerMs: 5 });
  }
  try {
    for (const range of ranges) {
      if (range.from >= range.to) continue;
      const reader = new PartitionReader(connection, topic, range.partition, range.from, { maxWaitMs: 0 });
      try {
        while (reader.position! < range.to && !signal.aborted && !isStdoutClosed() && failure === undefined) {
          let records;
          try {
            ({ records } = await reader.fetch(signal));
          } catch (e) {
            if (signal.aborted) break;
            throw e;
          }
          const wanted = records.filter((r) => r.offset < range.to);
          if (wanted.length === 0 && records.length === 0) {
            // Nothing at this offset although it is below the range end: the range outran the log.
            if (reader.highWatermark <= reader.position!) break;
            continue;
          }
          if (producer) {
            const sent = producer.send(
              wanted.map((r) => ({
                topic: flags.into!,
                key: r.key,
                value: r.value,
                headers: r.headers,
                timestampMs: r.timestampMs,
                ...(range.partition < targetPartitions ? { partition: range.partition } : {}),
              })),
            );
            pending.push(
              sent.then(
                (results: RecordMetadata[]) => summary.add(results),
                (e) => void (failure ??= e),
              ),
            );
            if (pending.length > 64) await pending.shift();
          } else {
            await writeOut(wanted.map((r) => formatRecord(r, flags.format)).join(''));
          }
          progress.tick(wanted.length);
          replayed += wanted.length;
        }
      } finally {
        reader.close();
      }
    }
    await Promise.all(pending);
    if (producer) await producer.flush();
  } finally {
    progress.stop();
    await producer?.close().catch(() => undefined);
  }
  if (failure) throw failure;
  if (signal.aborted) throw new Error(`interrupted after ${replayed} record(s)`);
  if (producer) {
    if (json) {
      printJson({
        topic: flags.into,
        records: summary.total,
        partitions: [...summary.partitions].sort(([a], [b]) => a - b).map(([partition, s]) => ({ partition, firstOffset: s.first, lastOffset: s.last, count: s.count })),
      });
    } else {
      process.stdout.write(summary.describe(flags.into!));
    }
  }
}

export function registerReplay(program: Command): Command {
  return program
    .command('replay')
    .description(
      're-read the exact range [--from, --to) of a topic once, in offset order per partition, to stdout or --into another topic; ' +
        'interrupted by Ctrl-C it exits 1 with "interrupted after N record(s)"',
    )
    .argument('<topic>', 'topic to read')
    .requiredOption('--from <position>', 'first offset, or ISO-8601 time (first record at or after it); also earliest')
    .option('--to <position>', 'end, exclusive: offset or ISO-8601 time (default: the high watermark at start)')
    .option('-p, --partition <p>', 'only this partition', parseNonNegativeInt)
    .option('--into <topic>', 'write the records (key, value, headers, timestamp) to this topic instead of stdout')
    .addOption(new Option('--format <format>', 'stdout format: text (values) or json (one object per record)').choices(['text', 'json']).default('text'))
    .action(async (topic: string, flags: ReplayFlags, command: Command) => {
      const from = parsePosition(flags.from, '--from');
      if (from.kind === 'latest') throw new UsageError('--from latest would replay nothing; use an offset, a time or earliest');
      const to = flags.to !== undefined ? parsePosition(flags.to, '--to', { earliestLatest: false }) : undefined;
      if (flags.into !== undefined && flags.into === topic) throw new UsageError('--into must name a different topic');
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      try {
        await withConnection(command, async (connection) => {
          const bounds = await partitionBounds(connection, topic, flags.partition);
          const ranges = await Promise.all(
            bounds.map(async (b) => {
              const start = await offsetOf(connection, topic, b, from);
              const end = to ? Math.min(await offsetOf(connection, topic, b, to), b.highWatermark) : b.highWatermark;
              return { partition: b.partition, from: start, to: end };
            }),
          );
          await replayRanges(connection, topic, ranges, flags, globals(command).json, controller.signal);
        });
      } finally {
        process.off('SIGINT', stop);
      }
    });
}
