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
import { BrookError, ERROR_CODE_METADATA_KEY } from '../common/errors';

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

/** Maps any thrown value to the status a client sees; logs unexpected ones with their stack. */
export function toStatusError(e: unknown, logger: Logger, rpc: string): StatusError {
  if (e instanceof BrookError && e.code !== 'INVARIANT_VIOLATION' && e.code !== 'INTERNAL') {
    return statusError(e.grpcStatus, e.message, e.code);
  }
  const incident = randomBytes(4).toString('hex');
  logger.error({ err: e, rpc, incident }, 'unexpected error while serving a request');
  return statusError(GrpcStatusCode.INTERNAL, `internal error in ${rpc} (incident ${incident}; see the broker log)`, 'INTERNAL');
}

/** True for values that already are gRPC status errors (pass them through unchanged). */
export function isStatusError(e: unknown): e is StatusError {
  return e instanceof Error && typeof (e as { code?: unknown }).code === 'number' && (e as { metadata?: unknown }).metadata instanceof Metadata;
}
