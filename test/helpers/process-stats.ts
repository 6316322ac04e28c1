/**
 * What the reliability runs read about a broker process from /proc (Linux):
 * resident memory, open sockets, and whether it is still alive. Each returns
 * a neutral value (0, false) when the process is gone or /proc is missing.
 */
import fs from 'fs';

/** Resident set size (VmRSS) of `pid`, KiB; 0 if it cannot be read. */
export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Open socket file descriptors of `pid`; 0 if they cannot be listed. */
export function socketCount(pid: number): number {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return 0;
  }
  let n = 0;
  for (const fd of fds) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

/** True while a process `pid` exists (signal 0 delivers nothing). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
