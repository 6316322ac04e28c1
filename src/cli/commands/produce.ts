/**
 * `brook produce TOPIC`: one record per input line (stdin or --file).
 *
 * Lines are cut from the input chunks as Buffer slices (no string decoding)
 * and handed to the SDK Producer in slices of 10,000 records with at most 32
 * slices outstanding, so input is read only as fast as the broker accepts it
 * and memory stays bounded (32 x 10,000 lines) while batches stay full.
 */
import fs from 'fs';
import { Command } from 'commander';
import { Producer, type ProducerRecord, type RecordMetadata } from '../../client';
import { describeError, BrookError } from '../../client';
import { connect, globals } from '../context';
import { writeOut } from '../output';
import { collectPair, parseNonNegativeInt } from '../parse';
import { UsageError } from '../usage-error';

const SLICE_RECORDS = 10_000;
const MAX_OUTSTANDING_SLICES = 32;

interface ProduceFlags {
  partition?: number;
  key?: string;
  keySeparator?: string;
  header?: Array<[string, string]>;
  file?: string;
}

/** Yields the lines of a stream as Buffers, without their "\n" (or "\r\n"). */
export async function* readLines(stream: NodeJS.ReadableStream): AsyncGenerator<Buffer> {
  let rest: Buffer | undefined;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const data: Buffer = rest ? Buffer.concat([rest, chunk]) : chunk;
    let start = 0;
    for (;;) {
      const nl = data.indexOf(10, start);
      if (nl < 0) break;
      const end = nl > start && data[nl - 1] === 13 ? nl - 1 : nl;
      yield data.subarray(start, end);
      start = nl + 1;
    }
    rest = start < data.length ? Buffer.from(data.subarray(start)) : undefined;
  }
  if (rest && rest.length > 0) yield rest[rest.length - 1] === 13 ? rest.subarray(0, rest.length - 1) : rest;
}

/** Per target partition: how many records and which offsets. */
class OffsetSummary {
  readonly partitions = new Map<number, { first: number; last: number; count: number }>();
  total = 0;
  add(results: RecordMetadata[]): void {
    for (const r of results) {
      this.total++;
      const p = this.partitions.get(r.partition);
      if (!p) this.partitions.set(r.partition, { first: r.offset, last: r.offset, count: 1 });
      else {
        p.first = Math.min(p.first, r.offset);
        p.last = Math.max(p.last, r.offset);
        p.count++;
      }
    }
  }
  describe(topic: string): string {
    const parts = [...this.partitions].sort(([a], [b]) => a - b).map(([p, s]) => (s.first < 0 ? `partition ${p}: ${s.count}` : `partition ${p}: offsets ${s.first}-${s.last}`));
    return `wrote ${this.total} record(s) to ${topic}${parts.length ? ` (${parts.join('; ')})` : ''}\n`;
  }
}

export { OffsetSummary };

export function registerProduce(program: Command): Command {
  return program
    .command('produce')
    .description('produce one record per input line (stdin, or --file)')
    .argument('<topic>', 'topic to write to')
    .option('-p, --partition <p>', 'write every record to this partition (default: by key; keyless records are spread)', parseNonNegativeInt)
    .option('-k, --key <key>', 'key for every record')
    .option('--key-separator <sep>', 'split each line into "KEY<sep>VALUE"')
    .option('-H, --header <key=value>', 'header for every record, repeatable', collectPair)
    .option('-f, --file <path>', 'read lines from this file instead of stdin')
    .addHelpText('after', '\nWith --json, prints {"partition","offset"} for every record, in input order.')
    .action(async (topic: string, flags: ProduceFlags, command: Command) => {
      if (flags.key !== undefined && flags.keySeparator !== undefined) throw new UsageError('--key and --key-separator cannot be used together');
      if (flags.keySeparator === '') throw new UsageError('--key-separator must not be empty');
      let input: NodeJS.ReadableStream;
      if (flags.file !== undefined) {
        try {
          fs.accessSync(flags.file, fs.constants.R_OK);
        } catch {
          throw new Error(`cannot read --file ${flags.file}`);
        }
        input = fs.createReadStream(flags.file, { highWaterMark: 1024 * 1024 });
      } else {
        input = process.stdin;
      }
      const json = globals(command).json;
      const connection = connect(command);
      const producer = new Producer(connection, { lingerMs: 5, retry: { retries: 5, initialBackoffMs: 100, maxBackoffMs: 2000, multiplier: 2, jitter: 0.2 } });
      const headers = (flags.header ?? []).map(([key, value]) => ({ key, value: Buffer.from(value) }));
      const fixedKey = flags.key !== undefined ? Buffer.from(flags.key) : null;
      const separator = flags.keySeparator !== undefined ? Buffer.from(flags.keySeparator) : undefined;
      const summary = new OffsetSummary();
      // Results are printed in input order: each slice waits for the ones before it.
      let printed: Promise<void> = Promise.resolve();
      const outstanding: Promise<void>[] = [];
      let firstError: unknown;
      const sendSlice = (slice: ProducerRecord[]): void => {
        const sent = producer.send(slice);
        const previous = printed;
        printed = (async () => {
          const results = await sent;
          await previous;
          summary.add(results);
          if (json) await writeOut(results.map((r) => `{"partition":${r.partition},"offset":${r.offset}}\n`).join(''));
        })();
        printed.catch((e) => (firstError ??= e));
        outstanding.push(printed.catch(() => undefined));
      };
      try {
        let slice: ProducerRecord[] = [];
        let lineNumber = 0;
        for await (const line of readLines(input)) {
          lineNumber++;
          if (firstError) break;
          let key: Buffer | null = fixedKey;
          let value: Buffer = line;
          if (separator) {
            const at = line.indexOf(separator);
            if (at < 0) throw new Error(`line ${lineNumber} has no key separator "${flags.keySeparator}"`);
            key = line.subarray(0, at);
            value = line.subarray(at + separator.length);
          }
          const record: ProducerRecord = { topic, key, value, headers };
          if (flags.partition !== undefined) record.partition = flags.partition;
          slice.push(record);
          if (slice.length >= SLICE_RECORDS) {
            sendSlice(slice);
            slice = [];
            if (outstanding.length >= MAX_OUTSTANDING_SLICES) await outstanding.shift();
          }
        }
        if (slice.length > 0) sendSlice(slice);
        await Promise.all(outstanding);
        await producer.flush();
      } finally {
        await producer.close().catch(() => undefined);
        connection.close();
      }
      if (firstError) {
        const done = summary.total > 0 ? ` after ${summary.total} record(s) were written` : '';
        throw new Error(`${firstError instanceof BrookError ? describeError(firstError) : String(firstError)}${done}`);
      }
      if (!json) process.stderr.write(summary.describe(topic));
    });
}
