/**
 * The coordinator's settings, parsed once: `unknown` in, a frozen
 * `CoordinatorConfig` out, every default from `COORDINATOR_DEFAULTS`, every
 * bad key named in its error.
 *
 *   minSessionTimeoutMs            1000     group.min.session.timeout.ms
 *   maxSessionTimeoutMs            1800000  group.max.session.timeout.ms
 *   defaultSessionTimeoutMs        45000    used when a member sends 0
 *   heartbeatIntervalMs            5000     group.consumer.heartbeat.interval.ms; a member is
 *                                           told min(this, its session timeout / 3)
 *   reconcileHeartbeatIntervalMs   250      told instead while the member waits for
 *                                           partitions to be released or has some to
 *                                           release, so a hand-off takes a few hundred
 *                                           ms rather than a full heartbeat interval
 *   sessionCheckIntervalMs         250      how often the production timer looks for
 *                                           expired sessions
 *   snapshotMinRecords             1000     superseded offset entries tolerated in
 *                                           __consumer_offsets; a snapshot is written
 *                                           once they number max(this, live offsets),
 *                                           so the log stays under about twice the
 *                                           live state plus this
 *   snapshotChunkOffsets           2000     committed offsets per snapshot record
 *                                           (~100 KB of msgpack with 40-character
 *                                           topic names, ~540 KB with 249-character
 *                                           ones); the store splits records and
 *                                           appends by encoded bytes, so no append
 *                                           nears max.message.bytes whatever this is
 *   snapshotRetryBackoffMs         1000     wait after a failed snapshot before the
 *                                           next try, doubled after each failure in
 *                                           a row (a failed try may leave a partial
 *                                           snapshot behind; retrying on every commit
 *                                           would grow the log without bound)
 *   snapshotRetryBackoffMaxMs      60000    the longest of those waits
 *   defaultAssignor                sticky
 */
import { BrookError } from '../common/errors';
import { DEFAULT_ASSIGNOR, isAssignorName, type AssignorName } from './assignor-interface';

export interface CoordinatorConfig {
  readonly minSessionTimeoutMs: number;
  readonly maxSessionTimeoutMs: number;
  readonly defaultSessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly reconcileHeartbeatIntervalMs: number;
  readonly sessionCheckIntervalMs: number;
  readonly snapshotMinRecords: number;
  readonly snapshotChunkOffsets: number;
  readonly snapshotRetryBackoffMs: number;
  readonly snapshotRetryBackoffMaxMs: number;
  readonly defaultAssignor: AssignorName;
}

export const COORDINATOR_DEFAULTS: CoordinatorConfig = Object.freeze({
  minSessionTimeoutMs: 1000,
  maxSessionTimeoutMs: 1_800_000,
  defaultSessionTimeoutMs: 45_000,
  heartbeatIntervalMs: 5000,
  reconcileHeartbeatIntervalMs: 250,
  sessionCheckIntervalMs: 250,
  snapshotMinRecords: 1000,
  snapshotChunkOffsets: 2000,
  snapshotRetryBackoffMs: 1000,
  snapshotRetryBackoffMaxMs: 60_000,
  defaultAssignor: DEFAULT_ASSIGNOR,
});

export function validateCoordinatorConfig(input: unknown = {}): CoordinatorConfig {
  if (typeof input !== 'object' || input === null) throw invalid('coordinator config must be an object');
  const raw = input as Record<string, unknown>;
  for (const key of Object.keys(raw)) {
    if (!(key in COORDINATOR_DEFAULTS)) throw invalid(`unknown coordinator config key "${key}"`);
  }
  const int = (key: Exclude<keyof CoordinatorConfig, 'defaultAssignor'>): number => {
    const value = raw[key] ?? COORDINATOR_DEFAULTS[key];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
      throw invalid(`coordinator config "${key}" must be a positive integer, got ${JSON.stringify(value)}`);
    }
    return value;
  };
  const assignor = raw.defaultAssignor ?? COORDINATOR_DEFAULTS.defaultAssignor;
  if (typeof assignor !== 'string' || !isAssignorName(assignor)) {
    throw invalid(`coordinator config "defaultAssignor" must be range, roundrobin or sticky, got ${JSON.stringify(assignor)}`);
  }
  const config: CoordinatorConfig = {
    minSessionTimeoutMs: int('minSessionTimeoutMs'),
    maxSessionTimeoutMs: int('maxSessionTimeoutMs'),
    defaultSessionTimeoutMs: int('defaultSessionTimeoutMs'),
    heartbeatIntervalMs: int('heartbeatIntervalMs'),
    reconcileHeartbeatIntervalMs: int('reconcileHeartbeatIntervalMs'),
    sessionCheckIntervalMs: int('sessionCheckIntervalMs'),
    snapshotMinRecords: int('snapshotMinRecords'),
    snapshotChunkOffsets: int('snapshotChunkOffsets'),
    snapshotRetryBackoffMs: int('snapshotRetryBackoffMs'),
    snapshotRetryBackoffMaxMs: int('snapshotRetryBackoffMaxMs'),
    defaultAssignor: assignor,
  };
  if (config.minSessionTimeoutMs > config.maxSessionTimeoutMs) {
    throw invalid(`coordinator config "minSessionTimeoutMs" (${config.minSessionTimeoutMs}) must not exceed "maxSessionTimeoutMs" (${config.maxSessionTimeoutMs})`);
  }
  if (config.snapshotRetryBackoffMs > config.snapshotRetryBackoffMaxMs) {
    throw invalid(`coordinator config "snapshotRetryBackoffMs" (${config.snapshotRetryBackoffMs}) must not exceed "snapshotRetryBackoffMaxMs" (${config.snapshotRetryBackoffMaxMs})`);
  }
  return Object.freeze(config);
}

function invalid(message: string): BrookError {
  return new BrookError('INVALID_CONFIG', message);
}
