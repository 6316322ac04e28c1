/**
 * Request bytes a method cannot decode get INVALID_ARGUMENT naming the
 * method, for every kind of Brook RPC (unary and streaming, every service),
 * never grpc-js's INTERNAL "Error deserializing request".
 */
import * as grpc from '@grpc/grpc-js';
import { startBroker, stopAllBrokers, type BrokerProcess } from '../helpers/broker';

let broker: BrokerProcess;
let client: grpc.Client;

beforeAll(async () => {
  broker = await startBroker();
  client = new grpc.Client(broker.addr, grpc.credentials.createInsecure());
});

afterAll(async () => {
  client?.close();
  if (broker) await broker.stop();
  await stopAllBrokers();
});

const identity = (b: Buffer): Buffer => b;
/** Field 1 as a varint that never ends. */
const GARBAGE = Buffer.from([0x08, 0xff, 0xff]);

function unaryWith(path: string, bytes: Buffer): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, identity, identity, bytes, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (error) => resolve(error));
  });
}

function streamWith(path: string, bytes: Buffer): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, identity, identity, bytes, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on('data', () => undefined);
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('end', () => resolve(null));
  });
}

it.each([
  ['/brook.v1.Log/Fetch', 'Fetch'],
  ['/brook.v1.Log/ListOffsets', 'ListOffsets'],
  ['/brook.v1.Admin/CreateTopic', 'CreateTopic'],
  ['/brook.v1.Groups/Heartbeat', 'Heartbeat'],
])('%s: undecodable bytes get INVALID_ARGUMENT', async (path, method) => {
  const error = await unaryWith(path, GARBAGE);
  expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  expect(error!.details).toMatch(new RegExp(`^malformed ${method} request: .+`));
});

it('a Subscribe with undecodable bytes ends with INVALID_ARGUMENT', async () => {
  const error = await streamWith('/brook.v1.Log/Subscribe', GARBAGE);
  expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  expect(error!.details).toMatch(/^malformed Subscribe request: /);
});

it('the broker still answers well-formed calls afterwards', async () => {
  expect(await unaryWith('/brook.v1.Admin/ListTopics', Buffer.alloc(0))).toBeNull();
});
