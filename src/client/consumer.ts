/**
 * The group Consumer: runs Brook's broker-side group protocol (KIP-848-like)
 * for its user, who reads records with `for await`.
 *
 *   const consumer = new Consumer({ addr }, { groupId: 'billing' });
 *   consumer.subscribe(['orders']);
 *   for await (const record of consumer) handle(record);
 *
 * Protocol. The consumer heartbeats every `heartbeat_interval_ms` (from the
 * broker) with its subscription and the partitions it owns; each reply
 * carries its full target assignment. A partition in the target but not
 * owned is taken: its start is the group's committed offset, else
 * `offsetReset`, then `onAssigned` runs and fetching starts. A partition
 * owned but not in the target is released: fetching stops, buffered records
 * are dropped, the record being processed (if it is from that partition) is
 * waited for, the processed offset is committed, `onRevoked` runs, and only
 * then does the next heartbeat (sent at once) leave it out of `owned` — so
 * the next owner starts exactly after the last processed record.
 *
 * Processed. A record counts as processed once the loop asks for the next
 * one (or on close()); commits — automatic every `autoCommitIntervalMs`,
 * manual with `commit()`, and on release — carry one past the last processed
 * offset of each partition, as Kafka does.
 *
 * Fencing. If the broker answers UNKNOWN_MEMBER_ID or STALE_MEMBER_EPOCH (the
 * session expired), the consumer has lost its partitions: it drops them
 * without committing (another member may own them now), calls `onRevoked`,
 * and joins again.
 *
 * Reading. Each owned partition has a PartitionReader (by default
 * streaming: the broker sends ahead while records are processed, up to
 * `maxBufferedBytes` per partition) and a fetch loop that takes its records
 * whenever the partition's buffer here is empty. A released or lost
 * partition's reader is closed.
 *
 * Concurrency: the heartbeat loop, one fetch loop per owned partition, the
 * auto-commit timer and the user's iterator interleave on the event loop;
 * state changes happen synchronously between awaits, and a release holds no
 * lock the heartbeat loop waits on, so heartbeats continue while a slow
 * record is processed.
 */
import { BrookError, isBrookError } from '../common/errors';
import type { pb } from '../protocol';
import { Connection } from './connection';
import { consumerOptions, type ConnectionOptions, type ConsumerOptions } from './options';
import { PartitionReader, resolveOffset } from './partition-reader';
import { backoffDelayMs, isRetriable, sleep } from './retry';
import { partitionKey, type ConsumedRecord, type TopicPartition } from './types';

export type PartitionsHook = (partitions: TopicPartition[]) => void | Promise<void>;

export interface ConsumerHooks {
  /** Runs after partitions are taken, before their first record is yielded. */
  onAssigned?: PartitionsHook;
  /** Runs after released partitions' offsets were committed (or after they were lost), before the broker hears they are free. */
  onRevoked?: PartitionsHook;
  /** Errors the consumer recovered from (retries, lost partitions); default: none reported. */
  onError?: (error: BrookError) => void;
}

interface OwnedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly reader: PartitionReader;
  /** One past the last processed record; undefined until something is processed. */
  processed: number | undefined;
  committed: number | undefined;
  /** The partition's last fetched records; `head` is the next one to hand out. */
  buffer: ConsumedRecord[];
  head: number;
  /** Wakes the partition's fetch loop: its buffer ran out, it was resumed, sought, released or the consumer stops. */
  readonly drained: Signal;
  paused: boolean;
  releasing: boolean;
  fetchAbort: AbortController;
}

/** Ends a partition's fetching: its fetch loop and reader stop, and the loop wakes to see it. */
function stopFetching(p: OwnedPartition): void {
  p.fetchAbort.abort();
  p.reader.close();
  p.drained.notify();
}

/** A promise that many can wait on and one `notify()` wakes. */
class Signal {
  private waiters: Array<() => void> = [];
  wait(timeoutMs?: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (): void => {
        if (timer) clearTimeout(timer);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs !== undefined) timer = setTimeout(done, timeoutMs);
    });
  }
  notify(): void {
    if (this.waiters.length === 0) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

function toTopicPartitions(partitions: Iterable<TopicPartition>): pb.TopicPartitions[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    const list = byTopic.get(topic) ?? [];
    list.push(partition);
    byTopic.set(topic, list);
  }
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list.sort((a, b) => a - b) }));
}

