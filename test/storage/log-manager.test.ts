import fs from 'fs';
import path from 'path';
import { ManualClock } from '../../src/common/clock';
import { isBrookError } from '../../src/common/errors';
import { LogManager, nodeFileSystem, validateTopicName, type StorageFileSystem } from '../../src/storage';
import { resolveUnder } from '../../src/storage/topic-name';
import { decodeAll, makeBatch, makeTempDir, removeDir } from '../helpers/storage';

let dir: string;
let manager: LogManager | undefined;
const NO_TIMERS = { retentionCheckIntervalMs: 0, recoveryCheckpointIntervalMs: 0, flushCheckIntervalMs: 0 };

beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await manager?.close().catch(() => undefined);
  manager = undefined;
  await removeDir(dir);
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return isBrookError(e) ? e.code : `not a BrookError: ${String(e)}`;
  }
  return undefined;
}

function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of fs.readdirSync(d)) {
      const full = path.join(d, name);
      out.push(path.relative(root, full));
      if (fs.statSync(full).isDirectory()) walk(full);
    }
  };
  walk(root);
  return out.sort();
}

describe('LogManager topics', () => {
  it('creates, describes, persists and reloads topics with their overrides', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    manager = await LogManager.open({ dataDir: dir, clock, ...NO_TIMERS });
    const created = await manager.createTopic('orders', 3, { 'retention.ms': '1000' });
    expect(created).toMatchObject({ name: 'orders', partitionCount: 3, overrides: { 'retention.ms': '1000' }, internal: false, createdAtMs: clock.nowMs() });
    expect(created.config.retentionMs).toBe(1000);
    expect(created.config.segmentBytes).toBe(1_073_741_824);
    expect(Object.isFrozen(created.config)).toBe(true);
    await manager.partition('orders', 2).append(makeBatch(4));
    const described = manager.describeTopic('orders');
    expect(described.partitions).toEqual([
      { partition: 0, logStartOffset: 0, highWatermark: 0, logEndOffset: 0, sizeBytes: 0, segmentCount: 1 },
      { partition: 1, logStartOffset: 0, highWatermark: 0, logEndOffset: 0, sizeBytes: 0, segmentCount: 1 },
      { partition: 2, logStartOffset: 0, highWatermark: 4, logEndOffset: 4, sizeBytes: expect.any(Number), segmentCount: 1 },
    ]);
    expect(fs.existsSync(path.join(dir, 'topics', 'orders', '2', '00000000000000000000.log'))).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'topics', 'orders', 'topic.json'), 'utf8')).toMatch(/^crc32:[0-9a-f]{8}\n\{/);
    await manager.close();
    expect(fs.existsSync(path.join(dir, '.clean-shutdown'))).toBe(true);

    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    expect(fs.existsSync(path.join(dir, '.clean-shutdown'))).toBe(false);
    expect(manager.listTopics().map((t) => t.name)).toEqual(['orders']);
    expect(manager.describeTopic('orders').config.retentionMs).toBe(1000);
    expect(decodeAll((await manager.partition('orders', 2).read(0, 1000)).data)).toHaveLength(4);
  });

  it('refuses a duplicate topic, unknown topics and partitions with typed errors', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    await manager.createTopic('a', 1);
    expect(await codeOf(manager.createTopic('a', 2))).toBe('TOPIC_ALREADY_EXISTS');
    expect(await codeOf(() => manager!.partition('nope', 0))).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(() => manager!.partition('a', 1))).toBe('UNKNOWN_PARTITION');
    expect(await codeOf(() => manager!.partition('a', -1))).toBe('UNKNOWN_PARTITION');
    expect(await codeOf(() => manager!.describeTopic('nope'))).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(manager.deleteTopic('nope'))).toBe('UNKNOWN_TOPIC');
    expect(await codeOf(manager.createTopic('b', 0))).toBe('INVALID_PARTITIONS');
    expect(await codeOf(manager.createTopic('b', 1.5))).toBe('INVALID_PARTITIONS');
    expect(await codeOf(manager.createTopic('b', 1, { 'segment.bytes': '10' }))).toBe('INVALID_CONFIG');
    expect(manager.hasTopic('b')).toBe(false);
  });

  it.each([
    ['..'],
    ['.'],
    [''],
    ['a/b'],
    ['../escape'],
    ['/etc'],
    ['x'.repeat(250)],
    ['spaces not allowed'],
    ['naïve'],
    ['a\\b'],
  ])('refuses the topic name %j and writes nothing', async (name) => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    const before = listTree(dir);
    expect(await codeOf(manager.createTopic(name, 1))).toBe('INVALID_TOPIC_NAME');
    expect(listTree(dir)).toEqual(before);
    expect(await codeOf(() => validateTopicName(name))).toBe('INVALID_TOPIC_NAME');
  });

  it('accepts 249-character names and the full character set', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    await manager.createTopic('x'.repeat(249), 1);
    await manager.createTopic('A-z_0.9', 1);
    expect(manager.listTopics()).toHaveLength(2);
  });

  it('keeps "__" names for internal topics and hides them from listTopics by default', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    expect(await codeOf(manager.createTopic('__consumer_offsets', 1))).toBe('INVALID_TOPIC_NAME');
    expect(await codeOf(manager.createTopic('plain', 1, {}, { internal: true }))).toBe('INVALID_TOPIC_NAME');
    await manager.createTopic('__consumer_offsets', 2, {}, { internal: true });
    await manager.createTopic('visible', 1);
    expect(manager.listTopics().map((t) => t.name)).toEqual(['visible']);
    expect(manager.listTopics({ includeInternal: true }).map((t) => t.name)).toEqual(['__consumer_offsets', 'visible']);
    expect(manager.describeTopic('__consumer_offsets').internal).toBe(true);
  });

  it('never resolves a path outside the data directory', () => {
    expect(() => resolveUnder(dir, '..', 'x')).toThrow(/outside the data directory/);
    expect(() => resolveUnder(dir, '/etc/passwd')).toThrow(/outside the data directory/);
    expect(resolveUnder(dir, 'topics', 'a')).toBe(path.join(dir, 'topics', 'a'));
  });

  it('alters config (set and remove), applying it to the partitions', async () => {
    manager = await LogManager.open({ dataDir: dir, defaultTopicConfig: { retentionMs: 5000 }, ...NO_TIMERS });
    await manager.createTopic('t', 2, { 'max.message.bytes': '100' });
    expect(await codeOf(manager.partition('t', 0).append(makeBatch(1, { valueBytes: 200 })))).toBe('RECORD_TOO_LARGE');
    const altered = await manager.alterTopicConfig('t', { 'max.message.bytes': '5000', 'flush.policy': 'never' });
    expect(altered.overrides).toEqual({ 'max.message.bytes': '5000', 'flush.policy': 'never' });
    expect(altered.config.retentionMs).toBe(5000); // broker default
    expect(manager.partition('t', 1).config.flushPolicy).toBe('never');
    await manager.partition('t', 0).append(makeBatch(1, { valueBytes: 200 }));
    const removed = await manager.alterTopicConfig('t', {}, ['flush.policy']);
    expect(removed.overrides).toEqual({ 'max.message.bytes': '5000' });
    expect(await codeOf(manager.alterTopicConfig('t', { 'bogus.key': '1' }))).toBe('INVALID_CONFIG');
    expect(await codeOf(manager.alterTopicConfig('t', {}, ['bogus.key']))).toBe('INVALID_CONFIG');
    expect(manager.describeTopic('t').overrides).toEqual({ 'max.message.bytes': '5000' });
  });

  it('refuses a max.message.bytes over the broker limit at create and alter, naming the key and the limit', async () => {
    manager = await LogManager.open({ dataDir: dir, maxMessageBytesLimit: { bytes: 10_000, reason: 'the test limit' }, ...NO_TIMERS });
    const created = manager.createTopic('t', 1, { 'max.message.bytes': '10001' });
    await expect(created).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringMatching(/"max\.message\.bytes": expected at most 10000, the test limit/) });
    expect(manager.hasTopic('t')).toBe(false);
    await manager.createTopic('t', 1, { 'max.message.bytes': '10000' });
    await expect(manager.alterTopicConfig('t', { 'max.message.bytes': '20000' })).rejects.toMatchObject({ code: 'INVALID_CONFIG' });
    expect(manager.describeTopic('t').config.maxMessageBytes).toBe(10_000);
  });

  it('a clean reopen leaves unchanged partition checkpoints alone and opens partitions several at a time', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    await manager.createTopic('t', 40);
    for (let p = 0; p < 40; p++) await manager.partition('t', p).append(makeBatch(2));
    await manager.close();
    const checkpoint = (p: number): string => path.join(dir, 'topics', 't', String(p), 'partition.checkpoint');
    const inodes = [...Array(40).keys()].map((p) => fs.statSync(checkpoint(p)).ino);

    // Counts the partition directories being read at the same moment.
    let inFlight = 0;
    let mostInFlight = 0;
    const counting: StorageFileSystem = {
      ...nodeFileSystem,
      readdir: async (d: string) => {
        inFlight++;
        mostInFlight = Math.max(mostInFlight, inFlight);
        try {
          await new Promise((r) => setTimeout(r, 5));
          return await nodeFileSystem.readdir(d);
        } finally {
          inFlight--;
        }
      },
    };
    manager = await LogManager.open({ dataDir: dir, fileSystem: counting, ...NO_TIMERS });
    expect([...Array(40).keys()].map((p) => fs.statSync(checkpoint(p)).ino)).toEqual(inodes); // rewriting renames a new file in
    expect(mostInFlight).toBeGreaterThan(1);
    expect(mostInFlight).toBeLessThanOrEqual(16);
    expect(manager.describeTopic('t').partitions!.map((p) => p.highWatermark)).toEqual(Array(40).fill(2));
  });

  it('increases the partition count only', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    await manager.createTopic('t', 2);
    const grown = await manager.createPartitions('t', 5);
    expect(grown.partitionCount).toBe(5);
    expect(grown.partitions).toHaveLength(5);
    await manager.partition('t', 4).append(makeBatch(1));
    expect(await codeOf(manager.createPartitions('t', 5))).toBe('INVALID_PARTITIONS');
    expect(await codeOf(manager.createPartitions('t', 3))).toBe('INVALID_PARTITIONS');
    await manager.close();
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    expect(manager.describeTopic('t').partitionCount).toBe(5);
    expect(manager.partition('t', 4).highWatermark).toBe(1);
  });

  it('deletes a topic and its files', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    await manager.createTopic('gone', 2);
    await manager.partition('gone', 0).append(makeBatch(3));
    await manager.deleteTopic('gone');
    expect(manager.hasTopic('gone')).toBe(false);
    expect(fs.existsSync(path.join(dir, 'topics', 'gone'))).toBe(false);
    await manager.createTopic('gone', 1);
    expect(manager.partition('gone', 0).highWatermark).toBe(0);
  });

  it('removes a topic whose creation did not finish (no topic.json)', async () => {
    fs.mkdirSync(path.join(dir, 'topics', 'half', '0'), { recursive: true });
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    expect(manager.hasTopic('half')).toBe(false);
    expect(fs.existsSync(path.join(dir, 'topics', 'half'))).toBe(false);
  });

  it('refuses to load a topic.json that fails its checksum', async () => {
    manager = await LogManager.open({ dataDir: dir, ...NO_TIMERS });
    await manager.createTopic('t', 1);
    await manager.close();
    manager = undefined;
    const file = path.join(dir, 'topics', 't', 'topic.json');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('"partitionCount":1', '"partitionCount":7'));
    expect(await codeOf(LogManager.open({ dataDir: dir, ...NO_TIMERS }))).toBe('CORRUPT_DATA');
  });

  it('applies retention from its timer-driven entry point', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    manager = await LogManager.open({ dataDir: dir, clock, ...NO_TIMERS });
    await manager.createTopic('t', 1, { 'segment.bytes': '1024', 'retention.ms': '1000' });
    const log = manager.partition('t', 0);
    for (let i = 0; i < 10; i++) await log.append(makeBatch(1, { valueBytes: 300, timestampMs: clock.nowMs() }));
    clock.advance(1001);
    expect(await manager.enforceRetention()).toBeGreaterThan(0);
    expect(log.segmentCount).toBe(1);
    expect(manager.describeTopic('t').partitions?.[0].logStartOffset).toBe(log.logStartOffset);
  });
});
