/**
 * The SDK against a real broker: send() offsets match what a fetch returns,
 * the client and broker partitioners agree, and a broker killed and restarted
 * in the middle of a stream of sends loses nothing silently.
 */
import { Admin, BrookError, Connection, Producer, type ConsumedRecord } from '../../src/client';
import { httpGet, randomTopicName, readPartition, useBroker, useFixedPortBroker } from '../helpers/broker';

describe('Producer against a broker', () => {
  const fixture = useBroker();

  it('resolves each send with the offset where a fetch finds the record', async () => {
    const topic = randomTopicName('sdk');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 4 });
    const producer = new Producer(fixture.connection, { lingerMs: 2, batchMaxBytes: 4096 });
    const sends = Array.from({ length: 3000 }, (_, i) =>
      producer.send({ topic, key: i % 3 === 0 ? null : `key-${i % 97}`, value: `value-${i}`, headers: { i: String(i) } }),
    );
    const results = await Promise.all(sends);
    await producer.close();
    const byPartition = new Map<number, Map<number, ConsumedRecord>>();
    for (let p = 0; p < 4; p++) byPartition.set(p, new Map((await readPartition(fixture.connection, topic, p)).map((r) => [r.offset, r])));
    const total = [...byPartition.values()].reduce((n, m) => n + m.size, 0);
    expect(total).toBe(3000);
    results.forEach((r, i) => {
      const found = byPartition.get(r.partition)!.get(r.offset);
      expect(found?.value?.toString()).toBe(`value-${i}`);
      expect(found?.headers).toEqual([{ key: 'i', value: Buffer.from(String(i)) }]);
    });
  });

  it('puts keyed records on the partition the broker chooses for the same key', async () => {
    const topic = randomTopicName('sdk');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 7 });
    const keys = Array.from({ length: 300 }, (_, i) => `user-${i * 7919}`);
    // The broker partitions records sent without a partition itself.
    const response = await fixture.connection.produce({ topic, records: keys.map((k) => ({ key: Buffer.from(k), value: Buffer.from('b') })) });
    const brokerPartition = new Map<string, number>();
    for (const result of response.results) {
      const indexes = result.recordIndexes.length > 0 ? result.recordIndexes : keys.map((_, i) => i);
      for (const index of indexes) brokerPartition.set(keys[index], result.partition);
    }
    const producer = new Producer(fixture.connection);
    const ours = await producer.send(keys.map((key) => ({ topic, key, value: 'c' })));
    await producer.close();
    keys.forEach((key, i) => expect(ours[i].partition).toBe(brokerPartition.get(key)));
    expect(new Set(ours.map((r) => r.partition)).size).toBe(7);
  });

  it('sends its requests as messages of one ProduceStream by default, and as Produce calls with produceStream off', async () => {
    const topic = randomTopicName('sdk');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 2 });
    const counted = async (method: string): Promise<number> => {
      const { body } = await httpGet(`http://${fixture.broker.metricsAddr}/metrics`);
      const line = body.split('\n').find((l) => l.startsWith(`brook_rpc_requests_total{service="brook.v1.Log",method="${method}",code="OK"}`));
      return line ? Number(line.split(' ')[1]) : 0;
    };
    for (const produceStream of [true, false]) {
      const before = { stream: await counted('ProduceStream.request'), calls: await counted('Produce') };
      const connection = new Connection({ addr: fixture.broker.addr, produceStream });
      const producer = new Producer(connection, { lingerMs: 0 });
      const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => producer.send({ topic, partition: i % 2, value: `v${i}` })));
      await producer.close();
      connection.close();
      expect(new Set(sent.map((r) => `${r.partition}:${r.offset}`)).size).toBe(40);
      const requests = { stream: (await counted('ProduceStream.request')) - before.stream, calls: (await counted('Produce')) - before.calls };
      if (produceStream) expect(requests).toEqual({ stream: expect.any(Number), calls: 0 });
      else expect(requests).toEqual({ stream: 0, calls: expect.any(Number) });
      expect(requests.stream + requests.calls).toBeGreaterThanOrEqual(2); // at least one request per partition
    }
    const { body } = await httpGet(`http://${fixture.broker.metricsAddr}/metrics`);
    expect(body).toMatch(/brook_rpc_duration_seconds_count\{service="brook.v1.Log",method="ProduceStream.request"\} [1-9]/);
  });

  it('a Connection closed with requests on its produce stream settles each: acknowledged, or CLIENT_CLOSED', async () => {
    const topic = randomTopicName('sdk');
    await new Admin(fixture.connection).createTopic(topic);
    const connection = new Connection({ addr: fixture.broker.addr });
    await connection.produce({ topic, partition: 0, records: [{ value: Buffer.from('first') }] }); // the stream is open
    const inFlight = Array.from({ length: 50 }, (_, i) => connection.produce({ topic, partition: 0, records: [{ value: Buffer.from(`v${i}`) }] }).then(() => 'acked', (e: BrookError) => e.code));
    connection.close();
    const outcomes = await Promise.all(inFlight);
    expect(outcomes.filter((o) => o !== 'acked' && o !== 'CLIENT_CLOSED')).toEqual([]);
    expect(outcomes).toContain('CLIENT_CLOSED');
    await expect(connection.produce({ topic, partition: 0, records: [{ value: Buffer.from('late') }] })).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
  });

  it('rejects a record over max.message.bytes with a clear, non-retriable error', async () => {
    const topic = randomTopicName('sdk');
    await new Admin(fixture.connection).createTopic(topic, { config: { 'max.message.bytes': '2000' } });
    const producer = new Producer(fixture.connection);
    const error = await producer.send({ topic, value: Buffer.alloc(5000) }).catch((e) => e);
    await producer.close();
    expect(error).toBeInstanceOf(BrookError);
    expect(error.retriable).toBe(false);
    expect(error.context).toMatchObject({ topic, partition: 0 });
  });
});

