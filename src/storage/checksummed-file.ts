/**
 * Brook's own small metadata files (topic.json, recovery checkpoints, log
 * start offsets) share one format and one atomic write path.
 *
 * Format (UTF-8 text):
 *
 *   crc32:XXXXXXXX\n        8 lowercase hex digits: CRC-32 (the `crc-32` package,
 *                           unsigned) of every byte after this line
 *   <JSON document>\n
 *
 * The checksum covers the exact bytes on disk, so a torn or bit-flipped file
 * is detected rather than half-parsed. Writes go to `<name>.tmp`, are fsynced,
 * renamed over the target, and the directory is fsynced: after a crash the
 * file is either the old version or the new one.
 */
import path from 'path';
import CRC32 from 'crc-32';
import { BrookError } from '../common/errors';
import type { StorageFileSystem } from './file-system';

const PREFIX = 'crc32:';
const HEADER_LENGTH = PREFIX.length + 8 + 1;

export function encodeChecksummed(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value) + '\n', 'utf8');
  const crc = (CRC32.buf(body) >>> 0).toString(16).padStart(8, '0');
  return Buffer.concat([Buffer.from(`${PREFIX}${crc}\n`, 'utf8'), body]);
}

/** Parses a checksummed file; CORRUPT_DATA naming `file` if the checksum or JSON is bad. */
export function decodeChecksummed(bytes: Buffer, file: string): unknown {
  const header = bytes.subarray(0, HEADER_LENGTH).toString('utf8');
  if (bytes.length < HEADER_LENGTH || !header.startsWith(PREFIX) || header[HEADER_LENGTH - 1] !== '\n') {
    throw new BrookError('CORRUPT_DATA', `${file}: missing "crc32:" header`, { file });
  }
  const expected = parseInt(header.slice(PREFIX.length, PREFIX.length + 8), 16);
  const body = bytes.subarray(HEADER_LENGTH);
  const actual = CRC32.buf(body) >>> 0;
  if (expected !== actual) {
    throw new BrookError('CORRUPT_DATA', `${file}: checksum mismatch (stored ${expected.toString(16)}, computed ${actual.toString(16)})`, { file });
  }
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new BrookError('CORRUPT_DATA', `${file}: checksum matches but the JSON does not parse`, { file }, { cause: e });
  }
}

export async function writeChecksummedAtomically(fileSystem: StorageFileSystem, file: string, value: unknown): Promise<void> {
  const temp = `${file}.tmp`;
  await fileSystem.writeFileSync(temp, encodeChecksummed(value));
  await fileSystem.rename(temp, file);
  await fileSystem.syncDirectory(path.dirname(file));
}

export async function readChecksummed(fileSystem: StorageFileSystem, file: string): Promise<unknown> {
  return decodeChecksummed(await fileSystem.readFile(file), file);
}
