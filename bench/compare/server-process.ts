/**
 * Servers the comparison starts for itself: redis-server, nats-server, the
 * Brook broker and the no-op gRPC server. Each is a child process that this
 * harness spawned; it is stopped by that PID only (SIGTERM, then SIGKILL after
 * a bounded wait), never by name. Every temp dir made here is removed at stop,
 * and an exit hook stops whatever is still running if the harness dies early.
 *
 * Concurrency: start() and stop() of one ServerProcess must not interleave;
 * different ServerProcess objects are independent.
 */
import { spawn, type ChildProcess } from 'child_process';
import fs from 'fs';
import net from 'net';
import os from 'os';
import path from 'path';

const live = new Set<ServerProcess>();
const tempDirs = new Set<string>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL what is left by its PID.
  process.on('exit', () => {
    for (const server of live) server.killNow();
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`compare: ${signal}, stopping ${live.size} server(s)\n`);
      process.exit(130);
    });
  }
}

/** A fresh directory under the OS temp dir, removed at exit at the latest. */
export function makeTempDir(prefix: string): string {
  installExitHooks();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `brook-compare-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
}

/** A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface ServerSpec {
  /** Short name for messages: "redis-server (fsync)". */
  name: string;
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Ready once a line of stdout or stderr matches; the match is returned. */
  readyLine: RegExp;
  readyTimeoutMs?: number;
  /** Directories to remove once the process has stopped. */
  ownedDirs?: string[];
}

export class ServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;
  private readonly tail: string[] = [];

  constructor(readonly spec: ServerSpec) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Spawns the server and waits for its ready line; returns the matching line's match. */
  async start(): Promise<RegExpMatchArray> {
    installExitHooks();
    const { spec } = this;
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    live.add(this);
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const timeoutMs = spec.readyTimeoutMs ?? 15_000;
    try {
      return await new Promise<RegExpMatchArray>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${spec.name} not ready after ${timeoutMs} ms; last output:\n${this.tail.join('\n')}`)),
          timeoutMs,
        );
        const onLine = (line: string): void => {
          this.tail.push(line);
          if (this.tail.length > 20) this.tail.shift();
          const match = line.match(spec.readyLine);
          if (match) {
            clearTimeout(timer);
            resolve(match);
          }
        };
        for (const stream of [child.stdout!, child.stderr!]) {
          let pending = '';
          stream.setEncoding('utf8');
          stream.on('data', (chunk: string) => {
            pending += chunk;
            let newline: number;
            while ((newline = pending.indexOf('\n')) >= 0) {
              onLine(pending.slice(0, newline));
              pending = pending.slice(newline + 1);
            }
          });
        }
        child.once('error', (err) => {
          clearTimeout(timer);
          reject(new Error(`${spec.name}: cannot start ${spec.command}: ${err.message}`));
        });
        void this.exited!.then((code) => {
          clearTimeout(timer);
          reject(new Error(`${spec.name} exited (code ${code}) before it was ready; last output:\n${this.tail.join('\n')}`));
        });
      });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** SIGTERM by PID, SIGKILL after graceMs; then removes the owned dirs. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const stopped = await Promise.race([
        this.exited!.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), graceMs).unref()),
      ]);
      if (!stopped) {
        process.stderr.write(`compare: ${this.spec.name} (pid ${child.pid}) ignored SIGTERM for ${graceMs} ms, killing it\n`);
        process.kill(child.pid, 'SIGKILL');
        await this.exited;
      }
    }
    live.delete(this);
    for (const dir of this.spec.ownedDirs ?? []) removeTempDir(dir);
  }

  /** Synchronous last resort for the exit hook. */
  killNow(): void {
    const child = this.child;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
