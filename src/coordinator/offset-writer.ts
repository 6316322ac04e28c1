/**
 * Puts the coordinator's records into its `OffsetStore`, one write at a
 * time, and applies each to memory only once it is durable.
 *
 * Writes that arrive while one is in flight queue up and go out together as
 * the next append (a group commit: under many committing members one
 * fsync covers them all), as many as fit in the store's `maxAppendBytes`;
 * the rest go in the appends after it. An append that fails fails only the
 * writes in it. Because the loop runs one store call at a time and applies
 * each batch before the next call, a snapshot taken inside the loop restates
 * exactly the records appended before it — no commit can fall between
 * "state captured" and "older records dropped".
 *
 * Nothing here throws out of the loop: the loop is started from `write()`
 * without anyone awaiting it, so an error escaping it would be an unhandled
 * rejection and take the broker down. Failures go to the writes they
 * concern and to `policy.onError`.
 */
import type { GroupRecord, OffsetStore } from './offset-store-interface';

interface PendingWrite {
  readonly records: readonly GroupRecord[];
  /** `store.encodedBytes` of the records, summed when the write was queued. */
  readonly bytes: number;
  readonly apply: () => void;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export interface SnapshotPolicy {
  /** Superseded entries tolerated in the store before a snapshot, at the least. */
  readonly minRecords: number;
  /** Wait after a failed snapshot before the next try; doubles with each failure in a row. */
  readonly retryBackoffMs: number;
  /** The longest wait between snapshot tries. */
  readonly retryBackoffMaxMs: number;
  /** Monotonic time, for the back-off. */
  monotonicMs(): number;
  /** How many live offsets there are now. */
  liveOffsets(): number;
  /** The whole state as records. */
  snapshot(): GroupRecord[];
  /** Reports a failure the writer handled (a failed snapshot, a record that could not be applied); `what` says which. */
  onError(e: unknown, what: string): void;
}

export class OffsetWriter {
  private queue: PendingWrite[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  /** Snapshot failures in a row, and when the next try may start. */
  private snapshotFailures = 0;
  private nextSnapshotAtMs = 0;
  /**
   * Offset entries (and tombstones) in the store: the last snapshot plus
   * everything after it. A snapshot is written once those not live any more
   * number at least max(minRecords, live offsets), so the store holds at most
   * about twice the live offsets plus minRecords — plus, while snapshots
   * fail, what accumulates during the back-off between tries.
   */
  entriesInLog = 0;
  snapshotsWritten = 0;

  constructor(private readonly store: OffsetStore, private readonly policy: SnapshotPolicy) {}

  write(records: readonly GroupRecord[], apply: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      let bytes = 0;
      for (const r of records) bytes += this.store.encodedBytes(r);
      this.queue.push({ records, bytes, apply, resolve, reject });
      if (!this.running) this.drain().catch((e) => this.policy.onError(e, 'offset writer loop'));
    });
  }

  /** Resolves once everything queued so far is written. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes a snapshot now if the log has grown past the policy's bound. */
  async maybeSnapshot(): Promise<void> {
    await this.write([], () => undefined);
    await this.idle();
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.takeBatch();
        try {
          await this.writeBatch(batch);
          await this.snapshotIfDue();
        } catch (e) {
          // Not expected (writeBatch and snapshotIfDue handle their own failures); never leave a caller waiting.
          this.policy.onError(e, 'offset writer');
          for (const w of batch) w.reject(e);
        }
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  /** The queued writes that fit in one append, in order; always at least one (the store splits an oversized one). */
  private takeBatch(): PendingWrite[] {
    const limit = this.store.maxAppendBytes;
    let bytes = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || bytes + this.queue[n].bytes <= limit)) bytes += this.queue[n++].bytes;
    return this.queue.splice(0, n);
  }

  private async writeBatch(batch: readonly PendingWrite[]): Promise<void> {
    const records = batch.flatMap((w) => w.records);
    try {
      if (records.length > 0) await this.store.append(records);
    } catch (e) {
      for (const w of batch) w.reject(e);
      return;
    }
    this.entriesInLog += entryCount(records);
    for (const w of batch) {
      try {
        w.apply();
      } catch (e) {
        // Durable but not applied: a broken invariant. Say so, fail this write, keep serving the others.
        this.policy.onError(e, 'applying a durable offsets record');
        w.reject(e);
        continue;
      }
      w.resolve();
    }
  }

  private async snapshotIfDue(): Promise<void> {
    // Entries in the log that no longer matter: superseded offsets, deleted groups.
    const live = this.policy.liveOffsets();
    const garbage = this.entriesInLog - live;
    if (garbage < Math.max(this.policy.minRecords, live)) return;
    const now = this.policy.monotonicMs();
    if (now < this.nextSnapshotAtMs) return;
    try {
      const records = this.policy.snapshot();
      await this.store.writeSnapshot(records);
      this.entriesInLog = entryCount(records);
      this.snapshotsWritten++;
      this.snapshotFailures = 0;
      this.nextSnapshotAtMs = 0;
    } catch (e) {
      // A failed snapshot leaves the records before it in place (nothing is lost); retrying on every commit would
      // only pile up partial snapshots, so wait, longer after each failure in a row.
      this.snapshotFailures++;
      const backoff = Math.min(this.policy.retryBackoffMaxMs, this.policy.retryBackoffMs * 2 ** Math.min(this.snapshotFailures - 1, 30));
      this.nextSnapshotAtMs = this.policy.monotonicMs() + backoff;
      this.policy.onError(e, `writing a consumer offsets snapshot (failure ${this.snapshotFailures} in a row; next try in ${backoff} ms at the earliest)`);
    }
  }
}

/** How much a batch of records adds to the log: one per committed offset, one per tombstone. */
export function entryCount(records: readonly GroupRecord[]): number {
  let n = 0;
  for (const r of records) n += entriesOf(r);
  return n;
}

/** Entries one record holds: one per committed offset, else one. */
export function entriesOf(record: GroupRecord): number {
  return record.type === 'offsets' ? record.offsets.length : 1;
}