export class Consumer implements AsyncIterable<ConsumedRecord> {
  readonly options: Readonly<ConsumerOptions>;
  readonly connection: Connection;
  private readonly ownsConnection: boolean;
  private readonly hooks: ConsumerHooks;
  private topics: string[] = [];
  private memberId = '';
  private memberEpoch = 0;
  private heartbeatIntervalMs = 3000;
  private readonly owned = new Map<string, OwnedPartition>();
  /** `owned`'s values in order, rebuilt after `owned` changes (read once per record handed out). */
  private ownedList: OwnedPartition[] | undefined;
  /** The record handed to the user and not yet known to be processed, and its partition. */
  private current: ConsumedRecord | undefined;
  private currentOwner: OwnedPartition | undefined;
  /** Joined and given the first assignment (start() resolved). */
  private running = false;
  private readonly progress = new Signal();
  private readonly recordsReady = new Signal();
  private readonly heartbeatNow = new Signal();
  private readonly stop = new AbortController();
  private started: Promise<void> | undefined;
  private heartbeatLoop: Promise<void> | undefined;
  private autoCommitTimer: NodeJS.Timeout | undefined;
  private failure: BrookError | undefined;
  private closing: Promise<void> | undefined;
  private rotation = 0;
  private readonly releases = new Set<Promise<void>>();
  private commitChain: Promise<void> = Promise.resolve();

  constructor(connection: Connection | Partial<ConnectionOptions>, options: Partial<ConsumerOptions> & { groupId: string }, hooks: ConsumerHooks = {}) {
    this.options = consumerOptions(options);
    this.ownsConnection = !(connection instanceof Connection);
    this.connection = connection instanceof Connection ? connection : new Connection(connection);
    this.hooks = hooks;
  }

  /** Sets the topics to consume (replacing any earlier subscription); the broker reassigns on the next heartbeat. */
  subscribe(topics: string | string[]): void {
    const list = Array.isArray(topics) ? topics : [topics];
    if (list.length === 0 || list.some((t) => typeof t !== 'string' || t.length === 0)) {
      throw new BrookError('INVALID_ARGUMENT', 'subscribe() takes one or more topic names');
    }
    this.topics = [...new Set(list)].sort();
    if (this.started) this.heartbeatNow.notify();
  }

  /** The partitions this member owns now. */
  assignment(): TopicPartition[] {
    return [...this.owned.values()].filter((p) => !p.releasing).map(({ topic, partition }) => ({ topic, partition }));
  }

  get groupMemberId(): string {
    return this.memberId;
  }

