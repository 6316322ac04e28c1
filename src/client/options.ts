/**
 * Every option of the SDK, its default, and the one place each is checked.
 *
 * Callers pass partial, untrusted objects; `connectionOptions()`,
 * `producerOptions()`, `consumerOptions()` and `readerOptions()` merge them
 * over the defaults below, validate every field once (the message names the
 * bad field and value), and return a frozen, fully-populated object. Nothing
 * else in src/client reads a raw option.
 */
import { BrookError } from '../common/errors';

/** Where the broker is and how calls to it behave. */
export interface ConnectionOptions {
  /** `host:port` of the broker. Default: `$BROOK_ADDR`, else `127.0.0.1:7070`. */
  addr: string;
  /** Deadline of an ordinary request in ms (a long-poll fetch adds its wait). Default 30000. */
  requestTimeoutMs: number;
  /** Largest message the client sends or accepts, in bytes. Default 64 MiB. */
  maxMessageBytes: number;
  /** First delay before reconnecting after the connection drops, in ms. Default 100. */
  reconnectBackoffMs: number;
  /** Longest delay between reconnect attempts, in ms. Default 2000. */
  maxReconnectBackoffMs: number;
  /**
   * Send produce requests on one Log.ProduceStream stream instead of a
   * Produce call each (see produce-stream.ts). A broker without
   * ProduceStream is detected and gets Produce calls. Default true.
   */
  produceStream: boolean;
}

/** Exponential backoff with jitter, used only for errors whose `retriable` is true. */
export interface RetryOptions {
  /** Attempts after the first one; 0 disables retries. Default 10. */
  retries: number;
  /** Delay before the first retry, in ms. Default 100. */
  initialBackoffMs: number;
  /** Upper bound of any one delay, in ms. Default 5000. */
  maxBackoffMs: number;
  /** Growth of the delay per attempt. Default 2. */
  multiplier: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. Default 0.2. */
  jitter: number;
}

export type AcksMode = 'leader' | 'all' | 'none';

export interface ProducerOptions {
  /** When the broker acknowledges: 'leader' (durable under the topic's flush policy), 'all', 'none'. Default 'leader'. */
  acks: AcksMode;
  /**
   * The longest a partition's batch waits for more records while an earlier
   * request of that partition is in flight, in ms; a partition with nothing
   * in flight sends at the end of the event-loop turn, and a lingering batch
   * goes as soon as the partition's requests are all answered. 0: every
   * batch goes at the end of its event-loop turn. Default 5 (Kafka 4.0's
   * linger.ms).
   */
  lingerMs: number;
  /**
   * A batch is sent as soon as its encoded size reaches this many bytes.
   * Default 262144 (256 KiB): well under the broker's default max.message.bytes
   * (1 MiB), and large enough that per-request overhead is a few percent of
   * the cost at 100-byte records. A single larger record is sent alone.
   */
  batchMaxBytes: number;
  /**
   * Idempotent produce (Kafka's enable.idempotence): the producer gets a
   * producer id and epoch from the broker (InitProducerId) on its first send
   * and stamps every batch with its base sequence, so a retry after a lost
   * reply is answered with the original offsets instead of being written
   * twice, and up to 5 requests per partition may be in flight without
   * reordering. Default true; always false with acks 'none' (nothing would be
   * acknowledged), and `true` with acks 'none' is an error.
   */
  idempotent: boolean;
  /**
   * Produce requests in flight at once across all partitions. Per partition:
   * up to 5 when idempotent (sequences keep the order), else 1. Default 16.
   */
  maxInFlightRequests: number;
  /** Deadline of one produce request, in ms. Default 30000. */
  requestTimeoutMs: number;
  /** A topic's partition count is looked up again after this long, in ms (Kafka's metadata.max.age.ms). Default 300000. */
  metadataMaxAgeMs: number;
  /** How failed produce requests are retried. */
  retry: RetryOptions;
}

export type OffsetReset = 'earliest' | 'latest';

/**
 * How a PartitionReader reads: 'stream' keeps one Log.Subscribe stream open
 * at its position and fetch() takes what has arrived; 'fetch' sends one
 * Log.Fetch per fetch() (with one request of read-ahead).
 */
export type ReaderMode = 'stream' | 'fetch';

