/**
 * All topics and partitions under one data directory.
 *
 *   <data-dir>/.clean-shutdown               present only while the broker is stopped cleanly
 *   <data-dir>/topics/<topic>/topic.json     topic metadata (checksummed-file.ts format):
 *                                            { version, name, partitionCount, overrides, internal, createdAtMs }
 *   <data-dir>/topics/<topic>/<partition>/   one PartitionLog (segments + partition.checkpoint)
 *   <data-dir>/deleted/                      topics being deleted; emptied at start-up
 *
 * A topic directory without topic.json is a creation that did not finish
 * (topic.json is written last) and is removed at start-up. Only the
 * overrides are stored; the effective config is recomputed from the broker
 * defaults at every start, as Kafka does.
 *
 * Concurrency: admin calls (create/delete/alter/createPartitions/close) run
 * one at a time through `adminChain`; reads of the topic map
 * (`partition`, `describeTopic`, `listTopics`, `hasTopic`) are synchronous
 * and may run at any time. Maintenance timers (retention, interval flush,
 * recovery checkpoints) run each partition's maintenance calls one at a time.
 */
import path from 'path';
import { systemClock, type Clock } from '../common/clock';
import { BrookError, isBrookError } from '../common/errors';
import { readChecksummed, writeChecksummedAtomically } from './checksummed-file';
import { nodeFileSystem, type StorageFileSystem } from './file-system';
import { silentLogger, type StorageLogger } from './logger';
import { PartitionLog } from './partition-log';
import { parseTopicConfig, topicConfigWith, TOPIC_CONFIG_KEYS, type TopicConfig } from './topic-config';
import { isInternalTopicName, resolveUnder, validateTopicName } from './topic-name';

export const CLEAN_SHUTDOWN_FILE = '.clean-shutdown';
export const TOPIC_METADATA_FILE = 'topic.json';
/** Kafka allows far more; a bound keeps a typo from creating a million directories. */
export const MAX_PARTITIONS = 10_000;
/**
 * Partitions opened concurrently at start-up. 2,000 partitions (2 records
 * each) on a 2-core box: see docs/reliability.md for the start-up times;
 * beyond ~16 the disk queue, not the count, sets the pace, and each open
 * holds a few file handles.
 */
const PARTITIONS_OPENED_AT_ONCE = 16;

export interface LogManagerOptions {
  readonly dataDir: string;
  readonly clock?: Clock;
  readonly logger?: StorageLogger;
  /** Broker-wide topic defaults, over DEFAULT_TOPIC_CONFIG. */
  readonly defaultTopicConfig?: Partial<TopicConfig>;
  /** How often retention runs (default 300000 ms, Kafka's log.retention.check.interval.ms); 0 disables the timer. */
  readonly retentionCheckIntervalMs?: number;
  /** How often recovery checkpoints are written (default 60000 ms, Kafka's); 0 disables the timer. */
  readonly recoveryCheckpointIntervalMs?: number;
  /** How often flush.policy=interval partitions are checked (default 100 ms); 0 disables the timer. */
  readonly flushCheckIntervalMs?: number;
  readonly fileSystem?: StorageFileSystem;
  /**
   * Largest max.message.bytes a topic may set (CreateTopic, AlterTopicConfig),
   * and `reason`, what sets it, for the INVALID_CONFIG message; the broker
   * derives it from its request size limit. Default: no limit beyond the key's own range.
   */
  readonly maxMessageBytesLimit?: { readonly bytes: number; readonly reason: string };
}

export interface PartitionDescription {
  readonly partition: number;
  readonly logStartOffset: number;
  readonly highWatermark: number;
  readonly logEndOffset: number;
  readonly sizeBytes: number;
  readonly segmentCount: number;
}

export interface TopicDescription {
  readonly name: string;
  readonly partitionCount: number;
  /** Every key, defaults included. */
  readonly config: TopicConfig;
  /** Only the keys set on this topic, by Kafka name. */
  readonly overrides: Readonly<Record<string, string>>;
  readonly internal: boolean;
  readonly createdAtMs: number;
  readonly partitions?: readonly PartitionDescription[];
}

