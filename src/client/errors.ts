/**
 * How a failed call becomes a `BrookError` on the client.
 *
 * The broker puts Brook's own code in the `brook-error-code` trailer of every
 * error reply; when it is there it wins. Replies without it (a proxy, a broker
 * that died mid-call, grpc-js's own failures such as "connection refused")
 * fall back to a code guessed from the gRPC status. Either way the caller gets
 * one `BrookError` whose `retriable` flag alone decides whether the SDK
 * retries, and whose `context` names the topic, partition, offset or group the
 * call concerned.
 */
import type { ServiceError } from '@grpc/grpc-js';
import {
  BrookError,
  ERROR_CODE_METADATA_KEY,
  GrpcStatus,
  errorCodeForStatus,
  isErrorCode,
  type ErrorCode,
  type ErrorContext,
} from '../common/errors';

export { BrookError, isBrookError } from '../common/errors';
export type { ErrorCode, ErrorContext } from '../common/errors';

function isServiceError(e: unknown): e is ServiceError {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && 'details' in e;
}

/** The Brook code a reply carries in its trailer, if any. */
function trailerCode(e: ServiceError): ErrorCode | undefined {
  const values = e.metadata?.get(ERROR_CODE_METADATA_KEY) ?? [];
  const first = values[0];
  const text = typeof first === 'string' ? first : Buffer.isBuffer(first) ? first.toString('utf8') : undefined;
  return text !== undefined && isErrorCode(text) ? text : undefined;
}

/**
 * Turns anything a gRPC call rejected with into a `BrookError`.
 * `addr` is used in the message when the broker could not be reached.
 */
export function toBrookError(e: unknown, context: ErrorContext = {}, addr?: string): BrookError {
  if (e instanceof BrookError) return e;
  if (!isServiceError(e)) {
    const message = e instanceof Error ? e.message : String(e);
    return new BrookError('INTERNAL', message, context, { cause: e });
  }
  const fromTrailer = trailerCode(e);
  if (fromTrailer) return new BrookError(fromTrailer, e.details || fromTrailer, context, { cause: e });

  if (e.code === GrpcStatus.UNAVAILABLE) {
    const where = addr ? ` at ${addr}` : '';
    const details = e.details ?? '';
    const reason = /ECONNREFUSED/.test(details)
      ? 'connection refused'
      : /ENOTFOUND|EAI_AGAIN/.test(details)
        ? 'host not found'
        : details || 'unavailable';
    return new BrookError('CONNECTION_FAILED', `cannot reach the broker${where}: ${reason}`, context, { cause: e });
  }
  if (e.code === GrpcStatus.DEADLINE_EXCEEDED) {
    return new BrookError('REQUEST_TIMED_OUT', `request timed out${addr ? ` (broker ${addr})` : ''}`, context, { cause: e });
  }
  if (e.code === GrpcStatus.CANCELLED) {
    return new BrookError('CLIENT_CLOSED', e.details || 'the call was cancelled', context, { cause: e });
  }
  return new BrookError(errorCodeForStatus(e.code), e.details || `gRPC status ${e.code}`, context, { cause: e });
}

/** A one-line description of an error with the context it names, for logs and the CLI. */
export function describeError(e: unknown): string {
  if (!(e instanceof BrookError)) return e instanceof Error ? e.message : String(e);
  const { topic, partition, offset, group } = e.context;
  const where: string[] = [];
  if (group !== undefined && !e.message.includes(group)) where.push(`group ${group}`);
  if (topic !== undefined && !e.message.includes(topic)) where.push(partition !== undefined ? `${topic}/${partition}` : `topic ${topic}`);
  if (offset !== undefined && !e.message.includes(String(offset))) where.push(`offset ${offset}`);
  return where.length > 0 ? `${e.message} (${where.join(', ')})` : e.message;
}
