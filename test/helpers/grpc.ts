/**
 * Raw grpc-js clients for Brook's services with promise wrappers, for tests
 * that talk to a broker without the SDK:
 *
 *   const { log, admin, close } = grpcClients(broker.addr);
 *   await admin.CreateTopic({ name, partitions: 3 });
 *   const res = await log.Produce<pb.ProduceResponse__Output>({ topic: name, records });
 *   await expectStatus(log.Fetch({ topic: name, partition: 0, offset: -1 }), grpc.status.INVALID_ARGUMENT);
 *   close();
 *
 * Each unary RPC is a method named as in the proto; `raw` is the grpc-js
 * client for streaming calls (`log.raw.Subscribe(request)`).
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'crypto';
import { brookServices } from '../../src/protocol';
import { ERROR_CODE_METADATA_KEY } from '../../src/common/errors';

export interface CallOptions {
  /** Deadline from now, ms (default 30 s). */
  timeoutMs?: number;
  metadata?: grpc.Metadata;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type UnaryCall = <Res = any>(request: object, options?: CallOptions) => Promise<Res>;

export type PromiseClient = Record<string, UnaryCall> & { raw: grpc.Client & Record<string, any> };

export interface GrpcClients {
  log: PromiseClient;
  admin: PromiseClient;
  groups: PromiseClient;
  close(): void;
}

function promiseClient(ctor: grpc.ServiceClientConstructor, addr: string, channelOptions: grpc.ChannelOptions): PromiseClient {
  const raw = new ctor(addr, grpc.credentials.createInsecure(), channelOptions) as grpc.Client & Record<string, any>;
  const client = { raw } as PromiseClient;
  for (const [name, def] of Object.entries(ctor.service)) {
    if (def.requestStream || def.responseStream) continue;
    client[name] = ((request: object, options: CallOptions = {}) =>
      new Promise((resolve, reject) => {
        raw[name](
          request,
          options.metadata ?? new grpc.Metadata(),
          { deadline: Date.now() + (options.timeoutMs ?? 30_000) },
          (error: grpc.ServiceError | null, response: any) => (error ? reject(error) : resolve(response)),
        );
      })) as UnaryCall;
  }
  return client;
}

export function grpcClients(addr: string, channelOptions: grpc.ChannelOptions = {}): GrpcClients {
  const services = brookServices();
  const options = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, ...channelOptions };
  const log = promiseClient(services.Log, addr, options);
  const admin = promiseClient(services.Admin, addr, options);
  const groups = promiseClient(services.Groups, addr, options);
  return {
    log,
    admin,
    groups,
    close: () => {
      log.raw.close();
      admin.raw.close();
      groups.raw.close();
    },
  };
}

/** A topic name no other test uses: `<prefix>-<8 hex>`. */
export function randomTopicName(prefix = 'test'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/**
 * Awaits a call expected to fail with `code` (and, when given, the
 * `brook-error-code` trailer `brookCode`); resolves with the error for
 * further checks on its message.
 */
export async function expectStatus(call: Promise<unknown>, code: grpc.status, brookCode?: string): Promise<grpc.ServiceError> {
  let error: grpc.ServiceError;
  try {
    await call;
  } catch (e) {
    error = e as grpc.ServiceError;
    const got = `${grpc.status[error.code]} ${JSON.stringify(error.details)} [${error.metadata?.get(ERROR_CODE_METADATA_KEY)}]`;
    if (error.code !== code) throw new Error(`expected status ${grpc.status[code]}, got ${got}`);
    if (brookCode !== undefined && error.metadata?.get(ERROR_CODE_METADATA_KEY)[0] !== brookCode) {
      throw new Error(`expected brook-error-code ${brookCode}, got ${got}`);
    }
    return error;
  }
  throw new Error(`expected status ${grpc.status[code]}, but the call succeeded`);
}
