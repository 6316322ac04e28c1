/**
 * Composes gRPC services into one `grpc.Server`.
 *
 * `buildGrpcServer` takes a list of `{ definition, handlers }` (grpc-js's own
 * shapes) and wraps every handler the same way, so every service — Log,
 * Admin, Groups — gets:
 *   - per-RPC request counts, latency and in-flight gauges;
 *   - error mapping: a handler may fail with a `BrookError` (thrown, rejected,
 *     or passed to the callback) and the client sees the status from the
 *     error table plus the `brook-error-code` trailer (see status.ts);
 *   - UNAVAILABLE (SHUTTING_DOWN) for calls that arrive during shutdown;
 *   - INVALID_ARGUMENT "malformed <Method> request: <reason>" for request
 *     bytes the method's deserializer cannot decode (see UndecodableRequest).
 * Handlers may be plain grpc-js handlers or async functions (see `unary`).
 */
import * as grpc from '@grpc/grpc-js';
import type * as http2 from 'node:http2';
import type { Logger } from 'pino';
import { BrookError } from '../common/errors';
import type { BrokerMetrics } from './metrics';
import { isStatusError, shuttingDownError, toStatusError, type StatusError } from './status';

export interface ServiceRegistration {
  readonly definition: grpc.ServiceDefinition;
  readonly handlers: grpc.UntypedServiceImplementation;
}

/** Broker-wide state the wrappers consult: the shutdown signal. */
export interface ServingState {
  /** Aborted when graceful shutdown starts; long polls and streams listen to it. */
  readonly shutdown: AbortSignal;
}

export interface GrpcServerOptions {
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  readonly state: ServingState;
  readonly maxReceiveMessageBytes: number;
}

/** Adapts `async (request, call) => response` to a grpc-js unary handler. */
export function unary<Req, Res>(fn: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (response) => callback(null, response),
      (e: unknown) => callback(e as Error),
    );
  };
}

/** Adapts `async (request, call) => void` to a grpc-js server-streaming handler; a rejection ends the stream with its status. */
export function serverStream<Req, Res>(fn: (request: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<void>): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    fn(call.request, call).then(
      () => {
        if (!call.writableEnded) call.end();
      },
      (e: unknown) => call.emit('error', e),
    );
  };
}

/**
 * What a Brook method's `requestDeserialize` returns for bytes it cannot
 * decode. grpc-js answers INTERNAL ("Error deserializing request") when a
 * deserializer throws, so the wrapper below catches the error and hands the
 * handler wrapper this instead, which answers INVALID_ARGUMENT.
 */
class UndecodableRequest {
  constructor(readonly reason: string) {}
}

function decodingOrUndecodable(deserialize: grpc.deserialize<unknown>): grpc.deserialize<unknown> {
  return (bytes) => {
    try {
      return deserialize(bytes);
    } catch (e) {
      return new UndecodableRequest(e instanceof Error ? e.message : String(e));
    }
  };
}

export function statusName(code: number): string {
  return grpc.status[code] ?? String(code);
}

function wrapHandler(service: string, method: string, def: grpc.MethodDefinition<unknown, unknown>, handler: unknown, options: GrpcServerOptions): unknown {
  const { logger, metrics, state } = options;
  const rpc = `${service}/${method}`;
  const labels = { service, method };
  const counters = metrics.methodCounters(service, method);
  const observeDuration = (startMs: number): void => metrics.rpcDuration.observe(labels, (performance.now() - startMs) / 1000);
  const shuttingDown = (): StatusError => toStatusError(shuttingDownError(), logger, rpc);
  const mapError = (e: unknown): StatusError => (isStatusError(e) ? e : toStatusError(e, logger, rpc));
  const undecodable = (request: unknown): BrookError | undefined =>
    request instanceof UndecodableRequest ? new BrookError('INVALID_ARGUMENT', `malformed ${method} request: ${request.reason}`) : undefined;

  if (!def.requestStream && !def.responseStream) {
    const original = handler as grpc.handleUnaryCall<unknown, unknown>;
    const wrapped: grpc.handleUnaryCall<unknown, unknown> = (call, callback) => {
      const startMs = performance.now();
      counters.inFlight++;
      let done = false;
      const finish: grpc.sendUnaryData<unknown> = (error, value, trailer, flags) => {
        if (done) return;
        done = true;
        observeDuration(startMs);
        if (error) {
          const mapped = mapError(error);
          counters.finish(statusName(mapped.code));
          callback(mapped);
        } else {
          counters.finish('OK');
          callback(null, value, trailer, flags);
        }
      };
      if (state.shutdown.aborted) return finish(shuttingDown());
      const malformed = undecodable(call.request);
      if (malformed) return finish(malformed as Error);
      try {
        const result: unknown = (original as (...a: unknown[]) => unknown)(call, finish);
        if (result instanceof Promise) result.catch((e: unknown) => finish(e as Error));
      } catch (e) {
        finish(e as Error);
      }
    };
    return wrapped;
  }

  if (def.responseStream) {
    // A server stream, or a bidi stream (counted as one RPC from open to end; its handler accounts for the requests it carries).
    const original = handler as (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>) => unknown;
    const wrapped = (call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): void => {
      const startMs = performance.now();
      counters.inFlight++;
      let done = false;
      const finish = (code: string): void => {
        if (done) return;
        done = true;
        observeDuration(startMs);
        counters.finish(code);
      };
      // Errors emitted by the handler are mapped before grpc-js turns them into a status.
      const emit = call.emit.bind(call);
      call.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
        if (event === 'error') {
          const mapped = mapError(args[0]);
          finish(statusName(mapped.code));
          return emit('error', mapped);
        }
        return emit(event, ...args);
      }) as typeof call.emit;
      call.on('finish', () => finish('OK'));
      call.on('cancelled', () => finish('CANCELLED'));
      if (state.shutdown.aborted) {
        call.emit('error', shuttingDown());
        return;
      }
      const malformed = def.requestStream ? undefined : undecodable((call as grpc.ServerWritableStream<unknown, unknown>).request);
      if (malformed) {
        call.emit('error', malformed);
        return;
      }
      try {
        const result = original(call);
        if (result instanceof Promise) result.catch((e: unknown) => call.emit('error', e));
      } catch (e) {
        call.emit('error', e);
      }
    };
    return wrapped;
  }
  // Client-streaming RPCs are not used by Brook's services; pass them through.
  return handler;
}