interface TopicMetadata {
  readonly version: 1;
  readonly name: string;
  readonly partitionCount: number;
  readonly overrides: Record<string, string>;
  readonly internal: boolean;
  readonly createdAtMs: number;
}

interface Topic {
  metadata: TopicMetadata;
  config: TopicConfig;
  partitions: PartitionLog[];
}

export class LogManager {
  private readonly topics = new Map<string, Topic>();
  private readonly timers: NodeJS.Timeout[] = [];
  private adminChain: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly running = new Set<Promise<unknown>>();

  private constructor(
    readonly dataDir: string,
    private readonly topicsDir: string,
    private readonly clock: Clock,
    private readonly logger: StorageLogger,
    private readonly fileSystem: StorageFileSystem,
    private readonly defaults: TopicConfig,
    private readonly maxMessageBytesLimit: LogManagerOptions['maxMessageBytesLimit'],
  ) {}

  /** Loads every topic, recovering partitions after an unclean stop, and starts the maintenance timers. */
  static async open(options: LogManagerOptions): Promise<LogManager> {
    const dataDir = path.resolve(options.dataDir);
    const fs = options.fileSystem ?? nodeFileSystem;
    const logger = options.logger ?? silentLogger;
    const defaults = topicConfigWith(options.defaultTopicConfig);
    const manager = new LogManager(dataDir, resolveUnder(dataDir, 'topics'), options.clock ?? systemClock, logger, fs, defaults, options.maxMessageBytesLimit);
    await fs.mkdir(manager.topicsDir);
    const deletedDir = resolveUnder(dataDir, 'deleted');
    await fs.removeTree(deletedDir);
    const marker = resolveUnder(dataDir, CLEAN_SHUTDOWN_FILE);
    const clean = await fs.exists(marker);
    if (!clean) logger.warn({ dataDir }, 'no clean-shutdown marker: recovering partitions from their checkpoints');
    await manager.loadTopics(clean);
    // From here on the directory is in use: a crash must trigger recovery.
    if (clean) {
      await fs.unlink(marker);
      await fs.syncDirectory(dataDir);
    }
    manager.startTimers(options);
    return manager;
  }

  /**
   * Reads every topic's metadata, then opens all partitions, at most
   * PARTITIONS_OPENED_AT_ONCE at a time: opening one is a handful of small
   * reads (and, after an unclean stop, a recovery scan and fsyncs) that
   * mostly wait on the disk, so overlapping them shortens start-up.
   */
  private async loadTopics(clean: boolean): Promise<void> {
    const loaded: Array<{ name: string; metadata: TopicMetadata; config: TopicConfig; partitions: PartitionLog[] }> = [];
    for (const name of (await this.fileSystem.readdir(this.topicsDir)).sort()) {
      try {
        validateTopicName(name);
      } catch {
        this.logger.warn({ dir: path.join(this.topicsDir, name) }, 'ignoring a directory whose name is not a topic name');
        continue;
      }
      const topicDir = this.topicDir(name);
      const metadataFile = path.join(topicDir, TOPIC_METADATA_FILE);
      if (!(await this.fileSystem.exists(metadataFile))) {
        this.logger.warn({ topic: name }, 'removing a topic whose creation did not finish (no topic.json)');
        await this.fileSystem.removeTree(topicDir);
        continue;
      }
      const metadata = parseMetadata(await readChecksummed(this.fileSystem, metadataFile), metadataFile, name);
      const config = parseTopicConfig(metadata.overrides, this.defaults);
      loaded.push({ name, metadata, config, partitions: new Array<PartitionLog>(metadata.partitionCount) });
    }
    const opens = loaded.flatMap((topic) => [...Array(topic.metadata.partitionCount).keys()].map((p) => ({ topic, p })));
    await forEachAtMost(PARTITIONS_OPENED_AT_ONCE, opens, async ({ topic, p }) => {
      topic.partitions[p] = await this.openPartition(topic.name, p, topic.config, clean);
    });
    for (const { name, metadata, config, partitions } of loaded) this.topics.set(name, { metadata, config, partitions });
  }

