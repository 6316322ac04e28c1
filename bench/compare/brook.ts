/**
 * Brook in the comparison: the broker process started here (`brook serve`
 * on 127.0.0.1 port 0, data under a temp dir), and the "records" driver — the
 * plain `records` form of Produce and decoded Fetch/Subscribe through raw
 * grpc-js and the protos, which is what a client in any language sends.
 * Topics get `flush.policy=always` (fsync level: the produce reply waits for
 * an fdatasync covering it) or `never` (OS-buffered).
 */
import fs from 'fs';
import path from 'path';
import type * as grpc from '@grpc/grpc-js';
import type { pb } from '../../src/protocol';
import { packageVersion } from './package-version';
import { ServerProcess, makeTempDir } from './server-process';
import { makeClient, plainRecords, unary, waitReady } from './grpc-util';
import { nowUs, windowed, withTimeout, type Histogram } from './stats';
import {
  makePayload,
  pacedLoop,
  recordLatency,
  stampedPayload,
  type BatchProducer,
  type Driver,
  type Durability,
  type PartitionReader,
} from './workload';

const WARMUP = 50;
const ROOT = path.resolve(__dirname, '..', '..', '..');
export const BROKER_MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');

export interface BrookServer {
  process: ServerProcess;
  address: string;
  level: Durability;
}

export function flushPolicy(level: Durability): string {
  return level === 'fsync' ? 'always' : 'never';
}

/** True when the broker is built (dist/src/cli/main.js) and has a `serve` command. */
export function brokerAvailable(): boolean {
  return fs.existsSync(BROKER_MAIN) && fs.existsSync(path.join(ROOT, 'dist', 'src', 'server', 'index.js'));
}

export async function startBrook(level: Durability): Promise<BrookServer> {
  const dataDir = makeTempDir(`brook-${level}`);
  const process_ = new ServerProcess({
    name: `brook (${level})`,
    command: process.execPath,
    args: [
      BROKER_MAIN, 'serve',
      '--data-dir', path.join(dataDir, 'data'),
      '--listen', '127.0.0.1:0',
      '--metrics-listen', '127.0.0.1:0',
      '--set', `topic.flush.policy=${flushPolicy(level)}`,
    ],
    // The data dir's parent as cwd, so no config/brook.yaml is picked up.
    cwd: dataDir,
    env: { ...process.env, BROOK_LOG_LEVEL: 'info' },
    readyLine: /"msg":"listening"/,
    readyTimeoutMs: 30_000,
    ownedDirs: [dataDir],
  });
  const match = await process_.start();
  const entry = JSON.parse(match.input ?? '{}') as { addr?: string };
  if (!entry.addr) throw new Error(`brook: no addr in its listening line: ${match.input}`);
  return { process: process_, address: entry.addr, level };
}

/** Creates `topic` with `partitions` partitions and the level's flush policy through Admin. */
export async function createBrookTopic(address: string, topic: string, partitions: number, level: Durability): Promise<void> {
  const admin = makeClient('Admin', address);
  try {
    await unary(admin, 'CreateTopic', { name: topic, partitions, config: { 'flush.policy': flushPolicy(level) } });
  } finally {
    admin.close();
  }
}

export class BrookGrpcDriver implements Driver {
  readonly column = 'brook-grpc' as const;
  readonly client: string;
  private readonly clients: grpc.Client[] = [];

  constructor(private readonly address: string, private readonly level: Durability) {
    this.client = `grpc-js ${packageVersion('@grpc/grpc-js')}, records form`;
  }

  private async open(): Promise<grpc.Client> {
    const client = makeClient('Log', this.address);
    this.clients.push(client);
    await waitReady(client);
    return client;
  }

  createTopic(topic: string, partitions: number): Promise<void> {
    return createBrookTopic(this.address, topic, partitions, this.level);
  }

  async openProducer(): Promise<BatchProducer> {
    const log = await this.open();
    const payload = makePayload();
    return {
      async produce(topic, partitions, total, batch, inFlight, deadlineMs) {
        const batches = Math.ceil(total / batch);
        const started = await windowed(
          batches,
          inFlight,
          async (i) => {
            const n = Math.min(batch, total - i * batch);
            const request: pb.ProduceRequest = { topic, partition: partitions[i % partitions.length], records: plainRecords(n, payload) };
            await unary(log, 'Produce', request);
          },
          deadlineMs,
        );
        return Math.min(total, started * batch);
      },
      close: async () => log.close(),
    };
  }

  async openReader(): Promise<PartitionReader> {
    const log = await this.open();
    return {
      async readAll(topic, partition, count) {
        let offset = 0;
        let seen = 0;
        while (seen < count) {
          const request: pb.FetchRequest = { topic, partition, offset, maxBytes: 1 << 20 };
          const response = await unary<pb.FetchResponse__Output>(log, 'Fetch', request);
          if (response.records.length === 0) throw new Error(`Fetch ${topic}/${partition}: only ${seen} of ${count} records`);
          seen += response.records.length;
          offset = Number(response.nextOffset);
        }
      },
      close: async () => log.close(),
    };
  }

  async produceLatency(topic: string, samples: number, histogram: Histogram): Promise<void> {
    const log = await this.open();
    const records = plainRecords(1);
    for (let i = 0; i < samples + WARMUP; i++) {
      const start = nowUs();
      await unary(log, 'Produce', { topic, partition: 0, records });
      if (i >= WARMUP) histogram.recordValue(Math.max(1, Math.round(nowUs() - start)));
    }
  }

  async endToEnd(topic: string, rate: number, durationMs: number, histogram: Histogram): Promise<void> {
    const producer = await this.open();
    const consumer = await this.open();
    let received = 0;
    let sent = -1;
    const request: pb.SubscribeRequest = { topic, partitions: [0], position: 'START_POSITION_EARLIEST' };
    const stream = (consumer as unknown as { Subscribe(r: unknown): grpc.ClientReadableStream<pb.FetchResponse__Output> }).Subscribe(request);
    const tail = new Promise<void>((resolve, reject) => {
      stream.on('data', (response: pb.FetchResponse__Output) => {
        for (const record of response.records) {
          if (record.value) recordLatency(histogram, record.value);
          received++;
        }
        if (sent >= 0 && received >= sent) resolve();
      });
      stream.on('error', (err: grpc.ServiceError) => (err.code === 1 ? resolve() : reject(err)));
      stream.on('end', () => resolve());
    });
    tail.catch(() => undefined); // observed below; never left unhandled
    let failure: unknown;
    sent = await pacedLoop(rate, durationMs, (times) => {
      const records = times.map((t) => ({ value: stampedPayload(t) }));
      unary(producer, 'Produce', { topic, partition: 0, records }).catch((err) => (failure ??= err));
    });
    try {
      if (received < sent) await withTimeout(tail, 15_000, `Brook W4 tail (${received}/${sent})`);
    } finally {
      stream.cancel();
    }
    if (failure) throw failure;
  }

  async close(): Promise<void> {
    for (const client of this.clients.splice(0)) client.close();
  }
}
