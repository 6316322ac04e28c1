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

it('a ProduceStream message with undecodable bytes ends the stream with INVALID_ARGUMENT; a bad request inside a good message fails alone', async () => {
  const call = client.makeBidiStreamRequest('/brook.v1.Log/ProduceStream', identity, identity, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
  const replies: Buffer[] = [];
  const ended = new Promise<grpc.ServiceError | null>((resolve) => {
    call.on('data', (b: Buffer) => replies.push(b));
    call.on('error', (e: grpc.ServiceError) => resolve(e));
    call.on('end', () => resolve(null));
  });
  // request_id 5 with an empty request: refused for its topic, in a reply.
  call.write(Buffer.from([0x08, 0x05]));
  await new Promise((r) => setTimeout(r, 200));
  call.write(GARBAGE);
  const error = await ended;
  expect(error).toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
  expect(error!.details).toMatch(/^malformed ProduceStreamRequest: /);
  expect(replies).toHaveLength(1);
  // ProduceStreamResponse{request_id 5, error{status 3 INVALID_ARGUMENT, ...}}: field 1 = 5, then field 3 (the error).
  expect([...replies[0].subarray(0, 3)]).toEqual([0x08, 0x05, 0x1a]);
});

it('the broker still answers well-formed calls afterwards', async () => {
  expect(await unaryWith('/brook.v1.Admin/ListTopics', Buffer.alloc(0))).toBeNull();
});
