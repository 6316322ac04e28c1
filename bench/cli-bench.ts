/**
 * `brook produce` of a 1,000,000-line file and `brook replay` of the same
 * range to /dev/null, next to the SDK's own throughput (Producer and
 * PartitionReader in this process) against the same broker, in the same run.
 *
 *   make build && node dist/bench/cli-bench.js [--lines 1000000] [--bytes 100] [--partitions 1]
 */
import { spawn, spawnSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { Admin, Connection, PartitionReader, Producer } from '../src/client';
import { freePort } from '../test/helpers/broker';

const MAIN = path.resolve(__dirname, '..', 'src', 'cli', 'main.js');

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}


async function main(): Promise<void> {
  const lines = arg('lines', 1_000_000);
  const bytes = arg('bytes', 100);
  const partitions = arg('partitions', 1);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-cli-bench-'));
  const port = await freePort();
  const addr = `127.0.0.1:${port}`;
  const broker = spawn(process.execPath, [MAIN, 'serve', '--data-dir', path.join(dir, 'data'), '--listen', addr, '--metrics-listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const onData = (d: Buffer): void => {
      out += d;
      if (out.includes('"listening"')) resolve();
    };
    broker.stdout.on('data', onData);
    broker.stderr.on('data', onData);
    broker.on('exit', () => reject(new Error(`broker exited: ${out}`)));
  });

  try {
    const file = path.join(dir, 'lines.txt');
    const pad = 'x'.repeat(Math.max(0, bytes - 14));
    const fd = fs.openSync(file, 'w');
    const chunk: string[] = [];
    for (let i = 0; i < lines; i++) {
      chunk.push(`line-${String(i).padStart(8, '0')}-${pad}`);
      if (chunk.length === 100_000) fs.writeSync(fd, chunk.splice(0).join('\n') + '\n');
    }
    if (chunk.length) fs.writeSync(fd, chunk.join('\n') + '\n');
    fs.closeSync(fd);

    const connection = new Connection({ addr });
    const admin = new Admin(connection);
    await admin.createTopic('cli-bench', { partitions });
    await admin.createTopic('sdk-bench', { partitions });

    const run = (args: string[], stdout: 'ignore' | number = 'ignore'): number => {
      const t0 = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [MAIN, '--addr', addr, ...args], { stdio: ['ignore', stdout, 'pipe'] });
      if (r.status !== 0) throw new Error(`brook ${args.join(' ')} failed: ${r.stderr}`);
      return Number(process.hrtime.bigint() - t0) / 1e9;
    };
    const produceSeconds = run(['produce', 'cli-bench', '--file', file]);
    const devNull = fs.openSync('/dev/null', 'w');
    const replaySeconds = run(['replay', 'cli-bench', '--from', '0'], devNull);
    fs.closeSync(devNull);

    // The SDK in-process: same records, same broker.
    const values = fs.readFileSync(file).toString('utf8').split('\n').filter((l) => l.length > 0).map((l) => Buffer.from(l));
    const producer = new Producer(connection, { lingerMs: 5 });
    let t0 = process.hrtime.bigint();
    const outstanding: Promise<unknown>[] = [];
    for (let i = 0; i < values.length; i += 10_000) {
      outstanding.push(producer.send(values.slice(i, i + 10_000).map((value) => ({ topic: 'sdk-bench', value }))));
      if (outstanding.length >= 32) await outstanding.shift();
    }
    await Promise.all(outstanding);
    await producer.flush();
    const sdkProduceSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await producer.close();

    t0 = process.hrtime.bigint();
    let read = 0;
    for (let p = 0; p < partitions; p++) {
      const reader = new PartitionReader(connection, 'sdk-bench', p, 0, { maxWaitMs: 0 });
      for (;;) {
        const { records, highWatermark } = await reader.fetch();
        read += records.length;
        if (reader.position! >= highWatermark) break;
      }
    }
    const sdkReadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (read !== lines) throw new Error(`SDK read ${read} records, expected ${lines}`);
    connection.close();

    const rate = (s: number): string => Math.round(lines / s).toLocaleString('en-US');
    const rows = [
      ['brook produce --file', produceSeconds, rate(produceSeconds)],
      ['SDK Producer.send', sdkProduceSeconds, rate(sdkProduceSeconds)],
      ['brook replay > /dev/null', replaySeconds, rate(replaySeconds)],
      ['SDK PartitionReader.fetch', sdkReadSeconds, rate(sdkReadSeconds)],
    ];
    console.log(`\n${lines.toLocaleString('en-US')} records of ${bytes} bytes, ${partitions} partition(s), flush.policy=always, node ${process.version}\n`);
    console.log('| path | seconds | records/s |');
    console.log('|---|---:|---:|');
    for (const [name, s, r] of rows) console.log(`| ${name} | ${(s as number).toFixed(2)} | ${r} |`);
  } finally {
    broker.kill('SIGTERM');
    await new Promise((r) => broker.once('exit', r));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
