/**
 * A small driver for profiling the SDK alone: the comparison harness's Brook
 * SDK driver (bench/compare/brook-sdk.ts) run for W1–W4 against one broker,
 * without the peers. Run under `node --cpu-prof` to see where the client's
 * time goes.
 *
 *   node dist/bench/client-profile.js [--records N] [--runs N] [--level fsync|buffered]
 *                                     [--only w1,w2,w3,w4] [--addr HOST:PORT]
 *                                     [--profile w1|w2|w3|w4 --profile-out FILE.cpuprofile]
 *                                     [--no-produce-stream]
 *
 * W4 starts, as in `make bench`, with an unrecorded 1 s run on a topic of
 * its own. --no-produce-stream sends a Produce call per request instead of
 * using the connection's produce stream (ConnectionOptions.produceStream).
 *
 * Without --addr it starts its own broker (127.0.0.1, temp data dir, stopped
 * by its PID at the end).
 */
import fs from 'node:fs';
import { Session } from 'node:inspector';
import { parseArgs } from 'node:util';
import { startBrook, type BrookServer } from './compare/brook';
import { BrookSdkDriver } from './compare/brook-sdk';
import { median, newHistogram, ratePerSecond, summarize } from './compare/stats';
import type { Durability } from './compare/workload';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '1000000' },
      runs: { type: 'string', default: '3' },
      level: { type: 'string', default: 'fsync' },
      only: { type: 'string', default: 'w1,w2,w3,w4' },
      addr: { type: 'string' },
      profile: { type: 'string' },
      'profile-out': { type: 'string', default: 'client.cpuprofile' },
      'no-produce-stream': { type: 'boolean', default: false },
    },
  });
  // A CPU profile of one workload's runs only (the client side; the broker is another process).
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  const profiled = async <T>(phase: string, fn: () => Promise<T>): Promise<T> => {
    if (values.profile !== phase) return fn();
    await post('Profiler.enable');
    await post('Profiler.start');
    try {
      return await fn();
    } finally {
      const { profile } = (await post('Profiler.stop')) as { profile: object };
      fs.writeFileSync(String(values['profile-out']), JSON.stringify(profile));
    }
  };
  const records = Number(values.records);
  const runs = Number(values.runs);
  const level = values.level as Durability;
  const only = new Set(String(values.only).split(','));
  let server: BrookServer | undefined;
  const address = values.addr ?? (server = await startBrook(level)).address;
  const driver = new BrookSdkDriver(address, level, { produceStream: !values['no-produce-stream'] });
  const stamp = Date.now().toString(36);
  try {
    const w1: number[] = [];
    const w2: number[] = [];
    for (let run = 0; run < runs; run++) {
      const topic = `prof-${stamp}-w1-r${run}`;
      await driver.createTopic(topic, 1);
      if (only.has('w1') || only.has('w2')) {
        const producer = await driver.openProducer();
        let done = 0;
        const rate = await ratePerSecond(records, async () => {
          done = await profiled('w1', () => producer.produce(topic, [0], records, 1000, 4, Infinity));
        });
        await producer.close();
        if (done !== records) throw new Error(`W1 produced ${done} of ${records}`);
        w1.push(rate);
      }
      if (only.has('w2')) {
        const reader = await driver.openReader();
        w2.push(await ratePerSecond(records, () => profiled('w2', () => reader.readAll(topic, 0, records, 8000))));
        await reader.close();
      }
    }
    if (w1.length) console.log(`W1 ${level}: median ${(median(w1) / 1000).toFixed(1)} k rec/s  runs ${w1.map((r) => (r / 1000).toFixed(0)).join(' ')}`);
    if (w2.length) console.log(`W2 ${level}: median ${(median(w2) / 1000).toFixed(1)} k rec/s  runs ${w2.map((r) => (r / 1000).toFixed(0)).join(' ')}`);
    if (only.has('w3')) {
      const topic = `prof-${stamp}-w3`;
      await driver.createTopic(topic, 1);
      const h = newHistogram();
      await profiled('w3', () => driver.produceLatency(topic, 2000, h));
      const s = summarize(h);
      console.log(`W3 ${level}: p50 ${s.p50Us} µs  p99 ${s.p99Us} µs  p99.9 ${s.p999Us} µs`);
    }
    if (only.has('w4')) {
      const topic = `prof-${stamp}-w4`;
      await driver.createTopic(`${topic}-warmup`, 1);
      await driver.endToEnd(`${topic}-warmup`, 20_000, 1000, newHistogram());
      await driver.createTopic(topic, 1);
      const h = newHistogram();
      await profiled('w4', () => driver.endToEnd(topic, 20_000, 4000, h));
      const s = summarize(h);
      console.log(`W4 ${level}: p50 ${s.p50Us} µs  p99 ${s.p99Us} µs  p99.9 ${s.p999Us} µs`);
    }
  } finally {
    await driver.close();
    await server?.process.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
