/**
 * A small filesystem of the test's own, for running a broker out of space:
 * an ext4 image (`truncate`, `mkfs.ext4`, `mount -o loop`) under a temp dir.
 * ext4 rather than tmpfs because fdatasync is real there and ENOSPC comes
 * from block allocation as on a production disk. Needs root; when it cannot
 * be had (not root, no loop device, no mkfs.ext4) `mountSmallFilesystem`
 * returns the reason instead, so the caller can skip saying why.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';

export interface SmallFilesystem {
  /** The mount point (empty ext4, no root reserve). */
  readonly dir: string;
  readonly sizeBytes: number;
  /** Unmounts and removes the image and temp dir; safe to call twice. */
  remove(): void;
}

function run(command: string, args: string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

export function mountSmallFilesystem(sizeMiB: number): SmallFilesystem | { skipReason: string } {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return { skipReason: 'needs root to loop-mount a small ext4 filesystem' };
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-small-fs-'));
  const image = path.join(base, 'disk.img');
  const dir = path.join(base, 'mnt');
  fs.mkdirSync(dir);
  let mounted = false;
  const remove = (): void => {
    if (mounted) {
      try {
        run('umount', [dir]);
        mounted = false;
      } catch {
        try {
          run('umount', ['-l', dir]);
          mounted = false;
        } catch {
          // leave it; the message below names it
        }
      }
    }
    if (!mounted) fs.rmSync(base, { recursive: true, force: true });
    else console.warn(`could not unmount ${dir}; remove it by hand`);
  };
  try {
    run('truncate', ['-s', `${sizeMiB}M`, image]);
    // -m 0: no root reserve (the broker runs as root here and would use it).
    run('mkfs.ext4', ['-q', '-m', '0', '-F', image]);
    run('mount', ['-o', 'loop', image, dir]);
    mounted = true;
  } catch (e) {
    remove();
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    return { skipReason: `cannot loop-mount an ext4 image: ${stderr || (e as Error).message}` };
  }
  return { dir, sizeBytes: sizeMiB * 1024 * 1024, remove };
}

/** Bytes still free on the filesystem holding `dir`. */
export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}
