/**
 * The real `brook` binary against a real broker: produce, tail, replay,
 * topics, groups, usage errors and connection failures.
 * Needs `make build` (dist/src/cli/main.js).
 */
import { startBroker, randomTopicName, stopAllBrokers, type BrokerProcess } from '../helpers/broker';
import { brook, startBrook, waitFor } from '../cli/run-brook';

let broker: BrokerProcess;
const lines = (n: number, prefix = 'line'): string => Array.from({ length: n }, (_, i) => `${prefix}-${i}`).join('\n') + '\n';

beforeAll(async () => {
  broker = await startBroker();
});

afterAll(async () => {
  await stopAllBrokers();
});

async function createTopic(partitions = 1): Promise<string> {
  const topic = randomTopicName('cli');
  const r = await brook(['topic', 'create', topic, '--partitions', String(partitions)], { addr: broker.addr });
  expect(r).toMatchObject({ code: 0 });
  return topic;
}

describe('brook produce and tail', () => {
  it('tail -n N shows exactly the last N records produced', async () => {
    const topic = await createTopic();
    const produced = await brook(['produce', topic], { addr: broker.addr, input: lines(500) });
    expect(produced.code).toBe(0);
    expect(produced.stderr).toContain('wrote 500 record(s)');
    const r = await brook(['tail', topic, '-n', '7'], { addr: broker.addr });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(Array.from({ length: 7 }, (_, i) => `line-${493 + i}\n`).join(''));
    const defaults = await brook(['tail', topic], { addr: broker.addr });
    expect(defaults.stdout.trim().split('\n')).toHaveLength(10);
  });

  it('produce --json prints every offset; --from OFFSET prints exactly the range', async () => {
    const topic = await createTopic();
    const produced = await brook(['--json', 'produce', topic], { addr: broker.addr, input: lines(50) });
    const offsets = produced.stdout.trim().split('\n').map((l: string) => JSON.parse(l));
    expect(offsets).toEqual(Array.from({ length: 50 }, (_, i) => ({ partition: 0, offset: i })));
    const r = await brook(['tail', topic, '--from', '42'], { addr: broker.addr });
    expect(r.stdout).toBe(Array.from({ length: 8 }, (_, i) => `line-${42 + i}\n`).join(''));
    const capped = await brook(['tail', topic, '--from', '10', '-n', '3'], { addr: broker.addr });
    expect(capped.stdout).toBe('line-10\nline-11\nline-12\n');
  });

  it('keys, headers and json format; binary values come out as base64 with a marker', async () => {
    const topic = await createTopic();
    await brook(['produce', topic, '--key-separator', ':', '--header', 'source=test', '--header', 'n=1'], { addr: broker.addr, input: 'k1:v1\nk2:v:2\n' });
    const r = await brook(['tail', topic, '--format', 'json'], { addr: broker.addr });
    const records = r.stdout.trim().split('\n').map((l: string) => JSON.parse(l));
    expect(records).toEqual([
      expect.objectContaining({ topic, partition: 0, offset: 0, key: 'k1', value: 'v1', headers: [{ key: 'source', value: 'test' }, { key: 'n', value: '1' }] }),
      expect.objectContaining({ offset: 1, key: 'k2', value: 'v:2' }),
    ]);
    expect(typeof records[0].timestamp).toBe('number');

    const binary = await createTopic();
    await brook(['produce', binary], { addr: broker.addr, input: Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a]) });
    const b = await brook(['tail', binary, '--format', 'json'], { addr: broker.addr });
    expect(JSON.parse(b.stdout)).toMatchObject({ value: Buffer.from([0xff, 0xfe, 0x00, 0x41]).toString('base64'), valueEncoding: 'base64' });
  });

  it('tail -f shows a record produced after it started', async () => {
    const topic = await createTopic(2);
    await brook(['produce', topic], { addr: broker.addr, input: 'before\n' });
    const tail = startBrook(['tail', topic, '-f'], broker.addr);
    try {
      await waitFor(() => tail.output().includes('before'), 15_000, 'the existing record');
      await brook(['produce', topic], { addr: broker.addr, input: 'after\n' });
      await waitFor(() => tail.output().includes('after'), 15_000, 'the new record');
    } finally {
      tail.child.kill('SIGINT');
    }
    expect(await tail.exited).toBe(0);
  });
});

