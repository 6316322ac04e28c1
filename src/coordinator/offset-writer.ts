/**
 * Puts the coordinator's records into its `OffsetStore`, one write at a
 * time, and applies each to memory only once it is durable.
 *
 * Writes that arrive while one is in flight queue up and go out together as
 * the next append (a group commit: under many committing members one
 * fsync covers them all). Because the loop runs one store call at a time and
 * applies each batch before the next call, a snapshot taken inside the loop
 * restates exactly the records appended before it — no commit can fall
 * between "state captured" and "older records dropped".
 */
import type { GroupRecord, OffsetStore } from './offset-store-interface';

interface PendingWrite {
  readonly records: readonly GroupRecord[];
  readonly apply: () => void;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export interface SnapshotPolicy {
  /** Superseded entries tolerated in the store before a snapshot, at the least. */
  readonly minRecords: number;
  /** How many live offsets there are now. */
  liveOffsets(): number;
  /** The whole state as records. */
  snapshot(): GroupRecord[];
  /** Reports a failed snapshot (the records before it stay; nothing is lost). */
  onSnapshotError(e: unknown): void;
}

export class OffsetWriter {
  private queue: PendingWrite[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  /**
   * Offset entries (and tombstones) in the store: the last snapshot plus
   * everything after it. A snapshot is written once those not live any more
   * number at least max(minRecords, live offsets), so the store holds at most
   * about twice the live offsets plus minRecords.
   */
  entriesInLog = 0;
  snapshotsWritten = 0;

  constructor(private readonly store: OffsetStore, private readonly policy: SnapshotPolicy) {}

  write(records: readonly GroupRecord[], apply: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ records, apply, resolve, reject });
      if (!this.running) void this.drain();
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
        const batch = this.queue;
        this.queue = [];
        const records = batch.flatMap((w) => w.records);
        try {
          if (records.length > 0) await this.store.append(records);
        } catch (e) {
          for (const w of batch) w.reject(e);
          continue;
        }
        this.entriesInLog += entryCount(records);
        for (const w of batch) {
          w.apply();
          w.resolve();
        }
        await this.snapshotIfDue();
      }
    } finally {
      this.running = false;
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async snapshotIfDue(): Promise<void> {
    // Entries in the log that no longer matter: superseded offsets, deleted groups.
    const live = this.policy.liveOffsets();
    const garbage = this.entriesInLog - live;
    if (garbage < Math.max(this.policy.minRecords, live)) return;
    try {
      const records = this.policy.snapshot();
      await this.store.writeSnapshot(records);
      this.entriesInLog = entryCount(records);
      this.snapshotsWritten++;
    } catch (e) {
      this.policy.onSnapshotError(e);
    }
  }

}

/** How much a batch of records adds to the log: one per committed offset, one per tombstone. */
export function entryCount(records: readonly GroupRecord[]): number {
  let n = 0;
  for (const r of records) n += r.type === 'offsets' ? r.offsets.length : 1;
  return n;
}
