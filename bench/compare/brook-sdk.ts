/**
 * Brook through its own SDK (src/client), as an application would use it:
 *   W1  Producer.send() of 1000-record arrays, as an application streaming
 *       records would call it: up to SEND_WINDOW_RECORDS records
 *       unacknowledged, and the Producer packs them into batches of up to
 *       batchMaxBytes = 1 MiB (the broker's default max.message.bytes is
 *       1,048,588), up to 5 requests in flight per partition (idempotent).
 *       Each batch is encoded once into a RecordBatch v2 and sent on the
 *       `record_batch` fast path. Both are documented Producer options.
 *   W2  PartitionReader (default mode 'stream'): one raw Subscribe stream
 *       of stored batch bytes, decoded on the client.
 *   W3  Producer with lingerMs 0, one send() awaited at a time.
 *   W4  Producer (default lingerMs) paced, and a PartitionReader following
 *       the tail on its stream.
 *   W5  four Consumers in one group (broker-side assignment, auto-commit).
 */
import { Connection, Consumer, PartitionReader, Producer, type ConnectionOptions, type ProducerRecord } from '../../src/client';
import { createBrookTopic } from './brook';
import { packageVersion } from './package-version';
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
  type PartitionReader as ReaderHandle,
} from './workload';

const WARMUP = 50;
/**
 * W1's batch size. Per request the grpc-js client spends ~240 µs of CPU and
 * the broker a comparable fixed cost, so at 1000 records per request a
 * producer tops out near 900k records/s on calls alone; ~9,700 records per
 * request (1 MiB) makes that fixed cost ~10% of the budget at 1M records/s.
 */
const W1_BATCH_MAX_BYTES = 1024 * 1024;
/** Records the W1 application keeps unacknowledged: about five 1 MiB batches of 100-byte records. */
const SEND_WINDOW_RECORDS = 50_000;

export class BrookSdkDriver implements Driver {
  readonly column = 'brook-sdk' as const;
  readonly client = `Brook SDK (src/client) on grpc-js ${packageVersion('@grpc/grpc-js')}`;
  private readonly connections: Connection[] = [];

  /** `connection`: options for every connection the driver makes (client-profile's --no-produce-stream). */
  constructor(
    private readonly address: string,
    private readonly level: Durability,
    private readonly connection: Partial<ConnectionOptions> = {},
  ) {}

  private connect(): Connection {
    const connection = new Connection({ ...this.connection, addr: this.address });
    this.connections.push(connection);
    return connection;
  }

  createTopic(topic: string, partitions: number): Promise<void> {
    return createBrookTopic(this.address, topic, partitions, this.level);
  }

  async openProducer(): Promise<BatchProducer> {
    const connection = this.connect();
    const payload = makePayload();
    let producer: Producer | undefined;
    return {
      async produce(topic, partitions, total, batch, inFlight, deadlineMs) {
        producer = new Producer(connection, { batchMaxBytes: W1_BATCH_MAX_BYTES });
        const p = producer;
        const batches = Math.ceil(total / batch);
        const started = await windowed(
          batches,
          Math.max(inFlight, Math.ceil(SEND_WINDOW_RECORDS / batch)),
          async (i) => {
            const partition = partitions[i % partitions.length];
            const n = Math.min(batch, total - i * batch);
            const records = new Array<ProducerRecord>(n);
            for (let k = 0; k < n; k++) records[k] = { topic, partition, value: payload };
            const sent = p.send(records);
            if (n < batch) await p.flush();
            await sent;
          },
          deadlineMs,
        );
        return Math.min(total, started * batch);
      },
      async close() {
        await producer?.close();
        connection.close();
      },
    };
  }

