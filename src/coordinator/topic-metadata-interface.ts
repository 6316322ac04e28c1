/**
 * What the coordinator needs to know about topics, defined here so it never
 * depends on the storage engine (the broker passes an adapter over its log
 * manager; tests pass a map).
 */
export interface PartitionOffsets {
  readonly logStartOffset: number;
  readonly highWatermark: number;
}

export interface TopicMetadata {
  /** The topic's partition count, or undefined when the topic does not exist. Called on every heartbeat: keep it cheap. */
  partitionCount(topic: string): number | undefined;
  /** A partition's log start offset and high watermark, or undefined when it does not exist. */
  partitionOffsets(topic: string, partition: number): PartitionOffsets | undefined;
  /** The first offset whose record timestamp is ≥ `timestampMs`; the high watermark when there is none. */
  offsetForTimestamp(topic: string, partition: number, timestampMs: number): Promise<number>;
}
