/**
 * The broker's configuration: one table of keys (`BROKER_CONFIG_KEYS`), each
 * with its default, its parser and its documentation, and one function
 * (`resolveBrokerConfig`) that layers the sources and returns a frozen
 * `BrokerConfig`.
 *
 * Sources, later ones winning:
 *   1. the defaults in the table below;
 *   2. a YAML file (`--config FILE`, or `config/brook.yaml` under the working
 *      directory when it exists); nested maps and dotted keys are the same
 *      thing (`limits: {max_wait_ms: 5}` ≡ `limits.max_wait_ms: 5`);
 *   3. environment variables `BROOK_<KEY>` with dots and dashes turned into
 *      underscores and upper-cased (`BROOK_LIMITS_MAX_WAIT_MS`);
 *   4. flags, one per key (`--limits-max-wait-ms`), plus `--set key=value`.
 *
 * Anything wrong — an unknown key in the file or in `--set`, a value that
 * does not parse, a rule between keys that does not hold — is a
 * `ConfigError` whose one-line message names the key and where it came from.
 */
import fs from 'fs';
import path from 'path';
import YAML from 'yaml';
import { isBrookError } from '../common/errors';
import { DEFAULT_TOPIC_CONFIG, TOPIC_CONFIG_KEYS, parseTopicConfig, type TopicConfig } from '../storage/topic-config';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** A host and port to listen on; port 0 asks the OS for a free one. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface BrokerConfig {
  /** `data.dir`, absolute. */
  readonly dataDir: string;
  /** `listen`: gRPC address. */
  readonly listen: ListenAddress;
  /** `metrics.listen`: Prometheus HTTP address; null when disabled (""). */
  readonly metricsListen: ListenAddress | null;
  readonly logLevel: LogLevel;
  readonly limits: {
    /** Largest gRPC message accepted, in bytes. */
    readonly maxRequestBytes: number;
    /** Most records one ProduceRequest may carry. */
    readonly maxRecordsPerRequest: number;
    /** Cap on a Fetch's max_wait_ms. */
    readonly maxWaitMs: number;
  };
  /** Partition count of a topic created with partitions = 0. */
  readonly numPartitions: number;
  /** Defaults for every topic's config (`topic.<kafka key>`). */
  readonly topicDefaults: TopicConfig;
  readonly group: {
    readonly minSessionTimeoutMs: number;
    readonly maxSessionTimeoutMs: number;
  };
  /** How long a graceful shutdown waits for in-flight requests before cancelling them. */
  readonly shutdownTimeoutMs: number;
  /** `server.heap_reserve_mb`: MiB of V8 heap held for the broker's life (see heap-reserve.ts); 0 = none. */
  readonly heapReserveMb: number;
  /** `server.heap_growing_percent`: V8's old-generation growing factor as a percentage over 1 (see heap-reserve.ts); 0 = V8's own. */
  readonly heapGrowingPercent: number;
  /** Where each key's value came from, for the start-up log line. */
  readonly sources: Readonly<Record<string, string>>;
}

/** A bad configuration: the message is one line naming the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Raw = string | number | boolean;

interface KeySpec {
  readonly default: string;
  readonly doc: string;
  /** Checks the value; throws a plain Error whose message says what was expected. */
  readonly check: (value: string) => void;
}

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function integerIn(min: number, max: number): (value: string) => void {
  return (value) => {
    if (!/^-?\d+$/.test(value.trim())) throw new Error(`expected an integer in [${min}, ${max}]`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`expected an integer in [${min}, ${max}]`);
  };
}

function listenCheck(allowEmpty: boolean): (value: string) => void {
  return (value) => {
    if (allowEmpty && value === '') return;
    parseListenAddress(value);
  };
}

const MIB = 1024 * 1024;