describe('brook replay', () => {
  it('outputs exactly [from, to), once, in order', async () => {
    const topic = await createTopic();
    await brook(['produce', topic], { addr: broker.addr, input: lines(1000) });
    const r = await brook(['replay', topic, '--from', '100', '--to', '350'], { addr: broker.addr });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(Array.from({ length: 250 }, (_, i) => `line-${100 + i}\n`).join(''));
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a terminal
    const tail = await brook(['replay', topic, '--from', '990'], { addr: broker.addr });
    expect(tail.stdout.trim().split('\n')).toEqual(Array.from({ length: 10 }, (_, i) => `line-${990 + i}`));
  });

  it('replays by time', async () => {
    const topic = await createTopic();
    await brook(['produce', topic], { addr: broker.addr, input: 'old\n' });
    await new Promise((r) => setTimeout(r, 50));
    const middle = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 50));
    await brook(['produce', topic], { addr: broker.addr, input: 'new1\nnew2\n' });
    const r = await brook(['replay', topic, '--from', middle], { addr: broker.addr });
    expect(r.stdout).toBe('new1\nnew2\n');
    const before = await brook(['replay', topic, '--from', 'earliest', '--to', middle], { addr: broker.addr });
    expect(before.stdout).toBe('old\n');
  });

  it('--into makes the target topic hold exactly the range and reports the offsets', async () => {
    const source = await createTopic();
    const target = await createTopic();
    await brook(['produce', source, '--key-separator', '='], { addr: broker.addr, input: Array.from({ length: 300 }, (_, i) => `k${i}=v${i}`).join('\n') });
    const r = await brook(['--json', 'replay', source, '--from', '50', '--to', '250', '--into', target], { addr: broker.addr });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ topic: target, records: 200, partitions: [{ partition: 0, firstOffset: 0, lastOffset: 199, count: 200 }] });
    const copied = await brook(['tail', target, '--from', 'earliest', '--format', 'json'], { addr: broker.addr });
    const records = copied.stdout.trim().split('\n').map((l: string) => JSON.parse(l));
    expect(records.map((x: { key: string; value: string }) => [x.key, x.value])).toEqual(Array.from({ length: 200 }, (_, i) => [`k${i + 50}`, `v${i + 50}`]));
  });
});

describe('brook topic', () => {
  it('creates, lists, describes, alters and deletes', async () => {
    const topic = randomTopicName('cli');
    expect((await brook(['topic', 'create', topic, '-p', '3', '--config', 'retention.ms=60000'], { addr: broker.addr })).code).toBe(0);
    const list = await brook(['--json', 'topic', 'list'], { addr: broker.addr });
    expect(JSON.parse(list.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ name: topic, partitions: 3 })]));
    const human = await brook(['topic', 'list'], { addr: broker.addr });
    expect(human.stdout.split('\n')[0]).toMatch(/^TOPIC\s+PARTITIONS\s+OVERRIDES$/);
    const described = JSON.parse((await brook(['--json', 'topic', 'describe', topic], { addr: broker.addr })).stdout);
    expect(described).toMatchObject({ name: topic, partitions: 3, overrides: { 'retention.ms': '60000' } });
    expect(described.partitionDetails).toHaveLength(3);
    const altered = await brook(['--json', 'topic', 'alter', topic, '--config', 'retention.ms=120000', '--partitions', '4'], { addr: broker.addr });
    expect(JSON.parse(altered.stdout)).toMatchObject({ partitions: 4, overrides: { 'retention.ms': '120000' } });
    expect((await brook(['topic', 'delete', topic], { addr: broker.addr })).code).toBe(0);
    const gone = await brook(['topic', 'describe', topic], { addr: broker.addr });
    expect(gone.code).toBe(1);
    expect(gone.stderr.trim().split('\n')).toHaveLength(1);
    expect(gone.stderr).toContain(topic);
  });
});

describe('brook errors and exit codes', () => {
  it.each([
    [['tail']],
    [['tail', 't', '--bogus']],
    [['tail', 't', '--from', 'yesterday']],
    [['tail', 't', '-n', 'ten']],
    [['tail', 't', '--format', 'xml']],
    [['replay', 't']],
    [['replay', 't', '--from', '0', '--to', 'latest']],
    [['produce', 't', '--key', 'k', '--key-separator', ':']],
    [['topic', 'create', 't', '--partitions', '0']],
    [['topic', 'alter', 't']],
    [['group', 'reset-offsets', 'g', '--topic', 't']],
    [['nosuchverb']],
  ])('usage error %j exits 2 with a one-line message', async (args) => {
    const r = await brook(args as string[], { addr: broker.addr });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/);
  });

  it.each([[['topic', 'list']], [['tail', 't']], [['produce', 't']], [['group', 'list']]])('connection refused %j exits 1 with one line', async (args) => {
    const r = await brook(args as string[], { env: { BROOK_ADDR: '127.0.0.1:1' }, input: 'x\n', timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/127\.0\.0\.1:1.*connection refused/);
  });

  it('--help works on every verb', async () => {
    for (const verb of [['topic', 'create'], ['topic', 'list'], ['topic', 'describe'], ['topic', 'alter'], ['topic', 'delete'], ['produce'], ['tail'], ['replay'], ['group', 'list'], ['group', 'describe'], ['group', 'reset-offsets'], ['group', 'delete']]) {
      const r = await brook([...verb, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: brook ${verb.join(' ')}`);
    }
  });
});
