/**
 * The group Consumer against a real broker: a group scaled 1 → 8 → 3 → 1
 * members under continuous production processes every record exactly once;
 * close() commits and leaves; seek and pause/resume.
 */
import { Admin, Consumer, Producer, type ConsumedRecord } from '../../src/client';
import { randomTopicName, useBroker } from '../helpers/broker';

const fixture = useBroker();

async function waitUntil(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A member that records what it processed, running its for-await loop in the background. */
const errors: string[] = [];

function member(groupId: string, topic: string, seen: Map<string, number>, duplicates: string[]) {
  const consumer = new Consumer({ addr: fixture.broker.addr }, { groupId, offsetReset: 'earliest', sessionTimeoutMs: 6000, autoCommitIntervalMs: 500, maxWaitMs: 200 }, {
    onError: (e) => errors.push(`${e.code}: ${e.message}`),
  });
  consumer.subscribe(topic);
  const loop = (async () => {
    for await (const record of consumer) {
      const id = record.value!.toString();
      if (seen.has(id)) duplicates.push(`${id} at ${record.partition}/${record.offset}`);
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
  })();
  return { consumer, loop };
}

describe('Consumer group', () => {
  it('scaled 1 → 8 → 3 → 1 under continuous production, processes every record once', async () => {
    const topic = randomTopicName('group');
    const groupId = randomTopicName('g');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 12 });
    const producer = new Producer(fixture.connection, { lingerMs: 2 });
    let produced = 0;
    let producing = true;
    const production = (async () => {
      while (producing) {
        const batch = Array.from({ length: 20 }, () => ({ topic, key: `k${produced % 101}`, value: `r${produced++}` }));
        await producer.send(batch);
        await new Promise((r) => setTimeout(r, 10));
      }
    })();

    const seen = new Map<string, number>();
    const duplicates: string[] = [];
    const members = [member(groupId, topic, seen, duplicates)];
    const settle = async (count: number): Promise<void> => {
      await waitUntil(() => members.reduce((n, m) => n + m.consumer.assignment().length, 0) === 12 && members.every((m) => m.consumer.assignment().length > 0 || count > 12), 30_000, `${count} members to share 12 partitions`);
    };
    await settle(1);
    await new Promise((r) => setTimeout(r, 1000));

    for (let i = 0; i < 7; i++) members.push(member(groupId, topic, seen, duplicates));
    await settle(8);
    await new Promise((r) => setTimeout(r, 1000));

    for (const m of members.splice(3)) {
      await m.consumer.close();
      await m.loop;
    }
    await settle(3);
    await new Promise((r) => setTimeout(r, 1000));

    for (const m of members.splice(1)) {
      await m.consumer.close();
      await m.loop;
    }
    await settle(1);

    producing = false;
    await production;
    await producer.close();
    await waitUntil(() => seen.size === produced, 30_000, `all ${produced} records to be processed (have ${seen.size})`);
    await members[0].consumer.close();
    await members[0].loop;

    expect({ duplicates, errors }).toEqual({ duplicates: [], errors: [] });
    expect(seen.size).toBe(produced);
    expect(produced).toBeGreaterThan(500);

    const described = await new Admin(fixture.connection).describeGroup(groupId);
    expect(Number(described.totalLag)).toBe(0);
  }, 180_000);

  it('seek, pause and resume', async () => {
    const topic = randomTopicName('group');
    const groupId = randomTopicName('g');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 2 });
    const producer = new Producer(fixture.connection);
    await producer.send(Array.from({ length: 10 }, (_, i) => ({ topic, partition: 0, value: `a${i}` })));
    await producer.send(Array.from({ length: 10 }, (_, i) => ({ topic, partition: 1, value: `b${i}` })));
    await producer.close();

    const assigned: string[] = [];
    const consumer = new Consumer({ addr: fixture.broker.addr }, { groupId, offsetReset: 'earliest', maxWaitMs: 100, sessionTimeoutMs: 6000 }, {
      onAssigned: (tps) => void assigned.push(...tps.map((tp) => `${tp.topic}/${tp.partition}`)),
    });
    consumer.subscribe([topic]);
    await consumer.start();
    await waitUntil(() => consumer.assignment().length === 2, 10_000, 'assignment');
    expect(assigned.sort()).toEqual([`${topic}/0`, `${topic}/1`]);
    consumer.pause([{ topic, partition: 1 }]);
    const got: ConsumedRecord[] = [];
    while (got.length < 10) got.push((await consumer.next())!);
    expect(got.map((r) => r.value!.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `a${i}`));
    consumer.seek(topic, 0, 7);
    consumer.resume([{ topic, partition: 1 }]);
    const rest: string[] = [];
    while (rest.length < 13) rest.push((await consumer.next())!.value!.toString());
    expect(rest.filter((v) => v.startsWith('a'))).toEqual(['a7', 'a8', 'a9']);
    expect(rest.filter((v) => v.startsWith('b'))).toEqual(Array.from({ length: 10 }, (_, i) => `b${i}`));
    await consumer.close();
    const committed = await new Admin(fixture.connection).fetchOffsets(groupId);
    expect(committed.map((c) => [c.partition, Number(c.offset)]).sort()).toEqual([
      [0, 10],
      [1, 10],
    ]);
    const group = await new Admin(fixture.connection).describeGroup(groupId);
    expect(group.members).toHaveLength(0);
  }, 60_000);
});
