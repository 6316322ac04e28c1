/**
 * Topic names and the paths they map to. A name that passes
 * `validateTopicName` is a single, safe path component; `resolveUnder` is the
 * second line of defence and refuses any path that leaves the data directory.
 */
import path from 'path';
import { BrookError } from '../common/errors';

const TOPIC_NAME = /^[A-Za-z0-9._-]{1,249}$/;

/** Names starting with this are internal topics (e.g. `__consumer_offsets`). */
export const INTERNAL_TOPIC_PREFIX = '__';

export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string') throw new BrookError('INVALID_TOPIC_NAME', 'a topic name must be a string');
  if (!TOPIC_NAME.test(name) || name === '.' || name === '..') {
    const shown = name.length > 60 ? `${JSON.stringify(name.slice(0, 60))}… (${name.length} chars)` : JSON.stringify(name);
    throw new BrookError(
      'INVALID_TOPIC_NAME',
      `invalid topic name ${shown}: names are 1-249 characters of [A-Za-z0-9._-] and not "." or ".."`,
      { topic: name.slice(0, 249) },
    );
  }
  return name;
}

export function isInternalTopicName(name: string): boolean {
  return name.startsWith(INTERNAL_TOPIC_PREFIX);
}

/** Joins `parts` under `root` and asserts the result stays strictly inside it. */
export function resolveUnder(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const target = path.resolve(base, ...parts);
  if (target !== base && !target.startsWith(base + path.sep)) {
    throw new BrookError('INVALID_ARGUMENT', `refusing path ${JSON.stringify(target)}: outside the data directory ${base}`);
  }
  return target;
}
