/**
 * Exactly-once produce end to end: an idempotent SDK Producer (5 requests in
 * flight per partition) against a broker process on a fixed port that is
 * SIGKILLed and restarted twice mid-stream, through a transport that also
 * drops some replies after the broker wrote the batch, so retries of
 * already-written batches are certain. Every send() must resolve, to the
 * offset where its record is, and the log must hold every record exactly once.
 */
import type { ChildProcess } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { Admin, BrookError, Connection, PartitionReader, Producer, type ConsumedRecord } from '../../src/client';
import type { ProduceTransport } from '../../src/client/connection';
import { freePort, randomTopicName, spawnBrokerOnPort } from '../helpers/broker';




async function readAll(connection: Connection, topic: string, partition: number): Promise<ConsumedRecord[]> {
  const reader = new PartitionReader(connection, topic, partition, 'earliest', { maxWaitMs: 0 });
  const out: ConsumedRecord[] = [];
  for (;;) {
    const { records, highWatermark } = await reader.fetch();
    out.push(...records);
    if (reader.position! >= highWatermark) return out;
  }
}

/** Seeded so a failure can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('idempotent Producer across broker kills and lost replies', () => {
  let child: ChildProcess | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-idempotent-'));

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores every acknowledged record exactly once, at the offset its send() resolved to', async () => {
    const port = await freePort();
    child = await spawnBrokerOnPort(dataDir, port);
    const connection = new Connection({ addr: `127.0.0.1:${port}` });
    const topic = randomTopicName('exactly-once');
    await new Admin(connection).createTopic(topic, { partitions: 3 });

    const rng = random(7);
    let dropped = 0;
    const lossy: ProduceTransport = {
      async produce(request, timeoutMs) {
        const reply = await connection.produce(request, timeoutMs);
        if (rng() < 0.15) {
          dropped++;
          throw new BrookError('REQUEST_TIMED_OUT', 'reply dropped by the test after the broker wrote the batch');
        }
        return reply;
      },
      partitionCount: (t) => connection.partitionCount(t),
      initProducerId: (request, timeoutMs) => connection.initProducerId(request, timeoutMs),
    };
    const producer = new Producer(lossy, {
      lingerMs: 1,
      batchMaxBytes: 1024,
      retry: { retries: 40, initialBackoffMs: 20, maxBackoffMs: 400, multiplier: 2, jitter: 0.3 },
    });
    expect(producer.idempotent).toBe(true);

    const restart = async (): Promise<void> => {
      child!.kill('SIGKILL');
      await new Promise((r) => child!.once('exit', r));
      // Down for a while, during which the producer's requests fail and are retried.
      await new Promise((r) => setTimeout(r, 400));
      child = await spawnBrokerOnPort(dataDir, port);
    };

    const total = 4000;
    const outcomes: Array<Promise<{ i: number; partition?: number; offset?: number; error?: unknown }>> = [];
    for (let i = 0; i < total; i++) {
      outcomes.push(
        producer.send({ topic, key: `k${i % 37}`, value: `v${i}` }).then(
          (r) => ({ i, partition: r.partition, offset: r.offset }),
          (error: unknown) => ({ i, error }),
        ),
      );
      if (i === 1200 || i === 2800) await restart();
      if (i % 25 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    const settled = await Promise.all(outcomes);
    await producer.close();

    const failures = settled.filter((o) => o.error);
    expect(failures.map((f) => String(f.error)).slice(0, 3)).toEqual([]);
    expect(dropped).toBeGreaterThan(10);

    const where = new Map<string, Array<{ partition: number; offset: number }>>();
    for (const p of [0, 1, 2]) {
      const records = await readAll(connection, topic, p);
      for (const r of records) {
        const v = r.value!.toString();
        const list = where.get(v) ?? [];
        list.push({ partition: p, offset: r.offset });
        where.set(v, list);
      }
    }
    const duplicated = [...where].filter(([, list]) => list.length > 1);
    expect(duplicated.slice(0, 5)).toEqual([]);
    for (const o of settled) {
      expect(where.get(`v${o.i}`)).toEqual([{ partition: o.partition, offset: o.offset }]);
    }
    expect(where.size).toBe(total);
    connection.close();
  }, 180_000);
});