  private startTimers(options: LogManagerOptions): void {
    const every = (ms: number | undefined, fallback: number, task: () => Promise<unknown>): void => {
      const interval = ms ?? fallback;
      if (interval <= 0) return;
      const timer = setInterval(() => this.track(task()), interval);
      timer.unref();
      this.timers.push(timer);
    };
    every(options.retentionCheckIntervalMs, 300_000, () => this.enforceRetention());
    every(options.recoveryCheckpointIntervalMs, 60_000, () => this.checkpointAll());
    every(options.flushCheckIntervalMs, 100, () => this.flushDue());
  }

  /** Runs a background task, logging (not throwing) its failure, so close() can wait for it. */
  private track(task: Promise<unknown>): void {
    const tracked = task.catch((e) => this.logger.error({ err: e }, 'storage maintenance failed')).finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  private topicDir(name: string): string {
    return resolveUnder(this.topicsDir, validateTopicName(name));
  }

  private openPartition(topic: string, partition: number, config: TopicConfig, clean: boolean): Promise<PartitionLog> {
    return PartitionLog.open({
      dir: resolveUnder(this.topicDir(topic), String(partition)),
      topic,
      partition,
      config,
      clock: this.clock,
      logger: this.logger,
      fileSystem: this.fileSystem,
      cleanShutdown: clean,
    });
  }

  private admin<T>(task: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new BrookError('SHUTTING_DOWN', 'the log manager is closed');
      return task();
    };
    const result = this.adminChain.then(run, run);
    this.adminChain = result.catch(() => undefined);
    return result;
  }

  private getTopic(name: string): Topic {
    const topic = typeof name === 'string' ? this.topics.get(name) : undefined;
    if (!topic) throw new BrookError('UNKNOWN_TOPIC', `topic ${JSON.stringify(name)} does not exist`, { topic: String(name) });
    return topic;
  }

  /** parseTopicConfig, plus the broker's cap on max.message.bytes for a topic being created or altered. */
  private parseConfig(overrides: Record<string, string>, topic: string): TopicConfig {
    const config = parseTopicConfig(overrides, this.defaults);
    const limit = this.maxMessageBytesLimit;
    if (limit && config.maxMessageBytes > limit.bytes) {
      throw new BrookError(
        'INVALID_CONFIG',
        `invalid value "${config.maxMessageBytes}" for topic config "max.message.bytes": expected at most ${limit.bytes}, ${limit.reason}`,
        { topic },
      );
    }
    return config;
  }

  private async writeMetadata(metadata: TopicMetadata): Promise<void> {
    await writeChecksummedAtomically(this.fileSystem, path.join(this.topicDir(metadata.name), TOPIC_METADATA_FILE), metadata);
  }

  // ------------------------------------------------------------- admin API

  /** Creates a topic; names starting "__" need `internal: true`. */
  createTopic(name: string, partitions: number, config: Record<string, string> = {}, options: { internal?: boolean } = {}): Promise<TopicDescription> {
    return this.admin(async () => {
      validateTopicName(name);
      const internal = options.internal === true;
      if (isInternalTopicName(name) !== internal) {
        throw new BrookError('INVALID_TOPIC_NAME', internal ? `internal topic names start with "__", got ${JSON.stringify(name)}` : `topic names starting with "__" are reserved for internal topics: ${JSON.stringify(name)}`, { topic: name });
      }
      checkPartitionCount(partitions, 1, name);
      const topicConfig = this.parseConfig(config, name);
      if (this.topics.has(name)) throw new BrookError('TOPIC_ALREADY_EXISTS', `topic ${JSON.stringify(name)} already exists`, { topic: name });
      const dir = this.topicDir(name);
      if (await this.fileSystem.exists(dir)) await this.fileSystem.removeTree(dir); // leftover of an unfinished creation
      await this.fileSystem.mkdir(dir);
      const logs: PartitionLog[] = [];
      try {
        for (let p = 0; p < partitions; p++) logs.push(await this.openPartition(name, p, topicConfig, true));
        const metadata: TopicMetadata = { version: 1, name, partitionCount: partitions, overrides: { ...config }, internal, createdAtMs: this.clock.nowMs() };
        await this.writeMetadata(metadata);
        await this.fileSystem.syncDirectory(this.topicsDir);
        this.topics.set(name, { metadata, config: topicConfig, partitions: logs });
        this.logger.info({ topic: name, partitions, overrides: config }, 'created topic');
        return this.describe(name, true);
      } catch (e) {
        for (const log of logs) await log.closeForDeletion().catch(() => undefined);
        await this.fileSystem.removeTree(dir).catch(() => undefined);
        throw e;
      }
    });
  }

