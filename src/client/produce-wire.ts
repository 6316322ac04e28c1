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
/** Free bytes just before a request's SERIALIZED bytes, in the same buffer (see produceStreamSerializer). */
export const ROOM_BEFORE: unique symbol = Symbol('brook.produceRequestRoomBefore');

/** A ProduceRequest that may carry its own wire bytes. */
export type ProduceRequestWithBytes = pb.ProduceRequest & { [SERIALIZED]?: Buffer; [ROOM_BEFORE]?: number };

/** A ProduceStreamRequest whose request may carry its own wire bytes. */
export interface ProduceStreamRequestWithBytes {
  requestId: number;
  request: ProduceRequestWithBytes;
}

/**
 * The most bytes a ProduceStreamRequest adds before its request's bytes:
 * request_id's tag and uint32 varint, request's tag and length.
 */
export const PRODUCE_STREAM_PREFIX_ROOM = 1 + 5 + 1 + 5;

const ACKS_NUMBER: Record<string, number> = { ACKS_LEADER: 0, ACKS_ALL: 1, ACKS_NONE: 2 };

// Field numbers and wire types of ProduceStreamRequest and ProduceRequest (protos/brook/v1/log.proto).
const REQUEST_ID_TAG = (1 << 3) | 0;
const REQUEST_TAG = (2 << 3) | 2;
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
export function withSerialized(request: ProduceRequestWithBytes, bytes: Buffer | undefined, roomBefore = 0): void {
  if (!bytes) return;
  Object.defineProperty(request, SERIALIZED, { value: bytes, enumerable: false, configurable: true, writable: true });
  Object.defineProperty(request, ROOM_BEFORE, { value: roomBefore, enumerable: false, configurable: true, writable: true });
}

/** Produce's request serializer: a request's own bytes when it has them, `fallback` (protobufjs) otherwise. */
export function produceSerializer(fallback: (request: pb.ProduceRequest) => Buffer): (request: ProduceRequestWithBytes) => Buffer {
  return (request) => request[SERIALIZED] ?? fallback(request);
}

/**
 * ProduceStream's request serializer. A request with its own bytes and room
 * before them gets the stream message's two leading fields (request_id, and
 * request's tag and length) written into that room, and goes out as one view
 * of the batch's buffer: protobufjs does not copy the batch first (grpc-js
 * still copies the message once, into its gRPC frame). Any other request
 * goes through `fallback` (protobufjs).
 *
 * Safe because one batch has one attempt on the wire at a time: grpc-js
 * serializes a message when its stream gets to it, and holds that view until
 * it has framed it or the call is cancelled. The producer writes the batch's
 * headroom again only for its next attempt, after this one has settled —
 * replied, failed with its stream, or timed out, which cancels the stream
 * (see ProduceStreamClient) — and reuses the buffer only after the reply.
 */
export function produceStreamSerializer(fallback: (message: pb.ProduceStreamRequest) => Buffer): (message: ProduceStreamRequestWithBytes) => Buffer {
  return (message) => {
    const { requestId, request } = message;
    const bytes = request[SERIALIZED];
    if (!bytes) return fallback(message);
    const prefix = 1 + sizeOfUvarint(requestId) + 1 + sizeOfUvarint(bytes.length);
    if ((request[ROOM_BEFORE] ?? 0) < prefix) return fallback(message);
    const out = Buffer.from(bytes.buffer, bytes.byteOffset - prefix, bytes.length + prefix);
    out[0] = REQUEST_ID_TAG; // written even when 0, as protobufjs does
    let at = writeUvarint(out, 1, requestId);
    out[at++] = REQUEST_TAG;
    writeUvarint(out, at, bytes.length);
    return out;
  };
}
