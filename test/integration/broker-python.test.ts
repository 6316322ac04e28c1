/**
 * The Python example (examples/python) against a real broker: a client
 * generated from protos/ by Debian's protoc plugin, run with /usr/bin/python3.
 * The system packages come from scripts/install-system-deps.sh (run by .ci/run).
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

const EXAMPLE = path.resolve(__dirname, '..', '..', 'examples', 'python');

let broker: BrokerProcess;
let generated: string;

beforeAll(async () => {
  generated = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-python-'));
  execFileSync(path.join(EXAMPLE, 'generate.sh'), [generated], { stdio: 'pipe' });
  broker = await startBroker();
});

afterAll(async () => {
  if (broker) await broker.stop();
  await stopAllBrokers();
  fs.rmSync(generated, { recursive: true, force: true });
});

it('creates a topic, produces keyed records and fetches them back by offset', () => {
  const out = execFileSync('/usr/bin/python3', [path.join(EXAMPLE, 'brook_example.py'), '--addr', broker.addr, '--topic', 'python-test'], {
    env: { ...process.env, PYTHONPATH: generated },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect(out).toContain('ok: produced 10, fetched 10');
  expect(out).toMatch(/expected error: OUT_OF_RANGE OFFSET_OUT_OF_RANGE: offset 1000000 is out of range/);
  // user-0 → the same partition every time it appears.
  const partitions = new Set([...out.matchAll(/produced key=user-0 -> partition (\d+)/g)].map((m) => m[1]));
  expect(partitions.size).toBe(1);
});