  deleteTopic(name: string): Promise<void> {
    return this.admin(async () => {
      const topic = this.getTopic(name);
      this.topics.delete(name);
      for (const log of topic.partitions) await log.closeForDeletion();
      const deletedDir = resolveUnder(this.dataDir, 'deleted');
      await this.fileSystem.mkdir(deletedDir);
      const grave = resolveUnder(deletedDir, `${name}.${this.clock.nowMs()}`);
      await this.fileSystem.rename(this.topicDir(name), grave);
      await this.fileSystem.syncDirectory(this.topicsDir);
      await this.fileSystem.removeTree(grave);
      this.logger.info({ topic: name }, 'deleted topic');
    });
  }

  alterTopicConfig(name: string, set: Record<string, string>, remove: string[] = []): Promise<TopicDescription> {
    return this.admin(async () => {
      const topic = this.getTopic(name);
      for (const key of remove) {
        if (!Object.prototype.hasOwnProperty.call(TOPIC_CONFIG_KEYS, key)) throw new BrookError('INVALID_CONFIG', `cannot remove unknown topic config "${key}"`, { topic: name });
      }
      const overrides: Record<string, string> = { ...topic.metadata.overrides, ...set };
      for (const key of remove) delete overrides[key];
      const config = this.parseConfig(overrides, name);
      const metadata: TopicMetadata = { ...topic.metadata, overrides };
      await this.writeMetadata(metadata);
      topic.metadata = metadata;
      topic.config = config;
      for (const log of topic.partitions) log.updateConfig(config);
      this.logger.info({ topic: name, overrides }, 'altered topic config');
      return this.describe(name, true);
    });
  }

  /** Raises the partition count to `totalCount`; INVALID_PARTITIONS unless it is larger. */
  createPartitions(name: string, totalCount: number): Promise<TopicDescription> {
    return this.admin(async () => {
      const topic = this.getTopic(name);
      const current = topic.metadata.partitionCount;
      checkPartitionCount(totalCount, current + 1, name, `topic ${name} has ${current} partitions; the new count must be larger`);
      const added: PartitionLog[] = [];
      for (let p = current; p < totalCount; p++) added.push(await this.openPartition(name, p, topic.config, true));
      const metadata: TopicMetadata = { ...topic.metadata, partitionCount: totalCount };
      await this.writeMetadata(metadata);
      topic.metadata = metadata;
      topic.partitions = [...topic.partitions, ...added];
      return this.describe(name, true);
    });
  }

  listTopics(options: { includeInternal?: boolean } = {}): TopicDescription[] {
    const out: TopicDescription[] = [];
    for (const name of [...this.topics.keys()].sort()) {
      const topic = this.topics.get(name) as Topic;
      if (topic.metadata.internal && !options.includeInternal) continue;
      out.push(this.describe(name, false));
    }
    return out;
  }

  describeTopic(name: string): TopicDescription {
    return this.describe(name, true);
  }

  private describe(name: string, withPartitions: boolean): TopicDescription {
    const topic = this.getTopic(name);
    const m = topic.metadata;
    const description: TopicDescription = {
      name: m.name,
      partitionCount: m.partitionCount,
      config: topic.config,
      overrides: Object.freeze({ ...m.overrides }),
      internal: m.internal,
      createdAtMs: m.createdAtMs,
      ...(withPartitions
        ? {
            partitions: topic.partitions.map((log) => ({
              partition: log.partition,
              logStartOffset: log.logStartOffset,
              highWatermark: log.highWatermark,
              logEndOffset: log.logEndOffset,
              sizeBytes: log.sizeBytes,
              segmentCount: log.segmentCount,
            })),
          }
        : {}),
    };
    return description;
  }

