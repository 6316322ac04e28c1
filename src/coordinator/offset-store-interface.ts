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
 * Size: a store has a most-bytes-per-append (`maxAppendBytes`, well under
 * what its log accepts in one batch) and says how many bytes a record takes
 * at most (`encodedBytes`), so the writer can group queued writes into
 * appends that fit. A record or snapshot bigger than one append is split by
 * the store itself, in order, into several.
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
   * Writes a complete restatement of the state, then — only once all of it
   * is durable — drops everything stored before it. A snapshot that fails
   * or is cut short by a crash leaves the old records in place and is
   * ignored by `load`, which is still correct (see above).
   */
  writeSnapshot(records: readonly GroupRecord[]): Promise<void>;
  /** An upper bound on the bytes `record` adds to an append. */
  encodedBytes(record: GroupRecord): number;
  /** The most bytes one append should carry (writes are grouped up to this). */
  readonly maxAppendBytes: number;
}
