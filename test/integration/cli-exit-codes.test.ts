/**
 * `brook`'s exit-code contract at its edges: a missing verb is a usage error
 * (2), only an explicit help request exits 0, `topic create` without
 * `--partitions` leaves the count to the broker, and a replay stopped by
 * Ctrl-C exits 1 saying how far it got.
 * Needs `make build` (dist/src/cli/main.js).
 */
import { spawn } from 'child_process';
import { randomTopicName, useBroker } from '../helpers/broker';
import { brook, BROOK_MAIN, waitFor } from '../cli/run-brook';

const fixture = useBroker({ config: { 'num.partitions': 3 } });

describe('brook without a verb', () => {
  it.each([[[]], [['topic']], [['group']]])('%j exits 2 with one line naming the verbs', async (args) => {
    const r = await brook(args as string[], { addr: fixture.broker.addr });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/missing command/);
    expect(lines[0]).toContain('--help');
  });

  it('names the sub-verbs of the verb it was given', async () => {
    const r = await brook(['topic'], { addr: fixture.broker.addr });
    expect(r.stderr).toMatch(/^brook topic: missing command \(one of: create, list, describe, alter, delete\)/);
  });

  it.each([[['--help']], [['help']], [['topic', '--help']], [['help', 'topic']]])('an explicit %j exits 0 with the help on stdout', async (args) => {
    const r = await brook(args as string[]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: brook');
  });
});

describe('brook topic create', () => {
  it("without --partitions uses the broker's num.partitions, and says so in --help", async () => {
    const topic = randomTopicName('cli');
    const created = await brook(['--json', 'topic', 'create', topic], { addr: fixture.broker.addr });
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ name: topic, partitions: 3 });
    const explicit = await brook(['--json', 'topic', 'create', `${topic}-one`, '--partitions', '1'], { addr: fixture.broker.addr });
    expect(JSON.parse(explicit.stdout)).toMatchObject({ partitions: 1 });
    const help = await brook(['topic', 'create', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain("--partitions <n> number of partitions (default: the broker's num.partitions)");
  });
});

describe('brook replay interrupted', () => {
  it('exits 1 with "interrupted after N record(s)" when Ctrl-C stops it part-way', async () => {
    const topic = randomTopicName('cli');
    expect((await brook(['topic', 'create', topic, '--partitions', '1'], { addr: fixture.broker.addr })).code).toBe(0);
    // 20,000 records of ~200 bytes: several fetches of 1 MiB, each far more than a pipe holds, so the replay blocks on stdout until the test reads it.
    const value = 'x'.repeat(200);
    const input = Array.from({ length: 20_000 }, (_, i) => `${i}-${value}`).join('\n') + '\n';
    expect((await brook(['produce', topic], { addr: fixture.broker.addr, input })).code).toBe(0);

    const child = spawn(process.execPath, [BROOK_MAIN, '--addr', fixture.broker.addr, 'replay', topic, '--from', 'earliest'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // Read the first chunk, then stop reading so the replay is stuck mid-way when the signal arrives.
    await new Promise<void>((resolve) =>
      child.stdout.once('data', (d) => {
        stdout += d;
        child.stdout.pause();
        resolve();
      }),
    );
    await waitFor(() => child.stdout.readableLength > 0 || stdout.length > 0, 5000, 'replay output');
    child.kill('SIGINT');
    child.stdout.on('data', (d) => (stdout += d));
    child.stdout.resume();
    const code = await exited;
    const printed = stdout.split('\n').filter((l) => l !== '').length;
    expect(printed).toBeLessThan(20_000);
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toHaveLength(1);
    const reported = /interrupted after (\d+) record\(s\)/.exec(stderr);
    expect(reported).not.toBeNull();
    expect(Number(reported![1])).toBe(printed);
  });
});
