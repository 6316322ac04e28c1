/**
 * Load: many client connections and many partitions against one broker.
 *
 * - `connections` separate HTTP/2 connections: each client is its own
 *   grpc-js channel with `grpc.use_local_subchannel_pool` and a distinct
 *   `grpc.brook_client_index` option (grpc-js would otherwise share one
 *   connection between clients with the same target and options). The broker
 *   side is counted from the socket fds in /proc/PID/fd.
 * - `topics × partitionsPerTopic` partitions. Half the clients produce (one
 *   small ACKS_LEADER produce every ~200 ms to a random partition), half are
 *   consumers that long-poll (Fetch, max_wait_ms 500) over their own slice of
 *   the partitions. Each value carries its send time, so consumers measure
 *   end-to-end latency.
 * - Phase A measures produce/consume rates and latencies; phase B repeats it
 *   with one slow consumer added: a Subscribe to every partition of every
 *   topic from the earliest offset whose stream is paused (it stops reading;
 *   HTTP/2 flow control must hold the broker back, not the others) and a Fetch
 *   consumer that sleeps 2 s between large reads.
 * - RSS of the broker (VmRSS) sampled every second; start-up time on the same
 *   data after a clean stop (SIGTERM) and after an unclean one (SIGKILL).
 */
import * as grpc from '@grpc/grpc-js';
import { brookServices } from '../../src/protocol';
import { startBroker, type BrokerProcess } from '../helpers/broker';
import { grpcClients } from '../helpers/grpc';
import { rssKiB, socketCount } from '../helpers/process-stats';

export interface LoadOptions {
  connections: number;
  topics: number;
  partitionsPerTopic: number;
  /** Length of each measured phase. */
  phaseMs: number;
  onLog?: (line: string) => void;
}

export interface PhaseFigures {
  producedPerSec: number;
  consumedPerSec: number;
  produceP50Ms: number;
  produceP99Ms: number;
  endToEndP50Ms: number;
  endToEndP99Ms: number;
  produceErrors: number;
  fetchErrors: number;
}

export interface LoadReport {
  connections: number;
  brokerSockets: number;
  partitions: number;
  createTopicsMs: number;
  withoutSlowConsumer: PhaseFigures;
  withSlowConsumer: PhaseFigures;
  afterSlowConsumer: PhaseFigures;
  slowConsumerRecords: number;
  rssStartKiB: number;
  rssMaxKiB: number;
  rssEndKiB: number;
  cleanStartMs: number;
  uncleanStartMs: number;
  brokerAliveThroughout: boolean;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Unary = (method: string, request: object, timeoutMs: number) => Promise<any>;

function makeClient(addr: string, index: number): { call: Unary; raw: grpc.Client; close(): void } {
  const Log = brookServices().Log;
  const raw = new Log(addr, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.brook_client_index': index }) as grpc.Client & Record<string, any>;
  const call: Unary = (method, request, timeoutMs) =>
    new Promise((resolve, reject) => {
      raw[method](request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)));
    });
  return { call, raw, close: () => raw.close() };
}

