/**
 * Flag values the verbs share, parsed once; a bad value is a usage error
 * (exit 2) whose message names the flag and the value.
 */
import { InvalidArgumentError } from 'commander';
import { UsageError } from './usage-error';

/** For commander argParser: a non-negative integer. */
export function parseNonNegativeInt(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError('expected a whole number >= 0.');
  return Number(value);
}

export function parsePositiveInt(value: string): number {
  const n = parseNonNegativeInt(value);
  if (n < 1) throw new InvalidArgumentError('expected a whole number >= 1.');
  return n;
}

/** For repeatable `k=v` flags (commander argParser with an accumulator). */
export function collectPair(value: string, previous: Array<[string, string]> = []): Array<[string, string]> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got "${value}".`);
  return [...previous, [value.slice(0, eq), value.slice(eq + 1)]];
}

export function collectString(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A position in a log given on the command line. */
export type Position = { kind: 'earliest' } | { kind: 'latest' } | { kind: 'offset'; offset: number } | { kind: 'time'; timestampMs: number };

/**
 * earliest | latest | OFFSET | ISO-8601 time (`2024-05-01T12:00:00Z`,
 * `2024-05-01`). Throws a UsageError naming `flag`.
 */
export function parsePosition(value: string, flag: string, allow: { earliestLatest: boolean } = { earliestLatest: true }): Position {
  if (allow.earliestLatest && value === 'earliest') return { kind: 'earliest' };
  if (allow.earliestLatest && value === 'latest') return { kind: 'latest' };
  if (/^\d+$/.test(value) && Number.isSafeInteger(Number(value))) return { kind: 'offset', offset: Number(value) };
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return { kind: 'time', timestampMs: ms };
  }
  const want = allow.earliestLatest ? 'earliest, latest, an offset or an ISO-8601 time' : 'an offset or an ISO-8601 time';
  throw new UsageError(`${flag} "${value}" is not valid (want ${want})`);
}
