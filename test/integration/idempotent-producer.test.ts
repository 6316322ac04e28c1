/**
 * Exactly-once produce end to end: an idempotent SDK Producer (5 requests in
 * flight per partition) against a broker process on a fixed port that is
 * SIGKILLed and restarted twice mid-stream, through a transport that also
 * drops some replies after the broker wrote the batch, so retries of
 * already-written batches are certain. Once with the requests on the
 * connection's produce stream, once as a Produce call each. Every send() must resolve, to the
 * offset where its record is, and the log must hold every record exactly once.
 */
import { Admin, BrookError, Connection, Producer } from '../../src/client';
import type { ProduceTransport } from '../../src/client/connection';
import { randomTopicName, readPartition, useFixedPortBroker } from '../helpers/broker';
import { Random } from '../reliability/random';


describe('idempotent Producer across broker kills and lost replies', () => {
  const broker = useFixedPortBroker('idempotent');

  it.each([
    ['on the connection\'s produce stream', true],
    ['with a Produce call per request', false],
  ])('stores every acknowledged record exactly once, at the offset its send() resolved to (%s)', async (_, produceStream) => {
    await broker.kill(); // the previous case's, if still running
    await broker.start();
    const connection = new Connection({ addr: broker.addr, produceStream });
    const topic = randomTopicName('exactly-once');
    await new Admin(connection).createTopic(topic, { partitions: 3 });

    const rng = new Random(7);  // seeded so a failure can be replayed
    let dropped = 0;
    const lossy: ProduceTransport = {
      async produce(request, timeoutMs) {
        const reply = await connection.produce(request, timeoutMs);
        if (rng.chance(0.15)) {
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
      await broker.kill();
      // Down for a while, during which the producer's requests fail and are retried.
      await new Promise((r) => setTimeout(r, 400));
      await broker.start();
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
      const records = await readPartition(connection, topic, p);
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
