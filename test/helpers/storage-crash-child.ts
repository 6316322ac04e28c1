/**
 * Child process for the storage crash test. Appends random batches to topic
 * "t" partition 0 under flush.policy=always from several concurrent
 * appenders, and tails the partition like a consumer. Prints one line per
 * event on stdout (a pipe: synchronous on Linux, so a printed line happened):
 *
 *   READY <highWatermark>
 *   A <baseOffset> <lastOffset> <sha1 of the stored batch bytes>   an acknowledged append
 *   S <baseOffset> <lastOffset> <sha1>                             a batch a reader saw
 *
 * The parent SIGKILLs it at a random moment and checks the log afterwards.
 * Usage: node <transpile hook> storage-crash-child.ts DATA_DIR SEED
 */
import { createHash } from 'crypto';
import { encodeRecordBatch, readBatchHeader } from '../../src/record';
import { LogManager } from '../../src/storage';

const [dataDir, seedText] = process.argv.slice(2);
let seed = Number(seedText) >>> 0 || 1;
function random(): number {
  // xorshift32: deterministic per seed, good enough for sizes.
  seed ^= seed << 13;
  seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  seed >>>= 0;
  return seed / 0x1_0000_0000;
}

const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
const say = (line: string): void => {
  process.stdout.write(line + '\n');
};

async function main(): Promise<void> {
  const manager = await LogManager.open({ dataDir, recoveryCheckpointIntervalMs: 40, retentionCheckIntervalMs: 0 });
  if (!manager.hasTopic('t')) await manager.createTopic('t', 1, { 'segment.bytes': '262144', 'index.interval.bytes': '1024' });
  const log = manager.partition('t', 0);
  say(`READY ${log.highWatermark}`);

  const appender = async (id: number): Promise<void> => {
    for (let n = 0; ; n++) {
      const count = 1 + Math.floor(random() * 12);
      const records = Array.from({ length: count }, (_, i) => ({ value: Buffer.alloc(Math.floor(random() * 300), `${id}:${n}:${i};`) }));
      const batch = encodeRecordBatch(records);
      const result = await log.append(batch);
      say(`A ${result.baseOffset} ${result.lastOffset} ${sha1(batch)}`);
    }
  };

  const reader = async (): Promise<void> => {
    let offset = log.logStartOffset;
    for (;;) {
      if (offset >= log.highWatermark) {
        await new Promise((resolve) => log.once('highWatermark', resolve));
        continue;
      }
      const r = await log.read(offset, 32 * 1024);
      let position = 0;
      while (position < r.data.length) {
        const h = readBatchHeader(r.data, position);
        if (h.lastOffset >= offset) say(`S ${h.baseOffset} ${h.lastOffset} ${sha1(r.data.subarray(position, position + h.sizeInBytes))}`);
        position += h.sizeInBytes;
      }
      offset = r.nextOffset;
    }
  };

  await Promise.all([appender(1), appender(2), appender(3), appender(4), reader()]);
}

main().catch((e) => {
  process.stderr.write(`child failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
