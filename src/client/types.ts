/** Records as SDK users write and read them. */

/** Bytes, or a string sent as its UTF-8 bytes. */
export type Bytes = Buffer | Uint8Array | string;

export interface RecordHeader {
  key: string;
  /** null is a header with no value. */
  value: Buffer | null;
}

/** A record to produce. */
export interface ProducerRecord {
  topic: string;
  /** null or absent: a keyless record (spread with the sticky partitioner). */
  key?: Bytes | null;
  /** null: a tombstone. */
  value: Bytes | null;
  /** As an object (one value per name) or a list (names may repeat). */
  headers?: Record<string, Bytes | null> | ReadonlyArray<{ key: string; value: Bytes | null }>;
  /** Send to this partition instead of choosing one from the key. */
  partition?: number;
  /** Milliseconds since the Unix epoch. Default: now, on the client (Kafka's CreateTime). */
  timestampMs?: number;
}

/** Where a produced record was written. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  /** -1 with acks 'none' (the broker replies before writing). */
  offset: number;
}

/** A record read back from a partition. */
export interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: number;
  timestampMs: number;
  /** A Buffer viewing the fetch reply's memory (no copy); null for a null key. */
  key: Buffer | null;
  /** As `key`; null for a tombstone. */
  value: Buffer | null;
  /** In the order they were written. Records without headers share one frozen empty array. */
  headers: readonly RecordHeader[];
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export function toBuffer(value: Bytes): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

export function toNullableBuffer(value: Bytes | null | undefined): Buffer | null {
  return value === null || value === undefined ? null : toBuffer(value);
}

export function normalizeHeaders(headers: ProducerRecord['headers']): RecordHeader[] {
  if (!headers) return [];
  if (Array.isArray(headers)) return headers.map((h) => ({ key: h.key, value: toNullableBuffer(h.value) }));
  return Object.entries(headers).map(([key, value]) => ({ key, value: toNullableBuffer(value) }));
}

export function partitionKey(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}
