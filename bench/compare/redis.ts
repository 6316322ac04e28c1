/**
 * Redis Streams as a peer: redis-server started here, driven two ways —
 *   - `redis-benchmark` (Redis's own C load generator) for W1's XADD with
 *     -P 1000 (1000 commands pipelined per round trip), and
 *   - ioredis (Node): XADD pipelined per batch, XRANGE for W2, XREAD BLOCK
 *     for W4's tailing consumer, XREADGROUP + XACK for W5.
 * Durability: `appendonly yes` with `appendfsync always` (Redis fsyncs the
 * AOF before replying to the commands of each event-loop round, so a
 * pipeline shares one fsync) or `everysec` (OS-buffered, fsync once a second).
 * Automatic AOF rewrites are off so a fork does not land in a timed run.
 */
import { execFile } from 'child_process';
import { promisify } from 'util';
import Redis from 'ioredis';
import { packageVersion } from './package-version';
import { ServerProcess, freePort, makeTempDir } from './server-process';
import { nowUs, windowed, withTimeout, type Histogram } from './stats';
import {
  makePayload,
  pacedLoop,
  recordLatency,
  stampedPayload,
  type BatchProducer,
  type Driver,
  type Durability,
  type GroupRunOptions,
  type PartitionReader,
} from './workload';

const execFileAsync = promisify(execFile);
const WARMUP = 50;

export interface RedisServer {
  process: ServerProcess;
  port: number;
  version: string;
}

export async function redisVersion(): Promise<string> {
  const { stdout } = await execFileAsync('redis-server', ['--version']);
  return stdout.match(/v=(\S+)/)?.[1] ?? stdout.trim();
}

export async function startRedis(level: Durability): Promise<RedisServer> {
  const dir = makeTempDir(`redis-${level}`);
  const port = await freePort();
  const process = new ServerProcess({
    name: `redis-server (${level})`,
    command: 'redis-server',
    args: [
      '--port', String(port),
      '--bind', '127.0.0.1',
      '--dir', dir,
      '--daemonize', 'no',
      '--save', '',
      '--appendonly', 'yes',
      '--appendfsync', level === 'fsync' ? 'always' : 'everysec',
      '--auto-aof-rewrite-percentage', '0',
      '--logfile', '',
    ],
    readyLine: /Ready to accept connections/,
    ownedDirs: [dir],
  });
  await process.start();
  return { process, port, version: await redisVersion() };
}

function streamKey(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}

/**
 * Runs redis-benchmark's XADD with -P 1000 and returns its requests/s (one
 * request = one record). `keys` > 1 spreads the commands over that many
 * stream keys at random (-r), with `connections` clients.
 */
export async function redisBenchmarkXadd(
  port: number,
  keyPrefix: string,
  records: number,
  keys: number,
  connections: number,
): Promise<number> {
  const value = makePayload().toString('latin1');
  const key = keys > 1 ? `${keyPrefix}-__rand_int__` : keyPrefix;
  const args = ['-h', '127.0.0.1', '-p', String(port), '-c', String(connections), '-n', String(records), '-P', '1000', '--csv'];
  if (keys > 1) args.push('-r', String(keys));
  args.push('XADD', key, '*', 'v', value);
  const { stdout } = await execFileAsync('redis-benchmark', args, { timeout: 300_000, maxBuffer: 1 << 20 });
  // --csv: a header line, then "XADD ...","<rps>",...
  const line = stdout.trim().split('\n').find((l) => l.startsWith('"XADD'));
  const rps = line ? Number(JSON.parse(`[${line}]`)[1]) : NaN;
  if (!Number.isFinite(rps)) throw new Error(`redis-benchmark: cannot read requests/s from:\n${stdout}`);
  return rps;
}

async function connect(port: number): Promise<Redis> {
  const client = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: true });
  await client.connect();
  return client;
}

type StreamEntry = [id: Buffer, fields: Buffer[]];

export class RedisNodeDriver implements Driver {
  readonly column = 'redis-node' as const;
  readonly client: string;
  private readonly clients: Redis[] = [];

  constructor(private readonly port: number) {
    this.client = `ioredis ${packageVersion('ioredis')}`;
  }

  private async open(): Promise<Redis> {
    const client = await connect(this.port);
    this.clients.push(client);
    return client;
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    const admin = await this.open();
    await admin.del(...Array.from({ length: partitions }, (_, p) => streamKey(topic, p)));
  }

  async openProducer(): Promise<BatchProducer> {
    const redis = await this.open();
    const payload = makePayload();
    return {
      async produce(topic, partitions, total, batch, inFlight, deadlineMs) {
        const batches = Math.ceil(total / batch);
        const started = await windowed(
          batches,
          inFlight,
          async (i) => {
            const key = streamKey(topic, partitions[i % partitions.length]);
            const n = Math.min(batch, total - i * batch);
            const pipeline = redis.pipeline();
            for (let k = 0; k < n; k++) pipeline.xadd(key, '*', 'v', payload);
            const replies = await pipeline.exec();
            const failed = replies?.find(([err]) => err);
            if (failed) throw failed[0];
          },
          deadlineMs,
        );
        return Math.min(total, started * batch);
      },
      close: async () => void redis.disconnect(),
    };
  }