/** Broker keys (not per-topic ones); topic defaults are added from TOPIC_CONFIG_KEYS as `topic.<key>`. */
const BROKER_KEYS: Record<string, KeySpec> = {
  'data.dir': { default: './data', doc: 'directory holding topics/ and broker state; relative paths are resolved against the working directory', check: (v) => { if (v.trim() === '') throw new Error('expected a non-empty path'); } },
  listen: { default: '127.0.0.1:7070', doc: 'gRPC listen address HOST:PORT (port 0 picks a free port)', check: listenCheck(false) },
  'metrics.listen': { default: '127.0.0.1:7071', doc: 'Prometheus /metrics HTTP address HOST:PORT; "" disables it', check: listenCheck(true) },
  'log.level': { default: 'info', doc: `log level: ${LOG_LEVELS.join(' | ')}`, check: (v) => { if (!LOG_LEVELS.includes(v as LogLevel)) throw new Error(`expected one of ${LOG_LEVELS.join(', ')}`); } },
  // 64 MiB: far above the 1 MiB default max.message.bytes, so an oversized
  // record reaches the broker and gets INVALID_ARGUMENT naming the topic's
  // limit rather than a transport-level RESOURCE_EXHAUSTED.
  'limits.max_request_bytes': { default: String(64 * MIB), doc: 'largest gRPC request accepted, bytes (default 64 MiB; keep it above max.message.bytes)', check: integerIn(1024, 2 ** 31 - 1) },
  'limits.max_records_per_request': { default: '100000', doc: 'most records one Produce may carry', check: integerIn(1, 10_000_000) },
  'limits.max_wait_ms': { default: '30000', doc: 'cap on a Fetch long poll (max_wait_ms)', check: integerIn(0, 3_600_000) },
  'num.partitions': { default: '1', doc: 'partitions of a topic created with partitions = 0', check: integerIn(1, 100_000) },
  'group.min.session.timeout.ms': { default: '1000', doc: 'smallest session_timeout_ms a group member may ask for', check: integerIn(1, 2 ** 31 - 1) },
  'group.max.session.timeout.ms': { default: '1800000', doc: 'largest session_timeout_ms a group member may ask for', check: integerIn(1, 2 ** 31 - 1) },
  'shutdown.timeout_ms': { default: '10000', doc: 'on SIGTERM, how long to wait for in-flight requests before cancelling them', check: integerIn(0, 3_600_000) },
  'server.heap_reserve_mb': { default: '32', doc: 'MiB of V8 heap held for the broker\'s life so that V8 sizes its old generation for a server (fewer mark-compacts under load); costs that much resident memory; 0 disables it', check: integerIn(0, 1024) },
  'server.heap_growing_percent': { default: '100', doc: 'how far V8 lets the old generation grow past what survived its last mark-compact before starting the next, in percent (100: to twice as big); fewer mark-compacts under load for more memory; 0 leaves V8 its own adaptive factor', check: integerIn(0, 1000) },
};

const TOPIC_PREFIX = 'topic.';

function topicKeySpecs(): Record<string, KeySpec> {
  const defaults: Record<string, string> = {};
  for (const [key, spec] of Object.entries(TOPIC_CONFIG_KEYS)) defaults[key] = String(DEFAULT_TOPIC_CONFIG[spec.field]);
  const out: Record<string, KeySpec> = {};
  for (const [key, spec] of Object.entries(TOPIC_CONFIG_KEYS)) {
    out[TOPIC_PREFIX + key] = {
      default: defaults[key],
      doc: `default ${spec.doc}`,
      check: (value) => {
        try {
          parseTopicConfig({ [key]: value });
        } catch (e) {
          // parseTopicConfig's message names the key; keep only what it expected.
          const message = e instanceof Error ? e.message : String(e);
          throw new Error(message.replace(/^.*?: /, ''));
        }
      },
    };
  }
  return out;
}

/** Every key the broker understands, in documentation order. */
export const BROKER_CONFIG_KEYS: Readonly<Record<string, KeySpec>> = Object.freeze({ ...BROKER_KEYS, ...topicKeySpecs() });

/** `limits.max_wait_ms` → `BROOK_LIMITS_MAX_WAIT_MS`. */
export function envVarFor(key: string): string {
  return 'BROOK_' + key.replace(/[.-]/g, '_').toUpperCase();
}

