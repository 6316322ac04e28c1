/**
 * Brook's one error vocabulary.
 *
 * Every failure a user can see is a `BrookError` carrying one of the codes in
 * `ERRORS`. The table below is the only place that decides, for each code,
 * the gRPC status it travels as and whether a client may retry it. Storage,
 * coordinator, server and client all speak this vocabulary; the server maps it
 * to a gRPC status in one function (`toGrpcStatus`-style code lives in
 * src/server and reads `grpcStatus` from here), and the client maps a status
 * back to a code with `errorCodeForStatus` when the broker did not send one.
 *
 * This module imports nothing, so every layer may depend on it.
 */

/** gRPC status codes, as numbers, so this module does not depend on grpc-js. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusCode = (typeof GrpcStatus)[keyof typeof GrpcStatus];

interface ErrorSpec {
  readonly grpcStatus: GrpcStatusCode;
  readonly retriable: boolean;
  readonly description: string;
}

/** code → gRPC status, retriability, and what the code means. */
export const ERRORS = {
  UNKNOWN_TOPIC: { grpcStatus: GrpcStatus.NOT_FOUND, retriable: false, description: 'the topic does not exist' },
  UNKNOWN_PARTITION: { grpcStatus: GrpcStatus.NOT_FOUND, retriable: false, description: 'the topic has no such partition' },
  UNKNOWN_GROUP: { grpcStatus: GrpcStatus.NOT_FOUND, retriable: false, description: 'the consumer group does not exist' },
  TOPIC_ALREADY_EXISTS: { grpcStatus: GrpcStatus.ALREADY_EXISTS, retriable: false, description: 'a topic with that name exists' },
  INVALID_TOPIC_NAME: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false, description: 'topic names match ^[A-Za-z0-9._-]{1,249}$ and are not "." or ".."' },
  INVALID_CONFIG: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false, description: 'a configuration key or value is not valid' },
  INVALID_ARGUMENT: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false, description: 'a request field is not valid' },
  INVALID_PARTITIONS: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false, description: 'the partition count is not valid' },
  RECORD_TOO_LARGE: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false, description: 'a record batch is larger than max.message.bytes' },
  CORRUPT_RECORD_BATCH: { grpcStatus: GrpcStatus.INVALID_ARGUMENT, retriable: false, description: 'a record batch sent by a client is malformed (magic, length, CRC or count)' },
  OFFSET_OUT_OF_RANGE: { grpcStatus: GrpcStatus.OUT_OF_RANGE, retriable: false, description: 'the offset is outside [log start offset, high watermark]' },
  UNKNOWN_MEMBER_ID: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'the group does not know this member' },
  STALE_MEMBER_EPOCH: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'the member epoch is older than the group’s' },
  FENCED_INSTANCE_ID: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'another member has taken over this static instance id' },
  GROUP_NOT_EMPTY: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'the operation needs a group with no active members' },
  PRODUCER_FENCED: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'a newer epoch of this producer id exists' },
  OUT_OF_ORDER_SEQUENCE: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'a batch sequence number leaves a gap' },
  UNKNOWN_PRODUCER_ID: { grpcStatus: GrpcStatus.FAILED_PRECONDITION, retriable: false, description: 'the broker holds no state for this producer id' },
  DISK_FULL: { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, retriable: true, description: 'the data directory has no space left' },
  REQUEST_TOO_LARGE: { grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, retriable: false, description: 'the request exceeds a size or count limit' },
  CORRUPT_DATA: { grpcStatus: GrpcStatus.DATA_LOSS, retriable: false, description: 'stored data failed its checksum and is not served' },
  STORAGE_ERROR: { grpcStatus: GrpcStatus.UNAVAILABLE, retriable: true, description: 'an I/O error on the broker' },
  SHUTTING_DOWN: { grpcStatus: GrpcStatus.UNAVAILABLE, retriable: true, description: 'the broker is shutting down' },
  NOT_READY: { grpcStatus: GrpcStatus.UNAVAILABLE, retriable: true, description: 'the broker is still loading' },
  REQUEST_TIMED_OUT: { grpcStatus: GrpcStatus.DEADLINE_EXCEEDED, retriable: true, description: 'the request did not complete in time' },
  CONNECTION_FAILED: { grpcStatus: GrpcStatus.UNAVAILABLE, retriable: true, description: 'the client could not reach the broker' },
  CLIENT_CLOSED: { grpcStatus: GrpcStatus.CANCELLED, retriable: false, description: 'the client was closed before the call completed' },
  INVARIANT_VIOLATION: { grpcStatus: GrpcStatus.INTERNAL, retriable: false, description: 'a bug: an internal invariant does not hold' },
  INTERNAL: { grpcStatus: GrpcStatus.INTERNAL, retriable: false, description: 'an unexpected internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** What an error concerns; every field optional, all are shown in messages by the caller. */
export interface ErrorContext {
  topic?: string;
  partition?: number;
  offset?: number;
  group?: string;
  memberId?: string;
  file?: string;
}

export class BrookError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BrookError';
    this.code = code;
    this.context = context;
  }

  get retriable(): boolean {
    return ERRORS[this.code].retriable;
  }

  get grpcStatus(): GrpcStatusCode {
    return ERRORS[this.code].grpcStatus;
  }
}

/** A broken invariant is a bug, and says so. */
export function invariant(condition: unknown, message: string, context: ErrorContext = {}): asserts condition {
  if (!condition) throw new BrookError('INVARIANT_VIOLATION', `invariant violated: ${message}`, context);
}

export function isBrookError(e: unknown, code?: ErrorCode): e is BrookError {
  return e instanceof BrookError && (code === undefined || e.code === code);
}

export function isErrorCode(s: string): s is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERRORS, s);
}

/** Best guess of a code from a bare gRPC status, for replies that carry no `brook-error-code`. */
export function errorCodeForStatus(status: number): ErrorCode {
  switch (status) {
    case GrpcStatus.NOT_FOUND: return 'UNKNOWN_TOPIC';
    case GrpcStatus.ALREADY_EXISTS: return 'TOPIC_ALREADY_EXISTS';
    case GrpcStatus.INVALID_ARGUMENT: return 'INVALID_ARGUMENT';
    case GrpcStatus.OUT_OF_RANGE: return 'OFFSET_OUT_OF_RANGE';
    case GrpcStatus.FAILED_PRECONDITION: return 'STALE_MEMBER_EPOCH';
    case GrpcStatus.RESOURCE_EXHAUSTED: return 'REQUEST_TOO_LARGE';
    case GrpcStatus.DATA_LOSS: return 'CORRUPT_DATA';
    case GrpcStatus.UNAVAILABLE: return 'CONNECTION_FAILED';
    case GrpcStatus.DEADLINE_EXCEEDED: return 'REQUEST_TIMED_OUT';
    default: return 'INTERNAL';
  }
}

/** Metadata key the server uses to send the Brook error code next to the gRPC status. */
export const ERROR_CODE_METADATA_KEY = 'brook-error-code';
