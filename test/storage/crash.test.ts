/**
 * Crash safety under flush.policy=always: a child process appends and tails
 * while the test SIGKILLs it at random moments (>= 20 times). After every
 * kill the log is reopened (recovering from the unclean stop) and must hold
 * every acknowledged batch and every batch a reader saw, with the same
 * bytes, at contiguous offsets.
 *
 * The child runs the TypeScript sources transpiled once by the test itself
 * (typescript.transpileModule), so the test needs no build step.
 */
import { spawn } from 'child_process';
import fs from 'fs';
import ts from 'typescript';
import { createHash } from 'crypto';
import path from 'path';
import { readBatchHeader } from '../../src/record';
import { LogManager } from '../../src/storage';
import { makeTempDir, removeDir } from '../helpers/storage';

const ROOT = path.resolve(__dirname, '..', '..');

/**
 * Transpiles the child and what it imports (src/common, src/record,
 * src/storage) to plain JS once, so each of the many child starts takes
 * ~100 ms instead of the ~4 s typescript.transpileModule needs on a cold
 * process. Bare imports resolve through NODE_PATH to the repo's node_modules.
 */
function transpileChild(outDir: string): string {
  const files = [path.join(ROOT, 'test', 'helpers', 'storage-crash-child.ts')];
  for (const area of ['common', 'record', 'storage']) {
    const dir = path.join(ROOT, 'src', area);
    for (const name of fs.readdirSync(dir)) if (name.endsWith('.ts')) files.push(path.join(dir, name));
  }
  for (const file of files) {
    const out = ts.transpileModule(fs.readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    });
    const target = path.join(outDir, path.relative(ROOT, file)).replace(/\.ts$/, '.js');
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, out.outputText);
  }
  return path.join(outDir, 'test', 'helpers', 'storage-crash-child.js');
}
const KILLS = Number(process.env.CRASH_KILLS ?? 22);

interface Seen {
  last: number;
  sha: string;
}

/** Runs the child until it has acknowledged a few appends, then SIGKILLs it after a random delay. */
function runAndKill(childScript: string, dataDir: string, seed: number, delayMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dataDir, String(seed)], {
      cwd: ROOT,
      env: { ...process.env, NODE_PATH: path.join(ROOT, 'node_modules') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!timer && out.includes('READY')) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      if (timer) clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}/${signal} before the kill: ${err}`));
      // A line cut by the kill is not a complete report.
      else resolve(out.split('\n').slice(0, -1));
    });
  });
}

describe('crash safety (SIGKILL during appends, flush.policy=always)', () => {
  let dataDir: string;
  let jsDir: string;
  let childScript: string;
  beforeAll(async () => {
    dataDir = await makeTempDir('brook-crash-');
    jsDir = await makeTempDir('brook-crash-js-');
    childScript = transpileChild(jsDir);
  });
  afterAll(async () => {
    await removeDir(dataDir);
    await removeDir(jsDir);
  });

  it(`keeps every acknowledged and every visible batch across ${KILLS} kills`, async () => {
    const promised = new Map<number, Seen>(); // base offset -> what was acknowledged or seen
    let acknowledged = 0;
    let seenByReaders = 0;
    for (let round = 0; round < KILLS; round++) {
      const t0 = Date.now();
      const lines = await runAndKill(childScript, dataDir, 1000 + round, 30 + ((round * 137) % 300));
      for (const line of lines) {
        const [kind, base, last, sha] = line.split(' ');
        if (kind !== 'A' && kind !== 'S') continue;
        if (kind === 'A') acknowledged++;
        else seenByReaders++;
        const entry = { last: Number(last), sha };
        const before = promised.get(Number(base));
        if (before) expect(before).toEqual(entry);
        promised.set(Number(base), entry);
      }

      const t1 = Date.now();
      const manager = await LogManager.open({ dataDir, retentionCheckIntervalMs: 0, recoveryCheckpointIntervalMs: 0, flushCheckIntervalMs: 0 });
      try {
        const log = manager.partition('t', 0);
        const stored = new Map<number, Seen>();
        let offset = 0;
        let expectedBase = 0;
        while (offset < log.highWatermark) {
          const r = await log.read(offset, 1 << 20);
          let position = 0;
          while (position < r.data.length) {
            const h = readBatchHeader(r.data, position);
            expect(h.baseOffset).toBe(expectedBase); // contiguous
            expectedBase = h.lastOffset + 1;
            stored.set(h.baseOffset, { last: h.lastOffset, sha: createHash('sha1').update(r.data.subarray(position, position + h.sizeInBytes)).digest('hex') });
            position += h.sizeInBytes;
          }
          offset = r.nextOffset;
        }
        expect(expectedBase).toBe(log.highWatermark);
        for (const [base, entry] of promised) expect({ base, ...stored.get(base) }).toEqual({ base, ...entry });
      } finally {
        await manager.close();
      }
      if (process.env.CRASH_DEBUG) console.log(round, t1 - t0, Date.now() - t1, lines.length);
    }
    expect(acknowledged).toBeGreaterThan(KILLS * 5);
    expect(seenByReaders).toBeGreaterThan(0);
  }, 120_000);
});
