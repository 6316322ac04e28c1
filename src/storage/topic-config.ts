/**
 * Per-topic log configuration, with Kafka's key names.
 *
 * `parseTopicConfig` is the only way in: string values from a request or a
 * topic.json go in, a frozen, fully populated `TopicConfig` comes out, and the
 * first bad key is named in an `INVALID_CONFIG` error. Defaults live in
 * `DEFAULT_TOPIC_CONFIG` and nowhere else; `TOPIC_CONFIG_KEYS` documents each
 * key with its default.
 */
import { BrookError } from '../common/errors';

export type FlushPolicy = 'always' | 'interval' | 'never';
export type TimestampType = 'CreateTime' | 'LogAppendTime';

export interface TopicConfig {
  /** `retention.ms`: delete a sealed segment once its newest record is older than this; -1 keeps forever. */
  readonly retentionMs: number;
  /** `retention.bytes`: delete the oldest sealed segments while the partition is larger than this; -1 = unlimited. */
  readonly retentionBytes: number;
  /** `segment.bytes`: roll to a new segment before the active one would exceed this many bytes. */
  readonly segmentBytes: number;
  /** `segment.ms`: roll once the active segment's first batch is this old. */
  readonly segmentMs: number;
  /** `index.interval.bytes`: bytes of log between two sparse offset-index entries. */
  readonly indexIntervalBytes: number;
  /** `max.message.bytes`: largest record batch accepted, in bytes including its 12-byte log overhead. */
  readonly maxMessageBytes: number;
  /** `flush.policy`: `always` (fdatasync before acknowledging), `interval` or `never`. */
  readonly flushPolicy: FlushPolicy;
  /** `flush.interval.ms`: with flush.policy=interval, fdatasync at least this often. */
  readonly flushIntervalMs: number;
  /** `message.timestamp.type`: keep the producer's timestamps, or stamp the broker's clock. */
  readonly messageTimestampType: TimestampType;
}

/** Smallest segment.bytes accepted: one batch header plus a little, so tests can roll often. */
export const MIN_SEGMENT_BYTES = 1024;
/**
 * Smallest max.message.bytes: the size of a batch holding one record with no
 * key, value or headers (61-byte batch header + 7 bytes of record). Kafka
 * accepts 0, which makes a topic refuse every batch.
 */
export const MIN_MAX_MESSAGE_BYTES = 68;
/** Largest segment.bytes: index positions are u32 and Kafka caps it at Int32.MAX_VALUE. */
export const MAX_SEGMENT_BYTES = 2_147_483_647;

export const DEFAULT_TOPIC_CONFIG: TopicConfig = Object.freeze({
  retentionMs: 604_800_000, // 7 days
  retentionBytes: -1,
  segmentBytes: 1_073_741_824, // 1 GiB
  segmentMs: 604_800_000, // 7 days
  indexIntervalBytes: 4096,
  maxMessageBytes: 1_048_588, // Kafka's default: 1 MiB + the 12-byte log overhead
  flushPolicy: 'always',
  flushIntervalMs: 1000,
  messageTimestampType: 'CreateTime',
});

type Parser = (key: string, raw: string) => number | string;

interface KeySpec {
  readonly field: keyof TopicConfig;
  readonly parse: Parser;
  readonly doc: string;
}

function integer(min: number, max = Number.MAX_SAFE_INTEGER, allowMinusOne = false): Parser {
  return (key, raw) => {
    const text = raw.trim();
    if (!/^-?\d+$/.test(text)) throw invalid(key, raw, 'an integer');
    const n = Number(text);
    if (allowMinusOne && n === -1) return n;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw invalid(key, raw, `an integer in [${min}, ${max}]${allowMinusOne ? ' or -1' : ''}`);
    }
    return n;
  };
}

function oneOf(...values: string[]): Parser {
  return (key, raw) => {
    const text = raw.trim();
    if (!values.includes(text)) throw invalid(key, raw, `one of ${values.join(', ')}`);
    return text;
  };
}

