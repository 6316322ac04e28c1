/**
 * One HTTP/2 channel to a broker, shared by the Log, Admin and Groups
 * service clients, with promise-returning calls whose failures are already
 * `BrookError`s (see ./errors).
 *
 * Calls fail fast while the broker is unreachable (no wait-for-ready), so a
 * CLI gets "connection refused" at once; the producer and readers retry such
 * failures themselves. The channel reconnects with a short backoff (100 ms up
 * to 2 s by default instead of grpc-js's 1 s up to 120 s) so that a broker
 * restart costs a client seconds, not minutes.
 */
import * as grpc from '@grpc/grpc-js';
import { brookServices } from '../protocol';
import type { pb } from '../protocol';
import { BrookError, type ErrorContext } from '../common/errors';
import { limitReadBuffer } from '../common/streams';
import { connectionOptions, type ConnectionOptions } from './options';
import { toBrookError } from './errors';
import { produceSerializer, produceStreamSerializer, type ProduceRequestWithBytes, type ProduceStreamRequestWithBytes } from './produce-wire';
import { ProduceStreamClient, type ProduceCall } from './produce-stream';

export type { ProduceCall } from './produce-stream';

type Callback<T> = (err: grpc.ServiceError | null, value?: T) => void;
type UnaryMethod<Req, Res> = (req: Req, metadata: grpc.Metadata, options: grpc.CallOptions, cb: Callback<Res>) => grpc.ClientUnaryCall;

let logClient: grpc.ServiceClientConstructor | undefined;

/**
 * The Log service client, with Produce and ProduceStream serialized by
 * produceSerializer / produceStreamSerializer: a request that carries its
 * own wire bytes (see produce-wire.ts) is sent as they are, any other
 * through protobufjs. Made once per process.
 */
function logClientConstructor(generated: grpc.ServiceClientConstructor): grpc.ServiceClientConstructor {
  if (!logClient) {
    const produce = generated.service.Produce as grpc.MethodDefinition<ProduceRequestWithBytes, unknown>;
    const stream = generated.service.ProduceStream as grpc.MethodDefinition<pb.ProduceStreamRequest, unknown>;
    const service = {
      ...generated.service,
      Produce: { ...produce, requestSerialize: produceSerializer(produce.requestSerialize) },
      ProduceStream: { ...stream, requestSerialize: produceStreamSerializer(stream.requestSerialize) },
    };
    logClient = grpc.makeGenericClientConstructor(service, generated.serviceName);
  }
  return logClient;
}

/**
 * What a Produce call needs; the Producer depends on this contract only.
 * A request's `recordBatch` views a buffer the producer reuses once the
 * call has settled: a transport that keeps the bytes past that must copy them.
 */
export interface ProduceTransport {
  produce(request: pb.ProduceRequest, timeoutMs?: number): Promise<pb.ProduceResponse__Output>;
  partitionCount(topic: string): Promise<number>;
  /** Log.InitProducerId; a transport without it makes the producer non-idempotent. */
  initProducerId?(request: pb.InitProducerIdRequest, timeoutMs?: number): Promise<pb.InitProducerIdResponse__Output>;
  /**
   * Produce that also says when the request's bytes have gone out on the
   * connection (`written`), so the producer can keep a partition's requests
   * in order on the wire. Without it the producer uses `produce`.
   */
  produceInOrder?(request: pb.ProduceRequest, timeoutMs?: number): ProduceCall;
}

export class Connection implements ProduceTransport {
  readonly options: Readonly<ConnectionOptions>;
  private readonly log: grpc.Client;
  private readonly admin: grpc.Client;
  private readonly groups: grpc.Client;
  private readonly calls = new Set<grpc.Call>();
  private closed = false;
  private readonly produceMethod: grpc.MethodDefinition<ProduceRequestWithBytes, pb.ProduceResponse__Output>;
  /** Produce requests' stream (options.produceStream), else undefined: a call each. */
  private readonly produceStream: ProduceStreamClient | undefined;