/** Time from starting the broker to the first answered ListOffsets on the last partition. */
async function timedStart(dataDir: string): Promise<{ broker: BrokerProcess; ms: number }> {
  const started = Date.now();
  const broker = await startBroker({ dataDir, startTimeoutMs: 120_000 });
  return { broker, ms: Date.now() - started };
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const log = options.onLog ?? (() => undefined);
  let broker = await startBroker({ config: { 'limits.max_wait_ms': 1000 }, startTimeoutMs: 120_000 });
  const dataDir = broker.dataDir;
  const admin = grpcClients(broker.addr);
  const topics = Array.from({ length: options.topics }, (_, i) => `load-${i}`);
  const partitions: Array<{ topic: string; partition: number }> = [];
  const createStarted = Date.now();
  for (const name of topics) {
    await admin.admin.CreateTopic({ name, partitions: options.partitionsPerTopic }, { timeoutMs: 120_000 });
    for (let p = 0; p < options.partitionsPerTopic; p++) partitions.push({ topic: name, partition: p });
  }
  const createTopicsMs = Date.now() - createStarted;
  log(`created ${partitions.length} partitions in ${createTopicsMs} ms`);

  const rssStartKiB = rssKiB(broker.pid);
  let rssMaxKiB = rssStartKiB;
  let alive = true;
  const sampler = setInterval(() => {
    const rss = rssKiB(broker.pid);
    if (rss === 0) alive = false;
    rssMaxKiB = Math.max(rssMaxKiB, rss);
  }, 1000);

  const clients = Array.from({ length: options.connections }, (_, i) => makeClient(broker.addr, i));
  // Open every connection before measuring.
  await Promise.all(clients.map((c) => c.call('ListOffsets', { topic: topics[0], partition: 0, spec: 'OFFSET_SPEC_LATEST' }, 60_000)));
  const brokerSockets = socketCount(broker.pid);
  log(`${clients.length} clients connected; broker holds ${brokerSockets} sockets`);

  const producers = clients.slice(0, Math.ceil(clients.length / 2));
  const consumers = clients.slice(producers.length);
  let running = true;
  const stats = { produced: 0, consumed: 0, produceLatency: [] as number[], endToEnd: [] as number[], produceErrors: 0, fetchErrors: 0 };
  const resetStats = (): void => {
    stats.produced = 0;
    stats.consumed = 0;
    stats.produceLatency = [];
    stats.endToEnd = [];
    stats.produceErrors = 0;
    stats.fetchErrors = 0;
  };

  const produceLoop = async (c: ReturnType<typeof makeClient>, index: number): Promise<void> => {
    await sleep((index * 37) % 200);
    while (running) {
      const target = partitions[Math.floor(Math.random() * partitions.length)];
      const sent = Date.now();
      try {
        const value = Buffer.alloc(100, 0x20);
        value.write(String(sent));
        await c.call('Produce', { topic: target.topic, partition: target.partition, records: [{ value }, { value }] }, 30_000);
        stats.produceLatency.push(Date.now() - sent);
        stats.produced += 2;
      } catch {
        stats.produceErrors++;
      }
      await sleep(150 + Math.random() * 100);
    }
  };

  const consumeLoop = async (c: ReturnType<typeof makeClient>, index: number): Promise<void> => {
    // Consumer i owns partitions i, i + consumers, ...: every partition has a reader.
    const mine = partitions.filter((_, k) => k % consumers.length === index);
    const position = new Map<string, number>();
    for (const p of mine) {
      const res = await c.call('ListOffsets', { topic: p.topic, partition: p.partition, spec: 'OFFSET_SPEC_LATEST' }, 60_000).catch(() => ({ offset: 0 }));
      position.set(`${p.topic}/${p.partition}`, Number(res.offset));
    }
    let k = 0;
    while (running) {
      const p = mine[k++ % mine.length];
      const key = `${p.topic}/${p.partition}`;
      try {
        const res = await c.call('Fetch', { topic: p.topic, partition: p.partition, offset: position.get(key), maxWaitMs: mine.length > 4 ? 50 : 500 }, 30_000);
        const now = Date.now();
        for (const r of res.records) {
          const sent = Number(r.value.subarray(0, 13).toString());
          if (Number.isFinite(sent)) stats.endToEnd.push(now - sent);
        }
        stats.consumed += res.records.length;
        position.set(key, Number(res.nextOffset));
      } catch {
        stats.fetchErrors++;
        await sleep(50);
      }
    }
  };

  const workers = [...producers.map(produceLoop), ...consumers.map(consumeLoop)];

  const measure = async (label: string): Promise<PhaseFigures> => {
    resetStats();
    const started = Date.now();
    await sleep(options.phaseMs);
    const seconds = (Date.now() - started) / 1000;
    const pl = [...stats.produceLatency].sort((a, b) => a - b);
    const e2e = [...stats.endToEnd].sort((a, b) => a - b);
    const figures: PhaseFigures = {
      producedPerSec: Math.round(stats.produced / seconds),
      consumedPerSec: Math.round(stats.consumed / seconds),
      produceP50Ms: percentile(pl, 50),
      produceP99Ms: percentile(pl, 99),
      endToEndP50Ms: percentile(e2e, 50),
      endToEndP99Ms: percentile(e2e, 99),
      produceErrors: stats.produceErrors,
      fetchErrors: stats.fetchErrors,
    };
    log(`${label}: ${JSON.stringify(figures)} rss ${rssKiB(broker.pid)} KiB`);
    return figures;
  };

  await sleep(Math.min(5000, options.phaseMs / 2)); // warm-up
  const withoutSlowConsumer = await measure('without slow consumer');

  // The slow consumer: a paused Subscribe over everything from the start, and a Fetch reader that dawdles.
  const slow = makeClient(broker.addr, options.connections);
  const slowRunning = { now: true };
  let slowRecords = 0;
  const streams = topics.map((topic) => {
    const stream = (slow.raw as any).Subscribe({ topic, position: 'START_POSITION_EARLIEST', maxBytes: 1 << 20 });
    stream.on('data', () => {
      slowRecords++;
      stream.pause(); // read one message, then stop reading
    });
    stream.on('error', () => undefined);
    return stream;
  });
  const dawdler = (async () => {
    let offset = 0;
    while (running && slowRunning.now) {
      const res = await slow.call('Fetch', { topic: topics[0], partition: 0, offset, maxBytes: 4 << 20 }, 30_000).catch(() => undefined);
      if (res) {
        offset = Number(res.nextOffset);
        slowRecords += res.records.length;
      }
      await sleep(2000);
    }
  })();
  await sleep(1000);
  const withSlowConsumer = await measure('with a stalled subscriber and a slow fetcher');
  for (const s of streams) s.cancel();
  slowRunning.now = false;
  slow.close();
  await sleep(500);
  // The same again once the slow consumer is gone: the phases before and
  // after bracket the one with it, so warm-up and a busy box show up too.
  const afterSlowConsumer = await measure('after the slow consumer left');

  running = false;
  await Promise.all(workers);
  await dawdler;
  for (const c of clients) c.close();
  admin.close();
  clearInterval(sampler);
  const rssEndKiB = rssKiB(broker.pid);
  rssMaxKiB = Math.max(rssMaxKiB, rssEndKiB);

  // Start-up with all these partitions: after a clean stop, then after SIGKILL.
  const stopCode = await broker.stop();
  if (stopCode !== 0) alive = false;
  const clean = await timedStart(dataDir);
  broker = clean.broker;
  log(`start after a clean stop: ${clean.ms} ms`);
  await broker.kill();
  const unclean = await timedStart(dataDir);
  broker = unclean.broker;
  log(`start after SIGKILL: ${unclean.ms} ms`);
  await broker.stop();

  return {
    connections: options.connections,
    brokerSockets,
    partitions: partitions.length,
    createTopicsMs,
    withoutSlowConsumer,
    withSlowConsumer,
    afterSlowConsumer,
    slowConsumerRecords: slowRecords,
    rssStartKiB,
    rssMaxKiB,
    rssEndKiB,
    cleanStartMs: clean.ms,
    uncleanStartMs: unclean.ms,
    brokerAliveThroughout: alive,
  };
}
