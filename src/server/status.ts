/**
 * The one place where a failure becomes a gRPC status.
 *
 * A `BrookError` travels as the status its code has in the error table
 * (src/common/errors.ts), with its message as the details and its code in the
 * `brook-error-code` trailer. Anything else is a bug: the client sees
 * INTERNAL with a generic message and an incident id, and the log gets the
 * stack under the same id. Stack traces never reach clients.
 */
import { Metadata, status as GrpcStatusCode, type ServiceError } from '@grpc/grpc-js';
import { randomBytes } from 'crypto';
import type { Logger } from 'pino';
import { BrookError, ERROR_CODE_METADATA_KEY, type ErrorContext } from '../common/errors';

export type StatusError = Partial<ServiceError> & Error & { code: number; details: string; metadata: Metadata };

function statusError(code: number, details: string, brookCode: string): StatusError {
  const metadata = new Metadata();
  metadata.set(ERROR_CODE_METADATA_KEY, brookCode);
  const error = new Error(details) as StatusError;
  error.code = code;
  error.details = details;
  error.metadata = metadata;
  return error;
}

/** What a call or request refused during shutdown fails with: the client should go to a running broker. */
export function shuttingDownError(context: ErrorContext = {}): BrookError {
  return new BrookError('SHUTTING_DOWN', 'the broker is shutting down; retry against a running broker', context);
}

/** What a client is told about a failure: the gRPC status, Brook's code and a message a person can act on. */
export interface Failure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
}

/** Maps any thrown value to what a client is told; logs unexpected ones with their stack under an incident id. */
export function failureOf(e: unknown, logger: Logger, rpc: string): Failure {
  if (e instanceof BrookError && e.code !== 'INVARIANT_VIOLATION' && e.code !== 'INTERNAL') {
    return { status: e.grpcStatus, code: e.code, message: e.message };
  }
  const incident = randomBytes(4).toString('hex');
  logger.error({ err: e, rpc, incident }, 'unexpected error while serving a request');
  return { status: GrpcStatusCode.INTERNAL, code: 'INTERNAL', message: `internal error in ${rpc} (incident ${incident}; see the broker log)` };
}

/** Maps any thrown value to the status a client sees (see failureOf). */
export function toStatusError(e: unknown, logger: Logger, rpc: string): StatusError {
  const failure = failureOf(e, logger, rpc);
  return statusError(failure.status, failure.message, failure.code);
}

/** True for values that already are gRPC status errors (pass them through unchanged). */
export function isStatusError(e: unknown): e is StatusError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number' && (e as { metadata?: unknown }).metadata instanceof Metadata;
}
