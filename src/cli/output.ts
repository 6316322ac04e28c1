/**
 * How the CLI prints: aligned tables for people, JSON for programs, records
 * as text or JSON lines with binary shown safely, and stdout writes that
 * respect backpressure (a slow pipe slows the reader, memory stays bounded).
 */
import { isUtf8 } from 'buffer';
import type { ConsumedRecord } from '../client';

export type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell; numbers right-aligned. */
export function formatTable(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => row.map((c) => (c === null || c === undefined ? '-' : String(c))));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === 'number' || row[i] === null || row[i] === undefined));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((row) => row[i].length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 && !numeric[i] ? c : numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), ...text.map(line)].join('\n') + '\n';
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

export function printTable(headers: string[], rows: Cell[][]): void {
  process.stdout.write(formatTable(headers, rows));
}

/** UTF-8 text stays text; anything else is base64 and says so. */
function bytesForJson(bytes: Buffer | null): { text: string | null; base64: boolean } {
  if (bytes === null) return { text: null, base64: false };
  if (isUtf8(bytes)) return { text: bytes.toString('utf8'), base64: false };
  return { text: bytes.toString('base64'), base64: true };
}

export type RecordFormat = 'text' | 'json';

/**
 * One record as an output line.
 * text: the value (UTF-8), `base64:<...>` when it is not UTF-8, empty for null.
 * json: {topic, partition, offset, timestamp (ms), key, value, headers}; a
 * key or value that is not UTF-8 is base64 with `keyEncoding`/`valueEncoding`
 * set to "base64"; header values likewise carry `encoding`.
 */
export function formatRecord(record: ConsumedRecord, format: RecordFormat): string {
  if (format === 'text') {
    const v = bytesForJson(record.value);
    return (v.base64 ? `base64:${v.text}` : (v.text ?? '')) + '\n';
  }
  const key = bytesForJson(record.key);
  const value = bytesForJson(record.value);
  const out: Record<string, unknown> = {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    timestamp: record.timestampMs,
    key: key.text,
    value: value.text,
    headers: record.headers.map((h) => {
      const hv = bytesForJson(h.value);
      return hv.base64 ? { key: h.key, value: hv.text, encoding: 'base64' } : { key: h.key, value: hv.text };
    }),
  };
  if (key.base64) out.keyEncoding = 'base64';
  if (value.base64) out.valueEncoding = 'base64';
  return JSON.stringify(out) + '\n';
}

/** Writes to stdout and waits for 'drain' when the pipe is full. Resolves false if stdout closed (EPIPE). */
export function writeOut(text: string): Promise<boolean> {
  if (stdoutClosed) return Promise.resolve(false);
  if (process.stdout.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (): void => {
      process.stdout.off('drain', done);
      process.stdout.off('close', done);
      resolve(!stdoutClosed);
    };
    process.stdout.once('drain', done);
    process.stdout.once('close', done);
  });
}

let stdoutClosed = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') stdoutClosed = true;
  else throw e;
});

export function isStdoutClosed(): boolean {
  return stdoutClosed;
}