/** `limits.max_wait_ms` → `limits-max-wait-ms` (the flag is `--limits-max-wait-ms`). */
export function flagFor(key: string): string {
  return key.replace(/[._]/g, '-');
}

export function parseListenAddress(value: string): ListenAddress {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value.trim());
  if (!match) throw new Error('expected HOST:PORT');
  const port = Number(match[2]);
  if (port > 65535) throw new Error('expected a port in [0, 65535]');
  return { host: match[1].replace(/^\[|\]$/g, ''), port };
}

export function formatListenAddress(address: ListenAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** Flattens nested YAML maps into dotted keys; leaves must be scalars. */
function flatten(value: unknown, prefix: string, out: Map<string, Raw>, file: string): void {
  if (value === null || value === undefined) {
    if (prefix) throw new ConfigError(`config file ${file}: key "${prefix}" has no value`);
    return;
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) flatten(v, prefix ? `${prefix}.${k}` : k, out, file);
    return;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
    out.set(prefix, value);
    return;
  }
  throw new ConfigError(`config file ${file}: key "${prefix}" must be a scalar value`);
}

export function readConfigFile(file: string): Map<string, Raw> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(e as Error).message.split('\n')[0]}`);
  }
  const out = new Map<string, Raw>();
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ConfigError(`config file ${file} must be a map of keys to values`);
  }
  flatten(doc, '', out, file);
  return out;
}

export interface ConfigSources {
  /** Explicit config file; when absent, `<cwd>/config/brook.yaml` is read if it exists. */
  configFile?: string;
  /** Environment (process.env). */
  env?: Record<string, string | undefined>;
  /** Values from flags, by config key. */
  flags?: Record<string, Raw | undefined>;
  /** Working directory for relative paths (process.cwd()). */
  cwd?: string;
}

/** The default config file looked up under the working directory. */
export const DEFAULT_CONFIG_FILE = path.join('config', 'brook.yaml');

/**
 * Layers defaults, file, environment and flags, validates every key and the
 * rules between keys, and returns a frozen config. Throws `ConfigError`.
 */
export function resolveBrokerConfig(sources: ConfigSources = {}): BrokerConfig {
  const cwd = sources.cwd ?? process.cwd();
  const env = sources.env ?? process.env;
  const values = new Map<string, { value: string; source: string }>();
  for (const [key, spec] of Object.entries(BROKER_CONFIG_KEYS)) values.set(key, { value: spec.default, source: 'default' });

  const set = (key: string, raw: Raw, source: string): void => {
    if (!Object.prototype.hasOwnProperty.call(BROKER_CONFIG_KEYS, key)) {
      throw new ConfigError(`unknown config key "${key}" (${source}); see config/brook.yaml for the keys`);
    }
    values.set(key, { value: String(raw), source });
  };

  const explicitFile = sources.configFile ?? env.BROOK_CONFIG;
  const file = explicitFile ? path.resolve(cwd, explicitFile) : path.resolve(cwd, DEFAULT_CONFIG_FILE);
  if (explicitFile || fs.existsSync(file)) {
    for (const [key, raw] of readConfigFile(file)) set(key, raw, `config file ${file}`);
  }
  for (const key of Object.keys(BROKER_CONFIG_KEYS)) {
    const name = envVarFor(key);
    const raw = env[name];
    if (raw !== undefined) set(key, raw, `environment variable ${name}`);
  }
  for (const [key, raw] of Object.entries(sources.flags ?? {})) {
    if (raw !== undefined) set(key, raw, Object.prototype.hasOwnProperty.call(BROKER_CONFIG_KEYS, key) ? `flag --${flagFor(key)}` : '--set');
  }

  for (const [key, { value, source }] of values) {
    try {
      BROKER_CONFIG_KEYS[key].check(value);
    } catch (e) {
      throw new ConfigError(`invalid value ${JSON.stringify(value)} for config key "${key}" (${source}): ${(e as Error).message}`);
    }
  }

  const get = (key: string): string => values.get(key)!.value;
  const int = (key: string): number => Number(get(key));

  const topicOverrides: Record<string, string> = {};
  for (const key of Object.keys(TOPIC_CONFIG_KEYS)) topicOverrides[key] = get(TOPIC_PREFIX + key);
  let topicDefaults: TopicConfig;
  try {
    topicDefaults = parseTopicConfig(topicOverrides);
  } catch (e) {
    throw new ConfigError(isBrookError(e) ? e.message : String(e));
  }

  const config: BrokerConfig = {
    dataDir: path.resolve(cwd, get('data.dir')),
    listen: parseListenAddress(get('listen')),
    metricsListen: get('metrics.listen') === '' ? null : parseListenAddress(get('metrics.listen')),
    logLevel: get('log.level') as LogLevel,
    limits: Object.freeze({
      maxRequestBytes: int('limits.max_request_bytes'),
      maxRecordsPerRequest: int('limits.max_records_per_request'),
      maxWaitMs: int('limits.max_wait_ms'),
    }),
    numPartitions: int('num.partitions'),
    topicDefaults,
    group: Object.freeze({
      minSessionTimeoutMs: int('group.min.session.timeout.ms'),
      maxSessionTimeoutMs: int('group.max.session.timeout.ms'),
    }),
    shutdownTimeoutMs: int('shutdown.timeout_ms'),
    heapReserveMb: int('server.heap_reserve_mb'),
    heapGrowingPercent: int('server.heap_growing_percent'),
    sources: Object.freeze(Object.fromEntries([...values].map(([k, v]) => [k, v.source]))),
  };

  // Rules between keys.
  if (config.group.minSessionTimeoutMs > config.group.maxSessionTimeoutMs) {
    throw new ConfigError(
      `config key "group.min.session.timeout.ms" (${config.group.minSessionTimeoutMs}) must not exceed "group.max.session.timeout.ms" (${config.group.maxSessionTimeoutMs})`,
    );
  }
  // A produce request carries at least one whole batch plus framing, so the
  // transport limit must leave room for the largest batch a topic accepts.
  if (config.limits.maxRequestBytes - PRODUCE_FRAMING_BYTES < topicDefaults.maxMessageBytes) {
    throw new ConfigError(
      `config key "limits.max_request_bytes" (${config.limits.maxRequestBytes}) must be at least ${PRODUCE_FRAMING_BYTES} bytes larger than "topic.max.message.bytes" (${topicDefaults.maxMessageBytes})`,
    );
  }
  return Object.freeze(config);
}

/**
 * Bytes a Produce request holds besides its record batch: topic (at most
 * 249 bytes), partition, acks and the protobuf tags and lengths come to under
 * 300; 1 KiB leaves slack. A topic's max.message.bytes may be at most
 * limits.max_request_bytes minus this, so a batch over max.message.bytes
 * reaches the broker (INVALID_ARGUMENT naming the limit) instead of being cut
 * off by the transport (RESOURCE_EXHAUSTED).
 */
export const PRODUCE_FRAMING_BYTES = 1024;

/** The largest max.message.bytes a topic may set under `config`, and why, for LogManager. */
export function maxMessageBytesLimit(config: BrokerConfig): { bytes: number; reason: string } {
  const bytes = config.limits.maxRequestBytes - PRODUCE_FRAMING_BYTES;
  return { bytes, reason: `the broker's limits.max_request_bytes (${config.limits.maxRequestBytes}) less ${PRODUCE_FRAMING_BYTES} bytes of request framing` };
}

/** The config file's text with every key at its default, documented: what `config/brook.yaml` holds. */
export function renderDefaultConfig(): string {
  const lines: string[] = [];
  for (const [key, spec] of Object.entries(BROKER_CONFIG_KEYS)) {
    lines.push(`# ${spec.doc}`, `# env ${envVarFor(key)}, flag --${flagFor(key)}`, `${key}: ${JSON.stringify(spec.default)}`, '');
  }
  return lines.join('\n');
}
