/** Runs the built `brook` binary (dist/src/cli/main.js) as a child process. */
import { spawn, type ChildProcess } from 'child_process';
import path from 'path';

export const BROOK_MAIN = path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

export interface BrookResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function brook(
  args: string[],
  options: { addr?: string; input?: string | Buffer; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<BrookResult> {
  return new Promise((resolve, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.BROOK_ADDR;
    Object.assign(env, options.env);
    const child = spawn(process.execPath, [BROOK_MAIN, ...(options.addr ? ['--addr', options.addr] : []), ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`brook ${args.join(' ')} did not finish in ${options.timeoutMs ?? 30000} ms; stderr: ${stderr}`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Starts `brook` and leaves it running (for tail -f and --group); collects its output. */
export function startBrook(args: string[], addr: string): { child: ChildProcess; output: () => string; stderr: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BROOK_MAIN, '--addr', addr, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, output: () => stdout, stderr: () => stderr, exited };
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 15_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