  /** Joins the group and waits for the first assignment. Called by the iterator if not before. */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new BrookError('CLIENT_CLOSED', 'the consumer is closed', { group: this.options.groupId }));
    if (this.topics.length === 0) return Promise.reject(new BrookError('INVALID_ARGUMENT', 'subscribe() to at least one topic before consuming', { group: this.options.groupId }));
    if (!this.started) {
      this.started = this.heartbeat().then(() => {
        this.running = true;
        this.heartbeatLoop = this.runHeartbeats();
        if (this.options.autoCommit) {
          this.autoCommitTimer = setInterval(() => {
            this.commit().catch((e) => this.report(e));
          }, this.options.autoCommitIntervalMs);
        }
      });
    }
    return this.started;
  }

  private report(e: unknown): void {
    if (this.stop.signal.aborted) return;
    const error = e instanceof BrookError ? e : new BrookError('INTERNAL', String(e), { group: this.options.groupId });
    this.hooks.onError?.(error);
  }

  // --- heartbeats and assignment ---

  private async runHeartbeats(): Promise<void> {
    let failures = 0;
    while (!this.stop.signal.aborted) {
      // shutdown() notifies heartbeatNow after stopping. (A race with a promise that
      // settles only at close would leave one reaction on it per wait.)
      await this.heartbeatNow.wait(this.heartbeatIntervalMs);
      if (this.stop.signal.aborted) return;
      try {
        await this.heartbeat();
        failures = 0;
      } catch (e) {
        if (this.stop.signal.aborted) return;
        this.report(e);
        if (isBrookError(e, 'UNKNOWN_MEMBER_ID') || isBrookError(e, 'STALE_MEMBER_EPOCH') || isBrookError(e, 'FENCED_INSTANCE_ID')) {
          await this.loseAll();
          this.memberId = '';
          this.memberEpoch = 0;
          this.heartbeatNow.notify();
        } else if (isRetriable(e)) {
          await sleep(backoffDelayMs(failures++, this.options.retry), this.stop.signal);
        } else {
          this.fail(e as BrookError);
          return;
        }
      }
    }
  }

  private async heartbeat(): Promise<void> {
    const owned = [...this.owned.values()].map(({ topic, partition }) => ({ topic, partition }));
    const request: pb.HeartbeatRequest = {
      groupId: this.options.groupId,
      memberId: this.memberId,
      memberEpoch: this.memberEpoch,
      topics: this.topics,
      owned: toTopicPartitions(owned),
      sessionTimeoutMs: this.options.sessionTimeoutMs,
    };
    if (this.options.instanceId !== undefined) request.instanceId = this.options.instanceId;
    if (this.options.assignor !== undefined) request.assignor = this.options.assignor;
    const response = await this.connection.heartbeat(request);
    if (this.stop.signal.aborted && this.memberId === '') return;
    this.memberId = response.memberId;
    this.memberEpoch = response.memberEpoch;
    if (response.heartbeatIntervalMs > 0) this.heartbeatIntervalMs = response.heartbeatIntervalMs;
    await this.reconcile(response.assignment);
  }

  private async reconcile(assignment: pb.TopicPartitions__Output[]): Promise<void> {
    const target = new Map<string, TopicPartition>();
    for (const { topic, partitions } of assignment) for (const partition of partitions) target.set(partitionKey(topic, partition), { topic, partition });

    const released: OwnedPartition[] = [];
    for (const [k, owned] of this.owned) if (!target.has(k) && !owned.releasing) released.push(owned);
    if (released.length > 0) {
      const release = this.release(released).finally(() => this.releases.delete(release));
      this.releases.add(release);
    }

    const added = [...target].filter(([k]) => !this.owned.has(k)).map(([, tp]) => tp);
    if (added.length > 0) await this.take(added);
  }

  private async take(partitions: TopicPartition[]): Promise<void> {
    const topics = [...new Set(partitions.map((p) => p.topic))];
    const committed = await this.connection.fetchOffsets({ groupId: this.options.groupId, topics });
    const committedBy = new Map(committed.offsets.map((c) => [partitionKey(c.topic, c.partition), Number(c.offset)]));
    const taken: TopicPartition[] = [];
    for (const { topic, partition } of partitions) {
      const k = partitionKey(topic, partition);
      if (this.owned.has(k)) continue;
      const start = committedBy.get(k);
      const reader = new PartitionReader(this.connection, topic, partition, start ?? this.options.offsetReset, {
        mode: this.options.mode,
        maxBytes: this.options.maxBytes,
        maxBufferedBytes: this.options.maxBufferedBytes,
        maxWaitMs: this.options.maxWaitMs,
        offsetReset: this.options.offsetReset,
        retry: this.options.retry,
      });
      this.owned.set(k, { topic, partition, reader, processed: undefined, committed: start, buffer: [], head: 0, drained: new Signal(), paused: false, releasing: false, fetchAbort: new AbortController() });
      this.ownedList = undefined;
      taken.push({ topic, partition });
    }
    if (taken.length === 0) return;
    try {
      await this.hooks.onAssigned?.(taken);
    } catch (e) {
      this.report(e);
    }
    for (const tp of taken) {
      const owned = this.owned.get(partitionKey(tp.topic, tp.partition));
      if (owned) void this.fetchLoop(owned);
    }
  }

  private async release(partitions: OwnedPartition[]): Promise<void> {
    for (const p of partitions) {
      p.releasing = true;
      p.buffer = [];
      p.head = 0;
      stopFetching(p);
    }
    // Wait for the record in the user's hands if it belongs to a released partition.
    while (this.current && partitions.some((p) => p.topic === this.current!.topic && p.partition === this.current!.partition) && !this.stop.signal.aborted) {
      await this.progress.wait();
    }
    try {
      await this.commitPartitions(partitions);
    } catch (e) {
      this.report(e);
    }
    try {
      await this.hooks.onRevoked?.(partitions.map(({ topic, partition }) => ({ topic, partition })));
    } catch (e) {
      this.report(e);
    }
    for (const p of partitions) this.owned.delete(partitionKey(p.topic, p.partition));
    this.ownedList = undefined;
    this.heartbeatNow.notify();
  }

  /** After fencing: the partitions may already be someone else's, so nothing is committed. */
  private async loseAll(): Promise<void> {
    const lost = [...this.owned.values()];
    for (const p of lost) {
      p.releasing = true;
      stopFetching(p);
    }
    this.owned.clear();
    this.ownedList = undefined;
    if (lost.length > 0) {
      try {
        await this.hooks.onRevoked?.(lost.map(({ topic, partition }) => ({ topic, partition })));
      } catch (e) {
        this.report(e);
      }
    }
  }

  // --- fetching ---

  private async fetchLoop(p: OwnedPartition): Promise<void> {
    let failures = 0;
    const signal = p.fetchAbort.signal;
    while (!signal.aborted && !this.stop.signal.aborted) {
      if (p.paused || p.head < p.buffer.length) {
        // Woken once the buffer runs out (not per record handed out), or on resume, seek, release, stop.
        await p.drained.wait();
        continue;
      }
      try {
        const { records } = await p.reader.fetch(signal);
        failures = 0;
        if (signal.aborted) return;
        if (records.length > 0) {
          p.buffer = records;
          p.head = 0;
          this.recordsReady.notify();
        }
      } catch (e) {
        if (signal.aborted || this.stop.signal.aborted) return;
        if (isRetriable(e)) {
          this.report(e);
          await sleep(backoffDelayMs(failures++, this.options.retry), signal);
        } else {
          this.fail(e as BrookError);
          return;
        }
      }
    }
  }

  private fail(e: BrookError): void {
    if (!this.failure) this.failure = e;
    this.recordsReady.notify();
  }

  // --- the user's side ---

  /** Marks the record in the user's hands as processed. */
  private markProcessed(): void {
    const record = this.current;
    if (!record) return;
    const p = this.currentOwner;
    this.current = undefined;
    this.currentOwner = undefined;
    if (p) p.processed = record.offset + 1;
    this.progress.notify();
  }

  /**
   * The next buffered record, taking partitions in turn: one partition's
   * fetched records are handed out until they run out, then the next
   * partition's. Sets `current`.
   */
  private nextBuffered(): ConsumedRecord | undefined {
    const candidates = (this.ownedList ??= [...this.owned.values()]);
    for (let i = 0; i < candidates.length; i++) {
      const p = candidates[(this.rotation + i) % candidates.length];
      if (p.releasing || p.paused || p.head >= p.buffer.length) continue;
      const record = p.buffer[p.head++];
      if (p.head >= p.buffer.length) {
        p.buffer = [];
        p.head = 0;
        this.rotation = (this.rotation + i + 1) % Math.max(1, candidates.length);
        p.drained.notify(); // its fetch loop fetches again
      }
      this.current = record;
      this.currentOwner = p;
      return record;
    }
    return undefined;
  }

  /** The next record when one is buffered and nothing needs waiting for; undefined otherwise (then next() waits). */
  private nextNow(): ConsumedRecord | undefined {
    if (!this.running || this.closing || this.failure || this.stop.signal.aborted) return undefined;
    this.markProcessed();
    return this.nextBuffered();
  }

  /** The next record, waiting for one; undefined once the consumer is closed. */
  async next(): Promise<ConsumedRecord | undefined> {
    this.markProcessed();
    if (this.closing) return undefined;
    if (!this.running) await this.start();
    for (;;) {
      if (this.failure) throw this.failure;
      // Once close() begins nothing more is handed out: what close() commits is all that was processed.
      if (this.closing || this.stop.signal.aborted) return undefined;
      const record = this.nextBuffered();
      if (record) return record;
      // fail() and shutdown() notify recordsReady, so no race with `stopped` (one reaction left on it per wait).
      await this.recordsReady.wait();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord> {
    try {
      for (;;) {
        // Records already fetched are handed out without a promise each.
        const record = this.nextNow() ?? (await this.next());
        if (record === undefined) return;
        yield record;
      }
    } finally {
      // Leaving the loop (break, return, throw) means the last record was handled.
      this.markProcessed();
    }
  }

  /**
   * Commits offsets: by default one past the last processed record of every
   * owned partition that moved since its last commit; or exactly `offsets`.
   */
  async commit(offsets?: Array<{ topic: string; partition: number; offset: number }>): Promise<void> {
    if (offsets) {
      await this.sendCommit(offsets);
      for (const o of offsets) {
        const p = this.owned.get(partitionKey(o.topic, o.partition));
        if (p) p.committed = o.offset;
      }
      return;
    }
    await this.commitPartitions([...this.owned.values()].filter((p) => !p.releasing));
  }

  private async commitPartitions(partitions: OwnedPartition[]): Promise<void> {
    const due = partitions.filter((p) => p.processed !== undefined && p.processed !== p.committed);
    if (due.length === 0) return;
    const offsets = due.map((p) => ({ topic: p.topic, partition: p.partition, offset: p.processed! }));
    await this.sendCommit(offsets);
    due.forEach((p, i) => (p.committed = offsets[i].offset));
  }

  /**
   * Commits run one at a time, in order: an auto-commit computed earlier must
   * never land after a release's newer commit and move the offset back.
   */
  private sendCommit(offsets: Array<{ topic: string; partition: number; offset: number }>): Promise<void> {
    const run = this.commitChain.then(() => this.sendCommitNow(offsets));
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  private async sendCommitNow(offsets: Array<{ topic: string; partition: number; offset: number }>): Promise<void> {
    const send = (): Promise<unknown> =>
      this.connection.commitOffsets({ groupId: this.options.groupId, memberId: this.memberId, memberEpoch: this.memberEpoch, offsets });
    try {
      await send();
    } catch (e) {
      // A heartbeat may have moved the epoch while the commit was on its way: retry once with the new one.
      if (!isBrookError(e, 'STALE_MEMBER_EPOCH')) throw e;
      const epoch = this.memberEpoch;
      await this.heartbeat().catch(() => undefined);
      if (this.memberEpoch === epoch) throw e;
      await send();
    }
  }

  /** Reads `partition` from `offset` next (drops what is buffered). */
  seek(topic: string, partition: number, offset: number): void {
    const p = this.owned.get(partitionKey(topic, partition));
    if (!p) throw new BrookError('INVALID_ARGUMENT', `cannot seek ${topic}/${partition}: not assigned to this member`, { topic, partition, offset, group: this.options.groupId });
    p.buffer = [];
    p.head = 0;
    p.reader.seek(offset);
    p.processed = offset;
    p.drained.notify();
  }

  /** Stops yielding and fetching these partitions until resume(). */
  pause(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const p = this.owned.get(partitionKey(topic, partition));
      if (p) p.paused = true;
    }
  }

  resume(partitions: TopicPartition[]): void {
    for (const { topic, partition } of partitions) {
      const p = this.owned.get(partitionKey(topic, partition));
      if (p) {
        p.paused = false;
        p.drained.notify();
      }
    }
    this.recordsReady.notify();
  }

  /** Commits what was processed (with autoCommit), leaves the group, and stops. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.markProcessed();
    if (this.autoCommitTimer) clearInterval(this.autoCommitTimer);
    const joined = this.started !== undefined;
    try {
      if (joined) await this.started!.catch(() => undefined);
      await Promise.allSettled([...this.releases]);
      if (joined && this.memberId !== '' && this.options.autoCommit) await this.commit().catch((e) => this.report(e));
    } finally {
      this.stop.abort();
      for (const p of this.owned.values()) stopFetching(p);
      this.recordsReady.notify();
      this.progress.notify();
      this.heartbeatNow.notify();
      await this.heartbeatLoop?.catch(() => undefined);
      if (joined && this.memberId !== '') {
        await this.connection.leave({ groupId: this.options.groupId, memberId: this.memberId, memberEpoch: this.memberEpoch }).catch((e) => this.hooks.onError?.(e));
      }
      this.owned.clear();
      this.ownedList = undefined;
      if (this.ownsConnection) this.connection.close();
    }
  }
}

/** Where a standalone consumer's topic partitions start. */
export { resolveOffset };
