/**
 * The thinnest grpc-js client for Brook's services, straight from the protos:
 * what a client in any language does. Used for the "records" form figures and
 * for the no-op RPC ceiling, so both go through the same code.
 */
import * as grpc from '@grpc/grpc-js';
import { brookServices, type BrookServices } from '../../src/protocol';
import { makePayload, RECORD_BYTES } from './workload';

export const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': 64 << 20,
  'grpc.max_send_message_length': 64 << 20,
};

/**
 * The SDK's receive window (src/client/connection.ts): the fetch ceiling is
 * measured with it, as the SDK's raw reads run with it. The records driver
 * keeps grpc-js's default, as a client that sets nothing would.
 */
export const SDK_FLOW_CONTROL_WINDOW: grpc.ChannelOptions = { 'grpc-node.flow_control_window': 4 * 1024 * 1024 };

export function makeClient(service: keyof BrookServices, address: string, extra: grpc.ChannelOptions = {}): grpc.Client {
  const Ctor = brookServices()[service];
  return new Ctor(address, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS, ...extra });
}

type UnaryMethod = (request: unknown, callback: (err: grpc.ServiceError | null, response: unknown) => void) => unknown;

export function unary<Res>(client: grpc.Client, method: string, request: unknown): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryMethod>)[method];
  return new Promise((resolve, reject) => {
    fn.call(client, request, (err, response) => (err ? reject(err) : resolve(response as Res)));
  });
}

export async function waitReady(client: grpc.Client, timeoutMs = 10_000): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    client.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())),
  );
}

/** `count` keyless records of 100-byte values, as the `records` field carries them. */
export function plainRecords(count: number, payload: Buffer = makePayload()): { value: Buffer }[] {
  const records = new Array<{ value: Buffer }>(count);
  for (let i = 0; i < count; i++) records[i] = { value: payload };
  return records;
}

/**
 * Bytes of one uncompressed RecordBatch v2 of `count` keyless records with
 * `valueBytes`-byte values, no headers, timestamp delta 0: the 61-byte batch
 * header plus, per record, its length varint, attributes, timestamp delta,
 * offset delta, key length (-1), value length, value, header count.
 */
export function recordBatchBytes(count: number, valueBytes: number = RECORD_BYTES): number {
  const varintBytes = (n: number): number => {
    let zigzag = n >= 0 ? n * 2 : -n * 2 - 1;
    let bytes = 1;
    while (zigzag >= 0x80) {
      zigzag = Math.floor(zigzag / 128);
      bytes++;
    }
    return bytes;
  };
  let total = 61;
  for (let delta = 0; delta < count; delta++) {
    const body = 1 + varintBytes(0) + varintBytes(delta) + varintBytes(-1) + varintBytes(valueBytes) + valueBytes + varintBytes(0);
    total += varintBytes(body) + body;
  }
  return total;
}
