/**
 * Integration-test helper: runs a real broker process.
 *
 *   const broker = await startBroker({ config: { 'topic.segment.bytes': 4096 } });
 *   const { admin, log } = grpcClients(broker.addr);
 *   ...
 *   await broker.stop();         // SIGTERM, resolves with the exit code
 *
 * Each broker is `node dist/src/cli/main.js serve` (run `make build` first)
 * on 127.0.0.1 port 0 with a fresh temp data dir; the bound ports come from
 * the broker's structured "listening" log line. Waits are bounded and fail
 * with the broker's log tail. Signals only ever go to the PID this helper
 * started. `stop()` and `kill()` keep the data dir so `restart()` can reuse
 * it; brokers still running and temp dirs this helper created are removed
 * when the test process exits (or by `stopAllBrokers()`, e.g. in afterAll).
 */
import { spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import http from 'http';
import os from 'os';
import net from 'net';
import path from 'path';
import { Connection, PartitionReader, type ConsumedRecord } from '../../src/client';

export { grpcClients, randomTopicName } from './grpc';
export type { GrpcClients } from './grpc';

export interface BrokerOptions {
  /** Broker config keys (`topic.flush.policy`, `limits.max_wait_ms`, ...), passed as `--set key=value`; keep log.level at info or below (the helper reads the "listening" line). */
  config?: Record<string, string | number>;
  /** Use this data dir (kept afterwards) instead of a fresh temp dir. */
  dataDir?: string;
  /** Extra environment variables for the broker process. */
  env?: Record<string, string>;
  /** Extra node flags for the broker process, e.g. ['--cpu-prof', '--cpu-prof-dir=DIR'] (the benchmark's --profile). */
  nodeArgs?: string[];
  /** How long to wait for the "listening" line (default 30 s). */
  startTimeoutMs?: number;
}

export interface BrokerProcess {
  /** gRPC address, 127.0.0.1:PORT. */
  readonly addr: string;
  /** Prometheus address, 127.0.0.1:PORT. */
  readonly metricsAddr: string;
  readonly dataDir: string;
  readonly pid: number;
  /** SIGTERM, wait for exit; resolves with the exit code (128 + signal number if killed by a signal). */
  stop(): Promise<number>;
  /** SIGKILL, wait for exit. */
  kill(): Promise<void>;
  /** Stops this broker if it still runs (SIGTERM) and starts a new one on the same data dir and config. */
  restart(): Promise<BrokerProcess>;
  /** Everything the broker wrote to stdout and stderr so far. */
  logs(): string;
}

/** The repository root: the nearest folder above this file holding package.json (works from test/ and dist/test/). */
function repositoryRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}

const ROOT = repositoryRoot();
const MAIN = path.join(ROOT, 'dist', 'src', 'cli', 'main.js');
const STOP_TIMEOUT_MS = 30_000;
const MAX_LOG_CHARS = 4 * 1024 * 1024;

const running = new Set<ChildProcess>();
const ownedDirs = new Set<string>();

process.once('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of ownedDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A free TCP port on 127.0.0.1, for a broker that must keep its address across restarts. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/**
 * Starts `brook serve` on a fixed 127.0.0.1 port and resolves with its
 * process once it logs "listening" (30 s at most), so a client keeps its
 * address across kills and restarts the caller does itself by the returned
 * process's PID. The helper's exit hook kills it if the caller does not.
 */
export function spawnBrokerOnPort(dataDir: string, port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN, 'serve', '--data-dir', dataDir, '--listen', `127.0.0.1:${port}`, '--metrics-listen', '127.0.0.1:0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`broker did not start within 30 s: ${out.slice(-4000)}`)), 30_000);
    const onData = (d: Buffer): void => {
      out += d;
      if (out.includes('"listening"')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`broker exited: ${out.slice(-4000)}`));
    });
  });
}

/** A broker on a fixed port whose process a test kills and restarts itself (see `useFixedPortBroker`). */
export interface FixedPortBroker {
  /** `127.0.0.1:PORT`; the same across restarts. */
  readonly addr: string;
  /** Starts the broker on its port and data dir; resolves once it listens. */
  start(): Promise<void>;
  /** SIGKILLs the running broker and waits for it to exit. */
  kill(): Promise<void>;
}

/**
 * A broker for one test file that keeps its address and data dir across
 * SIGKILLs and restarts, so a client survives them. Registers an afterAll
 * that kills it (by its PID) and removes the data dir.
 */
export function useFixedPortBroker(prefix: string): FixedPortBroker {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `brook-${prefix}-`));
  let port: number | undefined;
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    get addr(): string {
      if (port === undefined) throw new Error('useFixedPortBroker: start() first');
      return `127.0.0.1:${port}`;
    },
    async start(): Promise<void> {
      port ??= await freePort();
      child = await spawnBrokerOnPort(dataDir, port);
    },
    async kill(): Promise<void> {
      const running = child;
      if (!running || running.exitCode !== null) return;
      running.kill('SIGKILL');
      await exited(running);
    },
  };
}