  async openReader(): Promise<PartitionReader> {
    const redis = await this.open();
    return {
      async readAll(topic, partition, count, readCount) {
        const key = streamKey(topic, partition);
        let start = '-';
        let seen = 0;
        while (seen < count) {
          const entries = (await redis.callBuffer('XRANGE', key, start, '+', 'COUNT', readCount)) as StreamEntry[];
          if (entries.length === 0) throw new Error(`XRANGE ${key}: only ${seen} of ${count} records`);
          seen += entries.length;
          start = `(${entries[entries.length - 1][0].toString()}`;
        }
      },
      close: async () => void redis.disconnect(),
    };
  }

  async produceLatency(topic: string, samples: number, histogram: Histogram): Promise<void> {
    const redis = await this.open();
    const key = streamKey(topic, 0);
    const payload = makePayload();
    for (let i = 0; i < samples + WARMUP; i++) {
      const start = nowUs();
      await redis.xadd(key, '*', 'v', payload);
      if (i >= WARMUP) histogram.recordValue(Math.max(1, Math.round(nowUs() - start)));
    }
  }

  async endToEnd(topic: string, rate: number, durationMs: number, histogram: Histogram): Promise<void> {
    const producer = await this.open();
    const consumer = await this.open();
    const key = streamKey(topic, 0);
    let received = 0;
    let sent = -1;
    const tail = (async () => {
      let lastId = '0-0';
      while (sent < 0 || received < sent) {
        const reply = (await consumer.callBuffer('XREAD', 'COUNT', 8000, 'BLOCK', 200, 'STREAMS', key, lastId)) as
          | [Buffer, StreamEntry[]][]
          | null;
        if (!reply) continue;
        for (const [id, fields] of reply[0][1]) {
          recordLatency(histogram, fields[1]);
          lastId = id.toString();
          received++;
        }
      }
    })();
    let failure: unknown;
    sent = await pacedLoop(rate, durationMs, (times) => {
      const pipeline = producer.pipeline();
      for (const t of times) pipeline.xadd(key, '*', 'v', stampedPayload(t));
      pipeline.exec().catch((err) => (failure ??= err));
    });
    await withTimeout(tail, 15_000, `redis W4 tail (${received}/${sent})`);
    if (failure) throw failure;
  }

  async groupConsume(options: GroupRunOptions): Promise<number> {
    const { topic, partitions, members, backlog, readCount, backgroundRate } = options;
    const admin = await this.open();
    const keys = Array.from({ length: partitions }, (_, p) => streamKey(topic, p));
    for (const key of keys) await admin.call('XGROUP', 'CREATE', key, 'g', '0');
    const memberClients = await Promise.all(Array.from({ length: members }, () => this.open()));
    const background = await this.open();
    let consumed = 0;
    let done = false;
    const start = performance.now();
    let end = 0;
    const finish = (): void => {
      if (done) return;
      done = true;
      end = performance.now();
    };
    const budget = setTimeout(finish, options.budgetMs);
    const member = async (m: number): Promise<void> => {
      const redis = memberClients[m];
      const owned = keys.filter((_, p) => p % members === m);
      const args = ['GROUP', 'g', `m${m}`, 'COUNT', String(readCount), 'BLOCK', '100', 'STREAMS', ...owned, ...owned.map(() => '>')];
      while (!done) {
        const reply = (await redis.callBuffer('XREADGROUP', ...args)) as [Buffer, StreamEntry[]][] | null;
        if (!reply) continue;
        for (const [key, entries] of reply) {
          if (entries.length === 0) continue;
          consumed += entries.length;
          // Acknowledge the batch; the reply is not awaited, the next read queues behind it.
          redis.call('XACK', key, 'g', ...entries.map(([id]) => id)).catch(() => undefined);
        }
        if (consumed >= backlog) finish();
      }
    };
    const payload = makePayload();
    let tick = 0;
    const load = pacedLoop(
      backgroundRate,
      600_000,
      (times) => {
        const pipeline = background.pipeline();
        const key = keys[tick++ % keys.length];
        for (let i = 0; i < times.length; i++) pipeline.xadd(key, '*', 'v', payload);
        pipeline.exec().catch(() => undefined);
      },
      () => done,
    );
    await withTimeout(Promise.all(Array.from({ length: members }, (_, m) => member(m))), 600_000, 'redis W5 group');
    clearTimeout(budget);
    await load;
    return consumed / ((end - start) / 1000);
  }

  async close(): Promise<void> {
    for (const client of this.clients.splice(0)) client.disconnect();
  }
}