  async openReader(): Promise<ReaderHandle> {
    const connection = this.connect();
    return {
      async readAll(topic, partition, count) {
        const reader = new PartitionReader(connection, topic, partition, 0, { maxBytes: 1 << 20 });
        let seen = 0;
        while (seen < count) {
          const { records } = await reader.fetch(undefined, 0);
          if (records.length === 0) throw new Error(`PartitionReader ${topic}/${partition}: only ${seen} of ${count} records`);
          seen += records.length;
        }
      },
      close: async () => connection.close(),
    };
  }

  async produceLatency(topic: string, samples: number, histogram: Histogram): Promise<void> {
    const producer = new Producer(this.connect(), { lingerMs: 0 });
    const payload = makePayload();
    try {
      for (let i = 0; i < samples + WARMUP; i++) {
        const start = nowUs();
        await producer.send({ topic, partition: 0, value: payload });
        if (i >= WARMUP) histogram.recordValue(Math.max(1, Math.round(nowUs() - start)));
      }
    } finally {
      await producer.close();
    }
  }

  async endToEnd(topic: string, rate: number, durationMs: number, histogram: Histogram): Promise<void> {
    // The Producer's default linger (5 ms): with lingerMs 0 every record becomes
    // its own batch, and one batch per round trip cannot keep up with 20,000/s.
    const producer = new Producer(this.connect());
    const reader = new PartitionReader(this.connect(), topic, 0, 0, { maxBytes: 1 << 20, maxWaitMs: 200 });
    let received = 0;
    let sent = -1;
    const tail = (async () => {
      while (sent < 0 || received < sent) {
        const { records } = await reader.fetch();
        for (const record of records) {
          if (record.value) recordLatency(histogram, record.value);
          received++;
        }
      }
    })();
    tail.catch(() => undefined); // observed below
    let failure: unknown;
    try {
      sent = await pacedLoop(rate, durationMs, (times) => {
        for (const t of times) producer.send({ topic, partition: 0, value: stampedPayload(t) }).catch((err) => (failure ??= err));
      });
      await withTimeout(tail, 15_000, `Brook SDK W4 tail (${received}/${sent})`);
    } finally {
      await producer.close();
    }
    if (failure) throw failure;
  }

  async groupConsume(options: GroupRunOptions): Promise<number> {
    const { topic, partitions, members, backlog, backgroundRate } = options;
    const groupId = `${topic}-group`;
    const consumers = Array.from(
      { length: members },
      () => new Consumer(this.connect(), { groupId, offsetReset: 'earliest', maxBytes: 1 << 20, sessionTimeoutMs: 10_000 }),
    );
    const background = new Producer(this.connect(), { lingerMs: 5 });
    const payload = makePayload();
    let consumed = 0;
    let done = false;
    let end = 0;
    const start = performance.now();
    const finish = (): void => {
      if (done) return;
      done = true;
      end = performance.now();
      // A member waiting on its partitions leaves its loop once closed.
      for (const c of consumers) void c.close().catch(() => undefined);
    };
    const budget = setTimeout(finish, options.budgetMs);
    const member = async (consumer: Consumer): Promise<void> => {
      consumer.subscribe(topic);
      for await (const _ of consumer) {
        if (++consumed >= backlog) finish();
        if (done) break;
      }
    };
    let tick = 0;
    const load = pacedLoop(
      backgroundRate,
      600_000,
      (times) => {
        const partition = tick++ % partitions;
        for (let i = 0; i < times.length; i++) background.send({ topic, partition, value: payload }).catch(() => undefined);
      },
      () => done,
    );
    try {
      await withTimeout(Promise.all(consumers.map(member)), 600_000, 'Brook W5 group');
      clearTimeout(budget);
      await load;
    } finally {
      await Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
      await background.close().catch(() => undefined);
    }
    return consumed / ((end - start) / 1000);
  }

  async close(): Promise<void> {
    for (const connection of this.connections.splice(0)) connection.close();
  }
}

export async function makeSdkDriver(address: string, level: Durability): Promise<Driver | undefined> {
  return new BrookSdkDriver(address, level);
}
