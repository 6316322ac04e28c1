/**
 * A grpc-js server for Brook's Log service that does no work: Produce answers
 * at once with a canned result, Fetch answers with a prebuilt `record_batches`
 * buffer, and Subscribe streams that buffer as fast as the client takes it
 * (waiting for 'drain' when grpc-js buffers) until the client cancels. Run as its own process (like the broker) so that what the
 * comparison measures against it is the cost of grpc-js and protobuf alone:
 * the ceiling Brook's own RPC path can approach.
 *
 *   node dist/bench/compare/noop-grpc-server.js FETCH_BYTES
 *
 * Prints one JSON line {"msg":"listening","port":N} once bound to 127.0.0.1.
 */
import * as grpc from '@grpc/grpc-js';
import { serviceDefinition, type pb } from '../../src/protocol';
import { widenReceiveWindows } from '../../src/server/grpc-server';

function main(): void {
  const fetchBytes = Number(process.argv[2] ?? 1 << 20);
  const recordBatches = Buffer.alloc(fetchBytes, 0x61);
  const server = new grpc.Server({ 'grpc.max_receive_message_length': 64 << 20 });
  server.addService(serviceDefinition('Log'), {
    Produce(call: grpc.ServerUnaryCall<pb.ProduceRequest__Output, pb.ProduceResponse>, callback: grpc.sendUnaryData<pb.ProduceResponse>) {
      const request = call.request;
      callback(null, {
        results: [{ partition: request.partition ?? 0, baseOffset: 0, recordCount: request.records.length || 1, logAppendTimeMs: -1 }],
      });
    },
    Fetch(call: grpc.ServerUnaryCall<pb.FetchRequest__Output, pb.FetchResponse>, callback: grpc.sendUnaryData<pb.FetchResponse>) {
      callback(null, { recordBatches, highWatermark: 0, logStartOffset: 0, nextOffset: call.request.offset });
    },
    Subscribe(call: grpc.ServerWritableStream<pb.SubscribeRequest__Output, pb.FetchResponse>) {
      let open = true;
      call.on('cancelled', () => (open = false));
      const message: pb.FetchResponse = { recordBatches, highWatermark: 0, logStartOffset: 0, nextOffset: 0 };
      const pump = (): void => {
        while (open) {
          if (!call.write(message)) {
            call.once('drain', pump);
            return;
          }
        }
      };
      pump();
    },
  });
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`noop-grpc-server: ${err.message}\n`);
      process.exit(1);
    }
    // The broker's receive window (see RECEIVE_WINDOW_BYTES), so the ceiling rides the same transport.
    if (widenReceiveWindows(server) === 0) process.stderr.write('noop-grpc-server: could not widen the HTTP/2 receive window\n');
    process.stdout.write(JSON.stringify({ msg: 'listening', port }) + '\n');
  });
  process.once('SIGTERM', () => server.tryShutdown(() => process.exit(0)));
}

main();
