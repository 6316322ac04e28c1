/**
 * What the coordinator needs from durable storage, defined here so the
 * coordinator never depends on the storage engine. The broker implements it
 * on the internal topic `__consumer_offsets` (src/server/offsets-store.ts);
 * tests use an in-memory double.
 *
 * The coordinator's state is the fold of `GroupRecord`s in order: an
 * `offsets` record sets committed offsets of one group (last write wins per
 * partition), a `group-deleted` record (a tombstone) drops a group and all its
 * offsets. A snapshot restates the whole state as `offsets` records, so
 * replaying "everything before the snapshot, then the snapshot" and replaying
 * "the snapshot alone" give the same state; that is what lets the store drop
 * what precedes a complete snapshot.
 *
 * Concurrency: the coordinator never has two calls of this interface in
 * flight at once (its writer runs them one after another), so a store need
 * not guard against interleaving.
 */

export interface CommittedOffsetRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly metadata: string;
  readonly commitTimestampMs: number;
}

export type GroupRecord =
  | { readonly type: 'offsets'; readonly groupId: string; readonly offsets: readonly CommittedOffsetRecord[] }
  | { readonly type: 'group-deleted'; readonly groupId: string };

export interface OffsetStore {
  /** Calls `apply` with every stored record, oldest first; resolves with how many there were. */
  load(apply: (record: GroupRecord) => void): Promise<number>;
  /** Appends records in order; resolves once they are durable. */
  append(records: readonly GroupRecord[]): Promise<void>;
  /**
   * Writes a complete restatement of the state, then drops everything stored
   * before it. A crash in between leaves the old records in place, which is
   * still correct (see above).
   */
  writeSnapshot(records: readonly GroupRecord[]): Promise<void>;
}