export interface ReaderOptions {
  /**
   * 'stream' (default): the broker keeps sending while the caller works, and
   * a tailing reader gets a new record without a request. 'fetch': one
   * request per fetch(), nothing held open between calls — for many readers
   * that each read rarely, or a proxy that does not pass server streams.
   */
  mode: ReaderMode;
  /** Soft cap on the bytes of one fetch (in 'stream' mode, also of each streamed message). Default 1 MiB. */
  maxBytes: number;
  /**
   * 'stream' mode: replies received and not yet returned by fetch() are held
   * up to about this many bytes (plus one message); then the reader stops
   * reading its stream and HTTP/2 flow control stops the broker. Default
   * 2 MiB: reading 1M x 100 B records, 1, 2, 4 and 8 MiB ran alike (2.8-4.7 M
   * records/s each, within the machine's noise), so the default holds less.
   */
  maxBufferedBytes: number;
  /** Long-poll wait of a fetch when no data is there, in ms. Default 500. */
  maxWaitMs: number;
  /** Where to start when the wanted offset is outside the log: 'earliest', 'latest', or undefined to fail. Default undefined. */
  offsetReset?: OffsetReset;
  /** How failed fetches are retried. */
  retry: RetryOptions;
}

export interface ConsumerOptions extends ReaderOptions {
  /** The consumer group; required. */
  groupId: string;
  /** Static membership id: a restart with the same id within the session timeout keeps its partitions. Default none. */
  instanceId?: string;
  /** How long the broker keeps this member without a heartbeat, in ms. Default 45000. */
  sessionTimeoutMs: number;
  /** 'range' | 'roundrobin' | 'sticky'; the group uses its first member's. Default 'sticky' (the broker's default). */
  assignor?: 'range' | 'roundrobin' | 'sticky';
  /** Commit processed offsets every `autoCommitIntervalMs`. Default true. */
  autoCommit: boolean;
  /** Auto-commit period, in ms. Default 5000. */
  autoCommitIntervalMs: number;
  /** Where a partition with no committed offset starts. Default 'latest' (Kafka's auto.offset.reset). */
  offsetReset: OffsetReset;
}

export function defaultRetryOptions(): RetryOptions {
  return { retries: 10, initialBackoffMs: 100, maxBackoffMs: 5000, multiplier: 2, jitter: 0.2 };
}

export function defaultConnectionOptions(): ConnectionOptions {
  return {
    addr: process.env.BROOK_ADDR || '127.0.0.1:7070',
    requestTimeoutMs: 30_000,
    maxMessageBytes: 64 * 1024 * 1024,
    reconnectBackoffMs: 100,
    maxReconnectBackoffMs: 2000,
    produceStream: true,
  };
}

export function defaultProducerOptions(): ProducerOptions {
  return { acks: 'leader', idempotent: true, lingerMs: 5, batchMaxBytes: 256 * 1024, maxInFlightRequests: 16, requestTimeoutMs: 30_000, metadataMaxAgeMs: 300_000, retry: defaultRetryOptions() };
}

export function defaultReaderOptions(): ReaderOptions {
  return { mode: 'stream', maxBytes: 1024 * 1024, maxBufferedBytes: 2 * 1024 * 1024, maxWaitMs: 500, offsetReset: undefined, retry: defaultRetryOptions() };
}

export function defaultConsumerOptions(): Omit<ConsumerOptions, 'groupId'> {
  return {
    ...defaultReaderOptions(),
    sessionTimeoutMs: 45_000,
    autoCommit: true,
    autoCommitIntervalMs: 5000,
    offsetReset: 'latest',
  };
}

function bad(field: string, value: unknown, want: string): never {
  throw new BrookError('INVALID_ARGUMENT', `invalid option ${field}: ${JSON.stringify(value)} (want ${want})`);
}

function checkObject(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(field, value, 'an object');
  return value as Record<string, unknown>;
}

function checkKnownKeys(given: Record<string, unknown>, known: object, prefix: string): void {
  for (const key of Object.keys(given)) {
    if (!(key in known)) throw new BrookError('INVALID_ARGUMENT', `unknown option ${prefix}${key}`);
  }
}