/** Every record of a partition from its log start to its high watermark (at most `maxFetches` fetches). */
export async function readPartition(connection: Connection, topic: string, partition: number, maxFetches = 100_000): Promise<ConsumedRecord[]> {
  const reader = new PartitionReader(connection, topic, partition, 'earliest', { maxWaitMs: 0 });
  const out: ConsumedRecord[] = [];
  try {
    for (let i = 0; i < maxFetches; i++) {
      const { records, highWatermark } = await reader.fetch();
      out.push(...records);
      if (reader.position! >= highWatermark) return out;
    }
  } finally {
    reader.close();
  }
  throw new Error(`${topic}/${partition}: not read to its high watermark in ${maxFetches} fetches`);
}

/** Kills every broker this helper started and still running, and removes its temp dirs. */
export async function stopAllBrokers(): Promise<void> {
  await Promise.all([...running].map((child) => terminate(child, 'SIGKILL', STOP_TIMEOUT_MS)));
  for (const dir of ownedDirs) fs.rmSync(dir, { recursive: true, force: true });
  ownedDirs.clear();
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  if (child.signalCode !== null) return Promise.resolve(128 + (os.constants.signals[child.signalCode] ?? 0));
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? os.constants.signals[signal] ?? 0 : 0)));
  });
}

async function terminate(child: ChildProcess, signal: NodeJS.Signals, timeoutMs: number): Promise<number> {
  const done = exited(child);
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([done, timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    child.kill('SIGKILL');
    await done;
    throw new Error(`broker pid ${child.pid} did not exit within ${timeoutMs} ms of ${signal}; killed it`);
  }
  return result;
}

export async function startBroker(options: BrokerOptions = {}): Promise<BrokerProcess> {
  if (!fs.existsSync(MAIN)) throw new Error(`${path.relative(process.cwd(), MAIN)} is missing: run \`make build\` before the integration tests`);
  let dataDir = options.dataDir;
  if (!dataDir) {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-test-'));
    ownedDirs.add(dataDir);
  }
  const args = [...(options.nodeArgs ?? []), MAIN, 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'];
  for (const [key, value] of Object.entries(options.config ?? {})) args.push('--set', `${key}=${value}`);

  // cwd is the data dir's parent so no config/brook.yaml is picked up by accident.
  const child = spawn(process.execPath, args, {
    cwd: path.dirname(dataDir),
    env: { ...process.env, BROOK_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));

  let output = '';
  const append = (chunk: Buffer): void => {
    output += chunk.toString('utf8');
    if (output.length > MAX_LOG_CHARS) output = output.slice(-MAX_LOG_CHARS);
  };
  child.stderr!.on('data', append);

  const tail = (): string => output.split('\n').slice(-30).join('\n');
  const timeoutMs = options.startTimeoutMs ?? 30_000;
  const listening = await new Promise<{ addr: string; metricsAddr: string }>((resolve, reject) => {
    let pending = '';
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      settle(() => {
        child.kill('SIGKILL');
        reject(new Error(`broker did not report "listening" within ${timeoutMs} ms; log tail:\n${tail()}`));
      });
    }, timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      append(chunk);
      pending += chunk.toString('utf8');
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (!line.includes('"listening"')) continue;
        try {
          const entry = JSON.parse(line) as { msg?: string; addr?: string; metricsAddr?: string };
          if (entry.msg === 'listening' && entry.addr) settle(() => resolve({ addr: entry.addr!, metricsAddr: entry.metricsAddr ?? '' }));
        } catch {
          // not a log object; keep reading
        }
      }
    });
    child.once('exit', (code, signal) => {
      settle(() => reject(new Error(`broker exited (code ${code}, signal ${signal}) before listening; log tail:\n${tail()}`)));
    });
  });

  const handle: BrokerProcess = {
    addr: listening.addr,
    metricsAddr: listening.metricsAddr,
    dataDir,
    pid: child.pid!,
    stop: () => terminate(child, 'SIGTERM', STOP_TIMEOUT_MS),
    kill: async () => {
      await terminate(child, 'SIGKILL', STOP_TIMEOUT_MS);
    },
    restart: async () => {
      if (child.exitCode === null && child.signalCode === null) await terminate(child, 'SIGTERM', STOP_TIMEOUT_MS);
      return startBroker({ ...options, dataDir });
    },
    logs: () => output,
  };
  return handle;
}

export interface BrokerFixture {
  /** The broker started by beforeAll (reading it earlier throws). */
  readonly broker: BrokerProcess;
  /** An SDK connection to it. */
  readonly connection: Connection;
}

/**
 * One broker and an SDK connection for the tests of a file or describe
 * block: started in beforeAll, closed and stopped in afterAll (which always
 * runs).
 *
 *   const fixture = useBroker();
 *   it('…', async () => { await new Admin(fixture.connection).createTopic(…); brook([…], { addr: fixture.broker.addr }); });
 */
export function useBroker(options: BrokerOptions = {}): BrokerFixture {
  let broker: BrokerProcess | undefined;
  let connection: Connection | undefined;
  beforeAll(async () => {
    broker = await startBroker(options);
    connection = new Connection({ addr: broker.addr });
  });
  afterAll(async () => {
    connection?.close();
    await stopAllBrokers();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useBroker(): the broker starts in beforeAll; use it inside tests or hooks');
    return value;
  };
  return {
    get broker() {
      return started(broker);
    },
    get connection() {
      return started(connection);
    },
  };
}

/** A plain HTTP GET (the broker's /metrics): status and body. */
export function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}
