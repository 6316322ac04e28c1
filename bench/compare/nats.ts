/**
 * NATS JetStream as a peer: nats-server -js started here with file storage
 * under a temp dir, driven by nats.js (@nats-io/transport-node +
 * @nats-io/jetstream): async publish (acks awaited per batch), ordered pull
 * consumers for W2/W4, durable pull consumers (AckAll, one ack per 1000
 * messages) for W5. One JetStream stream stands for one partition.
 *
 * Durability: nats-server 2.10 added `sync_interval: always` to the
 * jetstream block (fsync on every write); that is used for the fsync level
 * when the installed server has it. Older servers (2.9.x, Debian bookworm)
 * have no sync setting at all: their file store syncs on its own 2-minute
 * timer, so JetStream's "fsync" figures are then OS-buffered and flagged so.
 */
import { execFile } from 'child_process';
import fs from 'fs';
import path from 'path';
import { promisify } from 'util';
import { connect } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
} from '@nats-io/jetstream';
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
type NatsConnection = Awaited<ReturnType<typeof connect>>;
const WARMUP = 50;

export interface NatsServer {
  process: ServerProcess;
  port: number;
  version: string;
  /** What "acknowledged" means at this level on this server version. */
  syncSetting: string;
  /** False when the fsync level could not be honoured by this server. */
  fsyncBeforeAck: boolean;
}

export async function natsVersion(): Promise<string> {
  const { stdout } = await execFileAsync('nats-server', ['--version']);
  return stdout.match(/v(\d+\.\d+\.\d+)/)?.[1] ?? stdout.trim();
}