function integer(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    bad(field, value, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`);
  }
  return value;
}

function number(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) bad(field, value, `a number in [${min}, ${max}]`);
  return value;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) bad(field, value, allowed.join(' | '));
  return value as T;
}

export function retryOptions(input: unknown, field = 'retry'): Readonly<RetryOptions> {
  const given = checkObject(input, field);
  const d = defaultRetryOptions();
  checkKnownKeys(given, d, `${field}.`);
  const o = { ...d, ...given } as RetryOptions;
  integer(o.retries, `${field}.retries`, 0);
  integer(o.initialBackoffMs, `${field}.initialBackoffMs`, 0);
  integer(o.maxBackoffMs, `${field}.maxBackoffMs`, o.initialBackoffMs);
  number(o.multiplier, `${field}.multiplier`, 1, 100);
  number(o.jitter, `${field}.jitter`, 0, 1);
  return Object.freeze(o);
}

export function connectionOptions(input: unknown): Readonly<ConnectionOptions> {
  const given = checkObject(input, 'options');
  const d = defaultConnectionOptions();
  checkKnownKeys(given, d, '');
  const o = { ...d, ...given } as ConnectionOptions;
  if (typeof o.addr !== 'string' || !/^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}$/.test(o.addr)) bad('addr', o.addr, 'HOST:PORT');
  integer(o.requestTimeoutMs, 'requestTimeoutMs', 1);
  integer(o.maxMessageBytes, 'maxMessageBytes', 1024);
  integer(o.reconnectBackoffMs, 'reconnectBackoffMs', 1);
  integer(o.maxReconnectBackoffMs, 'maxReconnectBackoffMs', o.reconnectBackoffMs);
  if (typeof o.produceStream !== 'boolean') throw new BrookError('INVALID_ARGUMENT', `options.produceStream must be true or false, got ${String(o.produceStream)}`);
  return Object.freeze(o);
}

export function producerOptions(input: unknown): Readonly<ProducerOptions> {
  const given = checkObject(input, 'options');
  const d = defaultProducerOptions();
  checkKnownKeys(given, d, '');
  const o = { ...d, ...given, retry: retryOptions(given.retry) } as ProducerOptions;
  oneOf(o.acks, 'acks', ['leader', 'all', 'none'] as const);
  if (typeof o.idempotent !== 'boolean') throw new BrookError('INVALID_ARGUMENT', `options.idempotent must be true or false, got ${String(o.idempotent)}`);
  if (o.acks === 'none') {
    if (given.idempotent === true) throw new BrookError('INVALID_ARGUMENT', "options.idempotent needs acks 'leader' or 'all': with acks 'none' nothing is acknowledged");
    o.idempotent = false;
  }
  integer(o.lingerMs, 'lingerMs', 0);
  integer(o.batchMaxBytes, 'batchMaxBytes', 1);
  integer(o.maxInFlightRequests, 'maxInFlightRequests', 1);
  integer(o.requestTimeoutMs, 'requestTimeoutMs', 1);
  integer(o.metadataMaxAgeMs, 'metadataMaxAgeMs', 0);
  return Object.freeze(o);
}

function readerFields(o: ReaderOptions): void {
  oneOf(o.mode, 'mode', ['stream', 'fetch'] as const);
  integer(o.maxBytes, 'maxBytes', 1);
  integer(o.maxBufferedBytes, 'maxBufferedBytes', 1);
  integer(o.maxWaitMs, 'maxWaitMs', 0);
  if (o.offsetReset !== undefined) oneOf(o.offsetReset, 'offsetReset', ['earliest', 'latest'] as const);
}

export function readerOptions(input: unknown): Readonly<ReaderOptions> {
  const given = checkObject(input, 'options');
  const d = defaultReaderOptions();
  checkKnownKeys(given, d, '');
  const o = { ...d, ...given, retry: retryOptions(given.retry) } as ReaderOptions;
  readerFields(o);
  return Object.freeze(o);
}

export function consumerOptions(input: unknown): Readonly<ConsumerOptions> {
  const given = checkObject(input, 'options');
  const d = { groupId: '', instanceId: undefined, assignor: undefined, ...defaultConsumerOptions() };
  checkKnownKeys(given, d, '');
  const o = { ...d, ...given, retry: retryOptions(given.retry) } as ConsumerOptions;
  if (typeof o.groupId !== 'string' || o.groupId.length === 0) bad('groupId', o.groupId, 'a non-empty string');
  if (o.instanceId !== undefined && (typeof o.instanceId !== 'string' || o.instanceId.length === 0)) bad('instanceId', o.instanceId, 'a non-empty string');
  if (o.assignor !== undefined) oneOf(o.assignor, 'assignor', ['range', 'roundrobin', 'sticky'] as const);
  integer(o.sessionTimeoutMs, 'sessionTimeoutMs', 1);
  if (typeof o.autoCommit !== 'boolean') bad('autoCommit', o.autoCommit, 'true or false');
  integer(o.autoCommitIntervalMs, 'autoCommitIntervalMs', 1);
  readerFields(o);
  oneOf(o.offsetReset, 'offsetReset', ['earliest', 'latest'] as const);
  return Object.freeze(o);
}