function invalid(key: string, raw: string, expected: string): BrookError {
  return new BrookError('INVALID_CONFIG', `invalid value ${JSON.stringify(raw)} for topic config "${key}": expected ${expected}`);
}

/** Every topic config key, by its Kafka name. */
export const TOPIC_CONFIG_KEYS: Readonly<Record<string, KeySpec>> = Object.freeze({
  'retention.ms': { field: 'retentionMs', parse: integer(0, Number.MAX_SAFE_INTEGER, true), doc: 'delete sealed segments older than this (default 604800000 = 7 days; -1 = forever)' },
  'retention.bytes': { field: 'retentionBytes', parse: integer(0, Number.MAX_SAFE_INTEGER, true), doc: 'keep at most this many bytes per partition (default -1 = unlimited)' },
  'segment.bytes': { field: 'segmentBytes', parse: integer(MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES), doc: 'roll the active segment at this size (default 1073741824 = 1 GiB, min 1024)' },
  'segment.ms': { field: 'segmentMs', parse: integer(1), doc: 'roll the active segment after this long (default 604800000 = 7 days)' },
  'index.interval.bytes': { field: 'indexIntervalBytes', parse: integer(0, MAX_SEGMENT_BYTES), doc: 'bytes between sparse index entries (default 4096; 0 = index every batch)' },
  'max.message.bytes': { field: 'maxMessageBytes', parse: integer(MIN_MAX_MESSAGE_BYTES, MAX_SEGMENT_BYTES), doc: 'largest record batch accepted (default 1048588, min 68; the broker also caps it below limits.max_request_bytes)' },
  'flush.policy': { field: 'flushPolicy', parse: oneOf('always', 'interval', 'never'), doc: 'always | interval | never (default always: fdatasync before acknowledging)' },
  'flush.interval.ms': { field: 'flushIntervalMs', parse: integer(1), doc: 'fdatasync period under flush.policy=interval (default 1000)' },
  'message.timestamp.type': { field: 'messageTimestampType', parse: oneOf('CreateTime', 'LogAppendTime'), doc: 'CreateTime | LogAppendTime (default CreateTime)' },
});

/**
 * Validates `overrides` (Kafka key → string value) over `defaults` and returns
 * a frozen config. Unknown keys and bad values are `INVALID_CONFIG` naming the key.
 */
export function parseTopicConfig(overrides: Record<string, string>, defaults: TopicConfig = DEFAULT_TOPIC_CONFIG): TopicConfig {
  if (overrides === null || typeof overrides !== 'object') {
    throw new BrookError('INVALID_CONFIG', 'topic config must be a map of string keys to string values');
  }
  const result: Record<string, number | string> = { ...defaults };
  for (const [key, raw] of Object.entries(overrides)) {
    const spec = Object.prototype.hasOwnProperty.call(TOPIC_CONFIG_KEYS, key) ? TOPIC_CONFIG_KEYS[key] : undefined;
    if (!spec) {
      throw new BrookError('INVALID_CONFIG', `unknown topic config "${key}"; known keys: ${Object.keys(TOPIC_CONFIG_KEYS).join(', ')}`);
    }
    if (typeof raw !== 'string') throw invalid(key, String(raw), 'a string value');
    result[spec.field] = spec.parse(key, raw);
  }
  return Object.freeze(result as unknown as TopicConfig);
}

/** Turns a partial config object (e.g. broker-level defaults) into a validated full one. */
export function topicConfigWith(partial: Partial<TopicConfig> | undefined, base: TopicConfig = DEFAULT_TOPIC_CONFIG): TopicConfig {
  if (!partial) return base;
  const asStrings: Record<string, string> = {};
  for (const [key, spec] of Object.entries(TOPIC_CONFIG_KEYS)) {
    const value = partial[spec.field];
    if (value !== undefined) asStrings[key] = String(value);
  }
  return parseTopicConfig(asStrings, base);
}

/** The config as Kafka-named string pairs, e.g. for DescribeTopic. */
export function topicConfigToMap(config: TopicConfig): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, spec] of Object.entries(TOPIC_CONFIG_KEYS)) out[key] = String(config[spec.field]);
  return out;
}
