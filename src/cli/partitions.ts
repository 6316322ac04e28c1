/** Per-partition bounds of a topic and command-line positions resolved against them. */
import { Admin, BrookError, resolveOffset, type Connection } from '../client';
import type { Position } from './parse';

export interface PartitionBounds {
  partition: number;
  logStartOffset: number;
  highWatermark: number;
}

/** The log start offset and high watermark of every partition (or just `only`), from one DescribeTopic. */
export async function partitionBounds(connection: Connection, topic: string, only?: number): Promise<PartitionBounds[]> {
  const description = await new Admin(connection).describeTopic(topic);
  const all = description.partitions
    .map((p) => ({ partition: p.partition, logStartOffset: Number(p.logStartOffset), highWatermark: Number(p.highWatermark) }))
    .sort((a, b) => a.partition - b.partition);
  if (only === undefined) return all;
  const found = all.find((p) => p.partition === only);
  if (!found) throw new BrookError('UNKNOWN_PARTITION', `topic ${topic} has no partition ${only} (it has ${description.partitionCount})`, { topic, partition: only });
  return [found];
}

/** The offset a position names in one partition (a time is looked up with ListOffsets). */
export async function offsetOf(connection: Connection, topic: string, bounds: PartitionBounds, position: Position): Promise<number> {
  switch (position.kind) {
    case 'earliest':
      return bounds.logStartOffset;
    case 'latest':
      return bounds.highWatermark;
    case 'offset':
      return position.offset;
    case 'time':
      return resolveOffset(connection, topic, bounds.partition, { timestampMs: position.timestampMs });
  }
}
