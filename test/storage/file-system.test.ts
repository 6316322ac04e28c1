import fs from 'fs';
import path from 'path';
import { nodeFileSystem, timedFileSystem } from '../../src/storage';
import { makeTempDir, refuseDsyncOpens, removeDir } from '../helpers/storage';

let dir: string | undefined;
afterEach(async () => removeDir(dir));

function openFds(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

describe('nodeFileSystem durable writes', () => {
  it('writes at the position through writevDurable, alongside writev, and lets go of its descriptor', async () => {
    dir = await makeTempDir();
    const file = path.join(dir, 'f.log');
    const fds = openFds();
    const handle = await nodeFileSystem.open(file, { create: true });
    await handle.writev([Buffer.from('abc')], 0);
    await handle.writevDurable!([Buffer.from('def'), Buffer.from('gh')], 3);
    expect(openFds()).toBe(fds + 2);
    await handle.endDurableWrites!();
    expect(openFds()).toBe(fds + 1);
    // A later durable write opens it again; close() closes both.
    await handle.writevDurable!([Buffer.from('XY')], 1);
    expect(openFds()).toBe(fds + 2);
    expect(await handle.size()).toBe(8);
    await handle.close();
    expect(openFds()).toBe(fds);
    expect(fs.readFileSync(file, 'utf8')).toBe('aXYdefgh');
  });

  it('writes and fdatasyncs through its own descriptor when the O_DSYNC one cannot be opened (EMFILE), and opens it again next time', async () => {
    dir = await makeTempDir();
    const file = path.join(dir, 'e.log');
    const handle = await nodeFileSystem.open(file, { create: true });
    const fds = openFds();
    let refusals = 0;
    const open = refuseDsyncOpens(() => refusals++ < 1);
    const fdatasync = jest.spyOn(fs, 'fdatasync');
    try {
      await handle.writevDurable!([Buffer.from('abc'), Buffer.from('de')], 0);
      expect(open.refused).toBe(1);
      expect(fdatasync).toHaveBeenCalledTimes(1); // durable before it resolved
      expect(openFds()).toBe(fds);
      expect(fs.readFileSync(file, 'utf8')).toBe('abcde');
      await handle.writevDurable!([Buffer.from('fg')], 5);
      expect(fdatasync).toHaveBeenCalledTimes(1);
      expect(openFds()).toBe(fds + 1);
      expect(fs.readFileSync(file, 'utf8')).toBe('abcdefg');
    } finally {
      open.restore();
      fdatasync.mockRestore();
      await handle.close();
    }
    expect(openFds()).toBe(fds - 1);
  });

  it('refuses a durable write to a closed file', async () => {
    dir = await makeTempDir();
    const handle = await nodeFileSystem.open(path.join(dir, 'g.log'), { create: true });
    await handle.close();
    await expect(handle.writevDurable!([Buffer.from('x')], 0)).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
  });
});

describe('timedFileSystem', () => {
  it('reports each datasync and durable write of an open file, and passes everything else through', async () => {
    dir = await makeTempDir();
    const seconds: number[] = [];
    const timed = timedFileSystem(nodeFileSystem, (s) => seconds.push(s));
    const file = path.join(dir, 'f.log');
    const handle = await timed.open(file, { create: true });
    await handle.writev([Buffer.from('abc')], 0);
    expect(seconds).toHaveLength(0);
    await handle.datasync();
    await handle.writevDurable!([Buffer.from('de')], 3);
    expect(seconds).toHaveLength(2);
    for (const s of seconds) expect(s).toBeGreaterThan(0);
    expect(await handle.size()).toBe(5);
    const buffer = Buffer.alloc(5);
    expect(await handle.read(buffer, 0, 5, 0)).toBe(5);
    expect(buffer.toString()).toBe('abcde');
    await handle.endDurableWrites!();
    await handle.truncate(4);
    await handle.close();
    expect(fs.readFileSync(file, 'utf8')).toBe('abcd');
    expect(await timed.exists(file)).toBe(true);
    // A file without durable writes keeps that shape: storage checks for the method.
    const real = await nodeFileSystem.open(file);
    const plainFile = { path: file, read: real.read.bind(real), writev: real.writev.bind(real), datasync: real.datasync.bind(real), truncate: real.truncate.bind(real), size: real.size.bind(real), close: real.close.bind(real) };
    const plain = await timedFileSystem({ ...nodeFileSystem, open: async () => plainFile }, () => undefined).open(file);
    expect(plain.writevDurable).toBeUndefined();
    expect(plain.endDurableWrites).toBeUndefined();
    await plain.close();
  });
});