describe('Producer across a broker restart', () => {
  const broker = useFixedPortBroker('sdk-restart');

  it('every send resolves with an offset holding its record, or rejects with a clear error', async () => {
    await broker.start();
    const addr = broker.addr;
    const connection = new Connection({ addr });
    const topic = randomTopicName('restart');
    await new Admin(connection).createTopic(topic, { partitions: 2 });
    const producer = new Producer(connection, { lingerMs: 2, retry: { retries: 12, initialBackoffMs: 50, maxBackoffMs: 1000, multiplier: 2, jitter: 0.2 } });

    const outcomes: Array<Promise<{ i: number; partition?: number; offset?: number; error?: BrookError }>> = [];
    for (let i = 0; i < 3000; i++) {
      outcomes.push(
        producer.send({ topic, key: `k${i % 50}`, value: `v${i}` }).then(
          (r) => ({ i, partition: r.partition, offset: r.offset }),
          (error) => ({ i, error }),
        ),
      );
      if (i === 1000) {
        await broker.kill();
        setTimeout(() => void broker.start(), 700);
      }
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    const settled = await Promise.all(outcomes);
    await producer.close();

    const failures = settled.filter((o) => o.error);
    for (const f of failures) {
      expect(f.error).toBeInstanceOf(BrookError);
      expect(f.error!.message.length).toBeGreaterThan(0);
    }
    const logs = new Map<number, Map<number, string>>();
    for (const p of [0, 1]) logs.set(p, new Map((await readPartition(connection, topic, p)).map((r) => [r.offset, r.value!.toString()])));
    const succeeded = settled.filter((o) => !o.error);
    expect(succeeded.length).toBeGreaterThan(2000);
    for (const o of succeeded) expect(logs.get(o.partition!)!.get(o.offset!)).toBe(`v${o.i}`);
    connection.close();
  }, 120_000);
});