export function buildGrpcServer(services: readonly ServiceRegistration[], options: GrpcServerOptions): grpc.Server {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': options.maxReceiveMessageBytes,
    'grpc.max_send_message_length': -1,
    // Nothing reads channelz (no channelz service is registered); with it on,
    // grpc-js tracks every call and stream (objects and timestamps per RPC).
    'grpc.enable_channelz': 0,
  });
  for (const { definition, handlers } of services) {
    const wrapped: grpc.UntypedServiceImplementation = {};
    const decoding: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
    for (const [name, def] of Object.entries(definition)) {
      const handler = handlers[name] ?? handlers[def.originalName ?? name];
      if (!handler) throw new Error(`no handler for ${def.path}`);
      const [service, method] = def.path.slice(1).split('/');
      wrapped[name] = wrapHandler(service, method, def, handler, options) as grpc.UntypedHandleCall;
      decoding[name] = { ...def, requestDeserialize: decodingOrUndecodable(def.requestDeserialize) };
    }
    server.addService(decoding as grpc.ServiceDefinition, wrapped);
  }
  return server;
}

/**
 * The broker's HTTP/2 receive window, per stream and per connection. HTTP/2
 * starts both at 64 KiB and grpc-js's server offers no option for them, so a
 * client sending a 1 MiB Produce request stopped every 64 KiB until the
 * broker's event loop got round to a WINDOW_UPDATE: ~16 round trips per
 * request, each waiting on whatever the broker was doing (an fsync callback,
 * a GC). W1 of the comparison (1M x 100 B in 1 MiB requests, 5 in flight,
 * flush.policy=always), medians of 3 with `bench/client-profile.js --addr`
 * against the broker before and after this change, in two interleaved
 * pairs: 1.36 / 1.03 M -> 1.71 / 1.69 M records/s. The window
 * bounds what a client may send before the broker has read it; the broker
 * reads every request in full anyway (limits.max_request_bytes caps one).
 */
export const RECEIVE_WINDOW_BYTES = 4 * 1024 * 1024;

/**
 * Widens the receive windows of every connection `server` accepts from now
 * on (see RECEIVE_WINDOW_BYTES). Call it once bindAsync has bound, before a
 * connection can arrive (in its callback). Uses grpc-js's map of its HTTP/2
 * servers, which it does not export: returns how many it found, 0 when a
 * grpc-js upgrade has moved it (the test of this function then fails).
 */
export function widenReceiveWindows(server: grpc.Server, bytes: number = RECEIVE_WINDOW_BYTES): number {
  const servers = (server as unknown as { http2Servers?: unknown }).http2Servers;
  if (!(servers instanceof Map)) return 0;
  let hooked = 0;
  for (const http2Server of servers.keys() as IterableIterator<http2.Http2Server>) {
    if (typeof http2Server?.on !== 'function') continue;
    http2Server.on('session', (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(bytes);
        session.settings({ initialWindowSize: bytes });
      } catch {
        // A session already closing: nothing to widen.
      }
    });
    hooked++;
  }
  return hooked;
}
