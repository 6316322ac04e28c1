/**
 * Request-field checks shared by the services. Each throws a BrookError that
 * names the field and the value, so a bad request gets INVALID_ARGUMENT with
 * a message a person can act on — never a crash, never a write.
 */
import { BrookError } from '../common/errors';
import { isInternalTopicName, validateTopicName } from '../storage/topic-name';

export function fieldError(field: string, value: unknown, expected: string): BrookError {
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 60 ? value.slice(0, 60) + '…' : value) : String(value);
  return new BrookError('INVALID_ARGUMENT', `invalid ${field} ${shown}: expected ${expected}`);
}

/** A topic name a client may use; `forWrite` also refuses internal topics. */
export function requireTopic(field: string, value: unknown, options: { forWrite?: boolean } = {}): string {
  if (typeof value !== 'string' || value === '') throw new BrookError('INVALID_TOPIC_NAME', `${field} is required`);
  const name = validateTopicName(value);
  if (options.forWrite && isInternalTopicName(name)) {
    throw new BrookError('INVALID_TOPIC_NAME', `topic "${name}" is internal (names starting "__" belong to the broker) and cannot be changed by clients`, { topic: name });
  }
  return name;
}

/** An integer in [min, max]; int64 fields arrive as JS numbers (see src/protocol/load.ts). */
export function requireInt(field: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw fieldError(field, value, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer in [${min}, ${max}]`);
  }
  return value;
}

export function requirePartition(value: unknown): number {
  return requireInt('partition', value, 0, 2 ** 31 - 1);
}

export function requireOffset(field: string, value: unknown): number {
  return requireInt(field, value, 0);
}