  constructor(options: Partial<ConnectionOptions> = {}) {
    this.options = connectionOptions(options);
    const services = brookServices();
    const channelOptions: grpc.ChannelOptions = {
      'grpc.max_send_message_length': this.options.maxMessageBytes,
      'grpc.max_receive_message_length': this.options.maxMessageBytes,
      'grpc.initial_reconnect_backoff_ms': this.options.reconnectBackoffMs,
      'grpc.max_reconnect_backoff_ms': this.options.maxReconnectBackoffMs,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      // grpc-js keeps a copy of each request for transparent retries and then
      // reports a write as done at once. Past 16 KiB it does not, and the
      // write callback fires only once the bytes are on the HTTP/2 stream:
      // produceInOrder() needs that (see there). The SDK retries by itself.
      'grpc.per_rpc_retry_buffer_size': 16 * 1024,
      // Our receive window, per stream and for the connection. HTTP/2's
      // default 64 KiB makes the broker stop every 64 KiB of a 1 MiB fetch
      // reply until our WINDOW_UPDATE arrives; 4 MiB lets a reply and a
      // read-ahead flow without a stop. W2 (1M x 100 B, 1 MiB fetches),
      // medians of 3 in two rounds: 0.87 / 1.06 M records/s without,
      // 1.20 / 1.19 M with.
      'grpc-node.flow_control_window': 4 * 1024 * 1024,
    };
    const credentials = grpc.credentials.createInsecure();
    const LogClient = logClientConstructor(services.Log);
    this.log = new LogClient(this.options.addr, credentials, channelOptions);
    this.produceMethod = LogClient.service.Produce as unknown as grpc.MethodDefinition<ProduceRequestWithBytes, pb.ProduceResponse__Output>;
    if (this.options.produceStream) {
      const method = LogClient.service.ProduceStream as unknown as grpc.MethodDefinition<ProduceStreamRequestWithBytes, pb.ProduceStreamResponse__Output>;
      const open = (): grpc.ClientDuplexStream<ProduceStreamRequestWithBytes, pb.ProduceStreamResponse__Output> => {
        const call = this.log.makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, new grpc.Metadata(), {});
        this.calls.add(call);
        call.once('status', () => this.calls.delete(call));
        return call;
      };
      this.produceStream = new ProduceStreamClient(open, (request, timeoutMs) => this.produceCallInOrder(request, timeoutMs), this.options.addr);
    }
    const channelOverride = this.log.getChannel();
    this.admin = new services.Admin(this.options.addr, credentials, { ...channelOptions, channelOverride });
    this.groups = new services.Groups(this.options.addr, credentials, { ...channelOptions, channelOverride });
  }

  get addr(): string {
    return this.options.addr;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private call<Req, Res>(client: grpc.Client, method: string, request: Req, context: ErrorContext, timeoutMs?: number): Promise<Res> {
    if (this.closed) return Promise.reject(new BrookError('CLIENT_CLOSED', 'the connection is closed', context));
    const fn = (client as unknown as Record<string, UnaryMethod<Req, Res>>)[method];
    const deadline = new Date(Date.now() + (timeoutMs ?? this.options.requestTimeoutMs));
    return new Promise<Res>((resolve, reject) => {
      const call = fn.call(client, request, new grpc.Metadata(), { deadline }, (err, value) => {
        this.calls.delete(call);
        if (err) reject(toBrookError(err, context, this.options.addr));
        else resolve(value as Res);
      });
      this.calls.add(call);
    });
  }

  // --- Log ---
  initProducerId(request: pb.InitProducerIdRequest, timeoutMs?: number): Promise<pb.InitProducerIdResponse__Output> {
    return this.call(this.log, 'InitProducerId', request, {}, timeoutMs);
  }

  /** A Produce request: a message on the connection's produce stream (options.produceStream), else a Produce call. */
  produce(request: ProduceRequestWithBytes, timeoutMs?: number): Promise<pb.ProduceResponse__Output> {
    if (this.produceStream && !this.closed) return this.produceStream.produce(request, timeoutMs ?? this.options.requestTimeoutMs);
    return this.produceCall(request, timeoutMs);
  }

  private produceCall(request: ProduceRequestWithBytes, timeoutMs?: number): Promise<pb.ProduceResponse__Output> {
    return this.call(this.log, 'Produce', request, { topic: request.topic, partition: request.partition }, timeoutMs);
  }

  /**
   * Produce as a one-message client stream (the same bytes on the wire as a
   * unary call), because only a stream write reports when its message has
   * gone to the HTTP/2 stream. Why it matters: the broker's HTTP/2 window is
   * 64 KiB per stream, so two 120 KiB+ requests started together interleave
   * on the connection and the second often arrives first; an idempotent
   * batch that overtakes its predecessor is refused (OUT_OF_ORDER_SEQUENCE)
   * and sent again. Measured on W1 (1000-record batches, 4 in flight):
   * 996 of 1000 batches were refused once and the producer ran at 54–139 k
   * records/s. Starting a partition's next request only once this one is
   * `written` keeps them in order.
   */
  produceInOrder(request: ProduceRequestWithBytes, timeoutMs?: number): ProduceCall {
    if (this.produceStream && !this.closed) return this.produceStream.produceInOrder(request, timeoutMs ?? this.options.requestTimeoutMs);
    return this.produceCallInOrder(request, timeoutMs);
  }

  private produceCallInOrder(request: ProduceRequestWithBytes, timeoutMs?: number): ProduceCall {
    const context: ErrorContext = { topic: request.topic, partition: request.partition };
    if (this.closed) {
      return { written: Promise.resolve(), reply: Promise.reject(new BrookError('CLIENT_CLOSED', 'the connection is closed', context)) };
    }
    let markWritten!: () => void;
    const written = new Promise<void>((resolve) => (markWritten = resolve));
    const deadline = new Date(Date.now() + (timeoutMs ?? this.options.requestTimeoutMs));
    const reply = new Promise<pb.ProduceResponse__Output>((resolve, reject) => {
      const call = this.log.makeClientStreamRequest<ProduceRequestWithBytes, pb.ProduceResponse__Output>(
        this.produceMethod.path,
        this.produceMethod.requestSerialize,
        this.produceMethod.responseDeserialize,
        new grpc.Metadata(),
        { deadline },
        (err, value) => {
          this.calls.delete(call);
          markWritten();
          if (err) reject(toBrookError(err, context, this.options.addr));
          else resolve(value as pb.ProduceResponse__Output);
        },
      );
      this.calls.add(call);
      call.write(request, () => markWritten());
      call.end();
    });
    return { written, reply };
  }

  fetch(request: pb.FetchRequest): Promise<pb.FetchResponse__Output> {
    const wait = request.maxWaitMs ?? 0;
    return this.call(this.log, 'Fetch', request, { topic: request.topic, partition: request.partition, offset: Number(request.offset ?? 0) }, this.options.requestTimeoutMs + wait);
  }

  /**
   * Log.Subscribe: a server stream without a deadline, cancelled by close()
   * if still open. It ends with a grpc-js status on 'status' (a failed one
   * also on 'error'); toBrookError turns it into a BrookError. Its buffer holds
   * one message instead of grpc-js's 16: a caller that pause()s the stream
   * stops it after one more message, and then HTTP/2 flow control stops the
   * broker (see PartitionStream).
   */
  subscribe(request: pb.SubscribeRequest): grpc.ClientReadableStream<pb.FetchResponse__Output> {
    if (this.closed) throw new BrookError('CLIENT_CLOSED', 'the connection is closed', { topic: request.topic });
    const method = (this.log as unknown as Record<string, (req: pb.SubscribeRequest, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<pb.FetchResponse__Output>>).Subscribe;
    const call = method.call(this.log, request, new grpc.Metadata(), {});
    // grpc-js builds the stream as an object-mode Readable with Node's default
    // high-water mark of 16 messages: a paused 1 MiB-per-message stream would
    // go on pulling 16 MiB into memory.
    limitReadBuffer(call, 1);
    this.calls.add(call);
    call.once('status', () => this.calls.delete(call));
    return call;
  }

  listOffsets(request: pb.ListOffsetsRequest): Promise<pb.ListOffsetsResponse__Output> {
    return this.call(this.log, 'ListOffsets', request, { topic: request.topic, partition: request.partition });
  }

  // --- Admin ---
  createTopic(request: pb.CreateTopicRequest): Promise<pb.CreateTopicResponse__Output> {
    return this.call(this.admin, 'CreateTopic', request, { topic: request.name });
  }

  deleteTopic(request: pb.DeleteTopicRequest): Promise<pb.DeleteTopicResponse__Output> {
    return this.call(this.admin, 'DeleteTopic', request, { topic: request.name });
  }

  listTopics(request: pb.ListTopicsRequest): Promise<pb.ListTopicsResponse__Output> {
    return this.call(this.admin, 'ListTopics', request, {});
  }

  describeTopic(request: pb.DescribeTopicRequest): Promise<pb.DescribeTopicResponse__Output> {
    return this.call(this.admin, 'DescribeTopic', request, { topic: request.name });
  }

  alterTopicConfig(request: pb.AlterTopicConfigRequest): Promise<pb.AlterTopicConfigResponse__Output> {
    return this.call(this.admin, 'AlterTopicConfig', request, { topic: request.name });
  }

  createPartitions(request: pb.CreatePartitionsRequest): Promise<pb.CreatePartitionsResponse__Output> {
    return this.call(this.admin, 'CreatePartitions', request, { topic: request.name });
  }

  /** The topic's partition count (one DescribeTopic). */
  async partitionCount(topic: string): Promise<number> {
    const response = await this.describeTopic({ name: topic });
    return response.topic?.partitionCount ?? 0;
  }

  // --- Groups ---
  heartbeat(request: pb.HeartbeatRequest): Promise<pb.HeartbeatResponse__Output> {
    return this.call(this.groups, 'Heartbeat', request, { group: request.groupId, memberId: request.memberId });
  }

  leave(request: pb.LeaveRequest): Promise<pb.LeaveResponse__Output> {
    return this.call(this.groups, 'Leave', request, { group: request.groupId, memberId: request.memberId });
  }

  commitOffsets(request: pb.CommitOffsetsRequest): Promise<pb.CommitOffsetsResponse__Output> {
    return this.call(this.groups, 'CommitOffsets', request, { group: request.groupId, memberId: request.memberId });
  }

  fetchOffsets(request: pb.FetchOffsetsRequest): Promise<pb.FetchOffsetsResponse__Output> {
    return this.call(this.groups, 'FetchOffsets', request, { group: request.groupId });
  }

  describeGroup(request: pb.DescribeGroupRequest): Promise<pb.DescribeGroupResponse__Output> {
    return this.call(this.groups, 'DescribeGroup', request, { group: request.groupId });
  }

  listGroups(request: pb.ListGroupsRequest = {}): Promise<pb.ListGroupsResponse__Output> {
    return this.call(this.groups, 'ListGroups', request, {});
  }

  deleteGroup(request: pb.DeleteGroupRequest): Promise<pb.DeleteGroupResponse__Output> {
    return this.call(this.groups, 'DeleteGroup', request, { group: request.groupId });
  }

  resetOffsets(request: pb.ResetOffsetsRequest): Promise<pb.ResetOffsetsResponse__Output> {
    return this.call(this.groups, 'ResetOffsets', request, { group: request.groupId, topic: request.topic });
  }

  /** Cancels calls in flight and closes the channel. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of this.calls) call.cancel();
    this.calls.clear();
    this.log.close();
  }
}
