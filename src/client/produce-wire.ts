/**
 * A Produce request on the `record_batch` fast path, serialized around the
 * batch's own buffer instead of copied into a new one.
 *
 * The protobuf encoding of ProduceRequest{topic, partition, acks,
 * record_batch} is a few bytes of fields, then record_batch's tag and
 * length, then the batch bytes. The producer writes those few bytes into the
 * room its BatchBuilder keeps before the batch (BatchBuilder.withPrefix) and
 * attaches the result to the request under SERIALIZED; the Connection's
 * Produce serializer sends it as it is. Through protobufjs the same request
 * costs a copy of the whole batch (1 MiB per W1 request) into a fresh
 * buffer. A request without SERIALIZED (the plain `records` form, test
 * transports) is serialized by protobufjs as before.
 */
import type { pb } from '../protocol';

export const SERIALIZED: unique symbol = Symbol('brook.produceRequestBytes');

/** A ProduceRequest that may carry its own wire bytes. */
export type ProduceRequestWithBytes = pb.ProduceRequest & { [SERIALIZED]?: Buffer };

const ACKS_NUMBER: Record<string, number> = { ACKS_LEADER: 0, ACKS_ALL: 1, ACKS_NONE: 2 };

// Field numbers and wire types of ProduceRequest (protos/brook/v1/log.proto).
const TOPIC_TAG = (1 << 3) | 2;
const PARTITION_TAG = (2 << 3) | 0;
const ACKS_TAG = (4 << 3) | 0;
const RECORD_BATCH_TAG = (5 << 3) | 2;

/** The most bytes `produceRequestPrefix` takes for a topic of `topicBytes` UTF-8 bytes. */
export function produceRequestPrefixRoom(topicBytes: number): number {
  // topic: tag + length + bytes; partition: tag + int32 varint (5 when >= 0);
  // acks: tag + 1; record_batch: tag + length.
  return 1 + 5 + topicBytes + 1 + 5 + 1 + 1 + 1 + 5;
}

/**
 * The bytes of a ProduceRequest up to its record_batch field's bytes: topic,
 * partition (>= 0), acks (when given), then record_batch's tag and a length
 * of `batchLength`: the bytes protobufjs writes for the same request.
 */
export function produceRequestPrefix(topic: string, partition: number, acks: pb.Acks | undefined, batchLength: number): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const acksNumber = acks === undefined ? 0 : typeof acks === 'number' ? acks : ACKS_NUMBER[acks];
  if (acksNumber === undefined || !Number.isInteger(partition) || partition < 0 || partition > 0x7fffffff) {
    throw new RangeError(`cannot encode a Produce request for partition ${partition} with acks ${String(acks)}`);
  }
  const length =
    1 + sizeOfUvarint(topicBytes) + topicBytes + 1 + sizeOfUvarint(partition) + (acks === undefined ? 0 : 1 + sizeOfUvarint(acksNumber)) + 1 + sizeOfUvarint(batchLength);
  const out = Buffer.allocUnsafe(length);
  let at = 0;
  out[at++] = TOPIC_TAG;
  at = writeUvarint(out, at, topicBytes);
  at += out.write(topic, at, 'utf8');
  out[at++] = PARTITION_TAG;
  at = writeUvarint(out, at, partition);
  if (acks !== undefined) {
    out[at++] = ACKS_TAG;
    at = writeUvarint(out, at, acksNumber);
  }
  out[at++] = RECORD_BATCH_TAG;
  at = writeUvarint(out, at, batchLength);
  return out;
}

/** Bytes of `value` (0 <= value < 2^32) as a protobuf varint (no zigzag, unlike the record format's). */
function sizeOfUvarint(value: number): number {
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 128);
    size++;
  }
  return size;
}

function writeUvarint(out: Buffer, at: number, value: number): number {
  while (value >= 0x80) {
    out[at++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 128);
  }
  out[at++] = value;
  return at;
}

/**
 * Attaches `bytes` to `request` as its wire form (nothing when undefined).
 * Not enumerable: a copy made by spreading the request (a transport that
 * changes a field, say) carries the fields only and is serialized from them.
 */
export function withSerialized(request: ProduceRequestWithBytes, bytes: Buffer | undefined): void {
  if (bytes) Object.defineProperty(request, SERIALIZED, { value: bytes, enumerable: false, configurable: true, writable: true });
}

/** Produce's request serializer: a request's own bytes when it has them, `fallback` (protobufjs) otherwise. */
export function produceSerializer(fallback: (request: pb.ProduceRequest) => Buffer): (request: ProduceRequestWithBytes) => Buffer {
  return (request) => request[SERIALIZED] ?? fallback(request);
}