  hasTopic(name: string): boolean {
    return this.topics.has(name);
  }

  /** UNKNOWN_TOPIC / UNKNOWN_PARTITION. */
  partition(topic: string, partition: number): PartitionLog {
    const t = this.getTopic(topic);
    const log = Number.isInteger(partition) ? t.partitions[partition] : undefined;
    if (!log) {
      throw new BrookError('UNKNOWN_PARTITION', `topic ${topic} has no partition ${partition} (it has ${t.partitions.length}: 0-${t.partitions.length - 1})`, { topic, partition });
    }
    return log;
  }

  private allPartitions(): PartitionLog[] {
    const out: PartitionLog[] = [];
    for (const topic of this.topics.values()) out.push(...topic.partitions);
    return out;
  }

  // ------------------------------------------------------------ maintenance

  /** Applies retention to every partition; returns how many segments were deleted. */
  async enforceRetention(): Promise<number> {
    let deleted = 0;
    for (const log of this.allPartitions()) {
      try {
        deleted += await log.enforceRetention();
      } catch (e) {
        if (!isBrookError(e, 'SHUTTING_DOWN')) this.logger.error({ topic: log.topic, partition: log.partition, err: e }, 'retention failed');
      }
    }
    return deleted;
  }

  /** Flushes flush.policy=interval partitions whose interval has passed. */
  async flushDue(): Promise<void> {
    for (const log of this.allPartitions()) await log.maybeFlush();
  }

  /** Writes every partition's recovery checkpoint (after flushing what interval/never left unflushed). */
  async checkpointAll(): Promise<void> {
    for (const log of this.allPartitions()) {
      if (log.config.flushPolicy === 'interval') await log.flush();
      await log.writeCheckpoint();
    }
  }

  /** Flushes everything, writes checkpoints and leaves the clean-shutdown marker. */
  close(): Promise<void> {
    return this.admin(async () => {
      this.closed = true;
      for (const timer of this.timers) clearInterval(timer);
      await Promise.all([...this.running]);
      for (const log of this.allPartitions()) await log.close();
      const marker = resolveUnder(this.dataDir, CLEAN_SHUTDOWN_FILE);
      await this.fileSystem.writeFileSync(marker, Buffer.from(`${new Date(this.clock.nowMs()).toISOString()}\n`));
      await this.fileSystem.syncDirectory(this.dataDir);
      this.logger.info({ dataDir: this.dataDir }, 'storage closed cleanly');
    });
  }
}

/**
 * Runs `task` over `items` with at most `limit` in flight; rejects with the
 * first failure once the tasks already started have settled.
 */
async function forEachAtMost<T>(limit: number, items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const item = items[next++];
      try {
        await task(item);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

function checkPartitionCount(count: number, min: number, topic: string, message?: string): void {
  if (!Number.isInteger(count) || count < min || count > MAX_PARTITIONS) {
    throw new BrookError('INVALID_PARTITIONS', message ?? `partition count must be an integer in [${min}, ${MAX_PARTITIONS}], got ${count}`, { topic });
  }
}

function parseMetadata(value: unknown, file: string, dirName: string): TopicMetadata {
  const m = value as Partial<TopicMetadata> | null;
  const ok =
    m !== null &&
    typeof m === 'object' &&
    m.version === 1 &&
    m.name === dirName &&
    Number.isInteger(m.partitionCount) &&
    (m.partitionCount as number) >= 1 &&
    typeof m.overrides === 'object' &&
    m.overrides !== null &&
    typeof m.internal === 'boolean' &&
    typeof m.createdAtMs === 'number';
  if (!ok) throw new BrookError('CORRUPT_DATA', `${file}: not a valid topic metadata document for ${dirName}`, { file, topic: dirName });
  return m as TopicMetadata;
}
