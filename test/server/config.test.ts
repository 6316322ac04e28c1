import fs from 'fs';
import os from 'os';
import path from 'path';
import { BROKER_CONFIG_KEYS, ConfigError, resolveBrokerConfig } from '../../src/server/config';
import { heapGrowingFlag } from '../../src/server/heap-reserve';

const ROOT = path.resolve(__dirname, '..', '..');
const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'brook-config-'));
afterAll(() => fs.rmSync(empty, { recursive: true, force: true }));

describe('broker config', () => {
  it('has the documented defaults and is frozen', () => {
    const config = resolveBrokerConfig({ cwd: empty, env: {} });
    expect(config.dataDir).toBe(path.join(empty, 'data'));
    expect(config.listen).toEqual({ host: '127.0.0.1', port: 7070 });
    expect(config.metricsListen).toEqual({ host: '127.0.0.1', port: 7071 });
    expect(config.limits).toEqual({ maxRequestBytes: 64 * 1024 * 1024, maxRecordsPerRequest: 100000, maxWaitMs: 30000 });
    expect(config.group).toEqual({ minSessionTimeoutMs: 1000, maxSessionTimeoutMs: 1800000 });
    expect(config.topicDefaults.flushPolicy).toBe('always');
    expect(config.heapReserveMb).toBe(32);
    expect(config.heapGrowingPercent).toBe(100);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes server.heap_reserve_mb from the file, env or flags; 0 disables the reserve', () => {
    expect(resolveBrokerConfig({ cwd: empty, env: { BROOK_SERVER_HEAP_RESERVE_MB: '0' } }).heapReserveMb).toBe(0);
    expect(resolveBrokerConfig({ cwd: empty, env: {}, flags: { 'server.heap_reserve_mb': '64' } }).heapReserveMb).toBe(64);
    expect(() => resolveBrokerConfig({ cwd: empty, env: {}, flags: { 'server.heap_reserve_mb': '-1' } })).toThrow(/"server.heap_reserve_mb".*\[0, 1024\]/);
  });

  it('takes server.heap_growing_percent from env or flags; 0 leaves V8 its own factor', () => {
    expect(resolveBrokerConfig({ cwd: empty, env: { BROOK_SERVER_HEAP_GROWING_PERCENT: '0' } }).heapGrowingPercent).toBe(0);
    expect(resolveBrokerConfig({ cwd: empty, env: {}, flags: { 'server.heap_growing_percent': '300' } }).heapGrowingPercent).toBe(300);
    expect(() => resolveBrokerConfig({ cwd: empty, env: {}, flags: { 'server.heap_growing_percent': '1.5' } })).toThrow(/"server.heap_growing_percent"/);
    expect(heapGrowingFlag(100)).toBe('--heap-growing-percent=100');
    expect(heapGrowingFlag(0)).toBeUndefined();
    expect(() => heapGrowingFlag(-1)).toThrow(RangeError);
  });

  it('the README config table lists every key', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const missing = Object.keys(BROKER_CONFIG_KEYS).filter((key) => !readme.includes(`| \`${key}\` | \``));
    expect(missing).toEqual([]);
    expect(readme).toContain('| `server.heap_reserve_mb` | `32` |');
  });

  it('config/brook.yaml holds exactly the defaults', () => {
    const fromFile = resolveBrokerConfig({ cwd: ROOT, env: {}, configFile: 'config/brook.yaml' });
    const defaults = resolveBrokerConfig({ cwd: ROOT, env: {}, configFile: undefined });
    expect({ ...fromFile, sources: {} }).toEqual({ ...defaults, sources: {} });
  });

  it('layers file < env < flags, with nested YAML maps', () => {
    const file = path.join(empty, 'b.yaml');
    fs.writeFileSync(file, 'limits:\n  max_wait_ms: 100\n  max_records_per_request: 7\ntopic.flush.policy: never\nmetrics.listen: ""\n');
    const config = resolveBrokerConfig({ cwd: empty, configFile: file, env: { BROOK_LIMITS_MAX_WAIT_MS: '200', BROOK_LOG_LEVEL: 'warn' }, flags: { 'log.level': 'debug' } });
    expect(config.limits.maxWaitMs).toBe(200);
    expect(config.limits.maxRecordsPerRequest).toBe(7);
    expect(config.topicDefaults.flushPolicy).toBe('never');
    expect(config.metricsListen).toBeNull();
    expect(config.logLevel).toBe('debug');
    expect(config.sources['limits.max_wait_ms']).toBe('environment variable BROOK_LIMITS_MAX_WAIT_MS');
  });

  it.each([
    [{ flags: { 'no.such': '1' } }, /unknown config key "no.such"/],
    [{ flags: { listen: 'nowhere' } }, /"listen".*HOST:PORT/],
    [{ env: { BROOK_LIMITS_MAX_WAIT_MS: '-1' } }, /"limits.max_wait_ms" \(environment variable BROOK_LIMITS_MAX_WAIT_MS\)/],
    [{ flags: { 'topic.flush.policy': 'sometimes' } }, /"topic.flush.policy".*always, interval, never/],
    [{ flags: { 'group.min.session.timeout.ms': '5000', 'group.max.session.timeout.ms': '4000' } }, /group.min.session.timeout.ms/],
    [{ flags: { 'limits.max_request_bytes': '4096' } }, /limits.max_request_bytes.*topic.max.message.bytes/],
    [{ configFile: 'missing.yaml' }, /cannot read config file/],
  ])('refuses %j with a one-line reason naming the key', (sources, message) => {
    let error: unknown;
    try {
      resolveBrokerConfig({ cwd: empty, env: {}, ...sources });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  it('refuses unknown keys in the file', () => {
    const file = path.join(empty, 'bad.yaml');
    fs.writeFileSync(file, 'limits:\n  max_wait: 1\n');
    expect(() => resolveBrokerConfig({ cwd: empty, env: {}, configFile: file })).toThrow(/unknown config key "limits.max_wait"/);
  });
});