/** nats-server ≥ 2.10 understands `sync_interval: always`. */
export function hasSyncAlways(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

export async function startNats(level: Durability): Promise<NatsServer> {
  const version = await natsVersion();
  const dir = makeTempDir(`nats-${level}`);
  const port = await freePort();
  const syncAlways = level === 'fsync' && hasSyncAlways(version);
  const config = [
    `listen: "127.0.0.1:${port}"`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(path.join(dir, 'js'))}`,
    ...(syncAlways ? ['  sync_interval: always'] : []),
    '}',
  ].join('\n');
  const configFile = path.join(dir, 'nats.conf');
  fs.writeFileSync(configFile, config + '\n');
  const process = new ServerProcess({
    name: `nats-server (${level})`,
    command: 'nats-server',
    args: ['-c', configFile],
    readyLine: /Server is ready/,
    ownedDirs: [dir],
  });
  await process.start();
  const syncSetting = syncAlways
    ? 'sync_interval: always'
    : level === 'fsync'
      ? `none available in nats-server ${version} (no sync_interval before 2.10): default 2-minute sync`
      : 'default (sync every 2 minutes)';
  return { process, port, version, syncSetting, fsyncBeforeAck: syncAlways };
}

function streamName(topic: string, partition: number): string {
  return `${topic}-${partition}`;
}
function subject(topic: string, partition: number): string {
  return `${topic}.${partition}`;
}

export class NatsNodeDriver implements Driver {
  readonly column = 'nats-node' as const;
  readonly client: string;
  private readonly connections: NatsConnection[] = [];

  constructor(private readonly port: number) {
    this.client = `nats.js ${packageVersion('@nats-io/jetstream')}`;
  }

  private async open(): Promise<{ nc: NatsConnection; js: JetStreamClient }> {
    const nc = await connect({ servers: `127.0.0.1:${this.port}`, maxReconnectAttempts: 0 });
    this.connections.push(nc);
    // Acks of a deep async-publish window can take long on a busy machine.
    return { nc, js: jetstream(nc, { timeout: 60_000 }) };
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    const { nc } = await this.open();
    const jsm = await jetstreamManager(nc);
    for (let p = 0; p < partitions; p++) {
      await jsm.streams.delete(streamName(topic, p)).catch(() => undefined);
      await jsm.streams.add({ name: streamName(topic, p), subjects: [subject(topic, p)], storage: StorageType.File });
    }
  }

  async openProducer(): Promise<BatchProducer> {
    const { nc, js } = await this.open();
    const payload = makePayload();
    return {
      async produce(topic, partitions, total, batch, inFlight, deadlineMs) {
        const batches = Math.ceil(total / batch);
        const started = await windowed(
          batches,
          inFlight,
          async (i) => {
            const subj = subject(topic, partitions[i % partitions.length]);
            const n = Math.min(batch, total - i * batch);
            const acks: Promise<unknown>[] = new Array(n);
            for (let k = 0; k < n; k++) acks[k] = js.publish(subj, payload);
            await Promise.all(acks);
          },
          deadlineMs,
        );
        return Math.min(total, started * batch);
      },
      close: () => nc.close(),
    };
  }

  async openReader(): Promise<PartitionReader> {
    const { nc, js } = await this.open();
    return {
      async readAll(topic, partition, count, readCount) {
        const consumer = await js.consumers.get(streamName(topic, partition), { deliver_policy: DeliverPolicy.All });
        const messages = await consumer.consume({ max_messages: readCount });
        let seen = 0;
        for await (const _ of messages) {
          if (++seen >= count) break;
        }
        await messages.close();
        if (seen < count) throw new Error(`JetStream ${streamName(topic, partition)}: only ${seen} of ${count} records`);
      },
      close: () => nc.close(),
    };
  }

  async produceLatency(topic: string, samples: number, histogram: Histogram): Promise<void> {
    const { js } = await this.open();
    const subj = subject(topic, 0);
    const payload = makePayload();
    for (let i = 0; i < samples + WARMUP; i++) {
      const start = nowUs();
      await js.publish(subj, payload);
      if (i >= WARMUP) histogram.recordValue(Math.max(1, Math.round(nowUs() - start)));
    }
  }

  async endToEnd(topic: string, rate: number, durationMs: number, histogram: Histogram): Promise<void> {
    const producer = await this.open();
    const consumer = await this.open();
    const tailer = await consumer.js.consumers.get(streamName(topic, 0), { deliver_policy: DeliverPolicy.All });
    const messages = await tailer.consume({ max_messages: 1000 });
    let received = 0;
    let sent = -1;
    const tail = (async () => {
      for await (const m of messages) {
        recordLatency(histogram, m.data);
        if (++received >= sent && sent >= 0) break;
      }
    })();
    let failure: unknown;
    const subj = subject(topic, 0);
    sent = await pacedLoop(rate, durationMs, (times) => {
      for (const t of times) producer.js.publish(subj, stampedPayload(t)).catch((err) => (failure ??= err));
    });
    if (received >= sent) void messages.close();
    await withTimeout(tail, 15_000, `JetStream W4 tail (${received}/${sent})`);
    await messages.close();
    if (failure) throw failure;
  }

  async groupConsume(options: GroupRunOptions): Promise<number> {
    const { topic, partitions, members, backlog, readCount, backgroundRate } = options;
    const { nc } = await this.open();
    const jsm = await jetstreamManager(nc);
    for (let p = 0; p < partitions; p++) {
      await jsm.consumers.add(streamName(topic, p), {
        durable_name: 'g',
        ack_policy: AckPolicy.All,
        deliver_policy: DeliverPolicy.All,
        max_ack_pending: 100_000,
      });
    }
    const memberConnections = await Promise.all(Array.from({ length: members }, () => this.open()));
    const background = await this.open();
    const iterators: ConsumerMessages[] = [];
    let consumed = 0;
    let done = false;
    let end = 0;
    const start = performance.now();
    const finish = (): void => {
      if (done) return;
      done = true;
      end = performance.now();
      for (const it of iterators) it.stop();
    };
    const readPartition = async (m: number, p: number): Promise<void> => {
      const consumer = await memberConnections[m].js.consumers.get(streamName(topic, p), 'g');
      const messages = await consumer.consume({ max_messages: readCount });
      iterators.push(messages);
      if (done) messages.stop();
      let sinceAck = 0;
      for await (const message of messages) {
        consumed++;
        if (++sinceAck >= 1000) {
          message.ack(); // AckAll: acknowledges everything up to here
          sinceAck = 0;
        }
        if (consumed >= backlog) finish();
      }
    };
    const budget = setTimeout(finish, options.budgetMs);
    const readers: Promise<void>[] = [];
    for (let p = 0; p < partitions; p++) readers.push(readPartition(p % members, p));
    const payload = makePayload();
    let tick = 0;
    const load = pacedLoop(
      backgroundRate,
      600_000,
      (times) => {
        const subj = subject(topic, tick++ % partitions);
        for (let i = 0; i < times.length; i++) background.js.publish(subj, payload).catch(() => undefined);
      },
      () => done,
    );
    await withTimeout(Promise.all(readers), 600_000, 'JetStream W5 group');
    clearTimeout(budget);
    await load;
    return consumed / ((end - start) / 1000);
  }

  async close(): Promise<void> {
    await Promise.all(this.connections.splice(0).map((nc) => nc.close().catch(() => undefined)));
  }
}
