/** `brook group` and `brook tail --group` against a real broker (needs `make build`). */
import { Admin } from '../../src/client';
import { randomTopicName, useBroker } from '../helpers/broker';
import { brook, startBrook, waitFor } from '../cli/run-brook';

const fixture = useBroker();

describe('brook group', () => {
  it('describe shows lag = produced - committed per partition, with totals', async () => {
    const topic = randomTopicName('cli');
    const group = randomTopicName('g');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 2 });
    await brook(['produce', topic, '--partition', '0'], { addr: fixture.broker.addr, input: 'a\n'.repeat(30) });
    await brook(['produce', topic, '--partition', '1'], { addr: fixture.broker.addr, input: 'b\n'.repeat(20) });
    await new Admin(fixture.connection).commitOffsets(group, [
      { topic, partition: 0, offset: 12 },
      { topic, partition: 1, offset: 20 },
    ]);
    const r = await brook(['--json', 'group', 'describe', group], { addr: fixture.broker.addr });
    expect(r.code).toBe(0);
    const described = JSON.parse(r.stdout);
    const lag = Object.fromEntries(described.partitions.map((p: { partition: number; lag: number }) => [p.partition, p.lag]));
    expect(lag).toEqual({ 0: 18, 1: 0 });
    expect(described.totalLag).toBe(18);
    const human = await brook(['group', 'describe', group], { addr: fixture.broker.addr });
    expect(human.stdout).toMatch(/TOPIC\s+PARTITION\s+COMMITTED\s+HIGH-WATERMARK\s+LAG\s+MEMBER/);
    expect(human.stdout).toContain('total lag 18');

    const list = await brook(['--json', 'group', 'list'], { addr: fixture.broker.addr });
    expect(JSON.parse(list.stdout)).toEqual(expect.arrayContaining([expect.objectContaining({ group })]));

    const reset = await brook(['--json', 'group', 'reset-offsets', group, '--topic', topic, '--to', 'earliest'], { addr: fixture.broker.addr });
    expect(reset.code).toBe(0);
    expect(JSON.parse(reset.stdout).offsets.map((o: { offset: number }) => o.offset)).toEqual([0, 0]);
    expect((await brook(['group', 'delete', group], { addr: fixture.broker.addr })).code).toBe(0);
  });

  it('tail --group prints as a member and commits what it printed on Ctrl-C', async () => {
    const topic = randomTopicName('cli');
    const group = randomTopicName('g');
    await new Admin(fixture.connection).createTopic(topic, { partitions: 1 });
    await brook(['produce', topic], { addr: fixture.broker.addr, input: Array.from({ length: 25 }, (_, i) => `m${i}`).join('\n') });
    const tail = startBrook(['tail', topic, '--group', group, '--from', 'earliest'], fixture.broker.addr);
    await waitFor(() => tail.output().split('\n').filter(Boolean).length === 25, 20_000, 'the group tail to print 25 records');
    tail.child.kill('SIGINT');
    expect(await tail.exited).toBe(0);
    const offsets = await new Admin(fixture.connection).fetchOffsets(group);
    expect(offsets.map((o) => Number(o.offset))).toEqual([25]);
  });
});
