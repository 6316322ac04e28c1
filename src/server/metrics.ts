/**
 * Prometheus metrics (prom-client), served as text on `GET /metrics` from a
 * separate HTTP listener (`metrics.listen`).
 *
 *   brook_rpc_requests_total{service,method,code}   finished RPCs by status name
 *   brook_rpc_duration_seconds{service,method}      RPC latency (streams: lifetime)
 *   brook_rpc_in_flight{service,method}             RPCs being served now
 *   brook_produce_bytes_total{topic}                record-batch bytes appended
 *   brook_produce_records_total{topic}              records appended
 *   brook_fetch_bytes_total{topic}                  record-batch bytes served (Fetch and Subscribe)
 *   brook_fsync_duration_seconds                    time to flush a storage file (fdatasync or O_DSYNC write)
 *   brook_partition_log_end_offset{topic,partition} next offset to be assigned
 *   brook_partition_high_watermark{topic,partition} end of the durable log
 *   brook_partition_log_start_offset{topic,partition}
 *   brook_partition_size_bytes{topic,partition}     segment bytes on disk
 *   brook_partition_segments{topic,partition}
 * plus prom-client's default process metrics (RSS, event-loop lag, GC).
 */
import http from 'http';
import { AddressInfo } from 'net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ListenAddress } from './config';
import type { PartitionState, TopicStore } from './store-interface';

/** Latency buckets from 100 µs to 30 s: produce with fsync sits around 1-10 ms, long polls up to max_wait_ms. */
const RPC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const FSYNC_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1];

/**
 * One RPC method's finished calls by status and calls in flight, as plain
 * numbers that prom-client reads when scraped: counting a call hashes no
 * labels (prom-client validates and hashes the label object on every inc).
 */
export class MethodCounters {
  inFlight = 0;
  readonly finished = new Map<string, number>();
  constructor(readonly labels: { readonly service: string; readonly method: string }) {}

  /** A call in flight ended with status `code`. */
  finish(code: string): void {
    this.inFlight--;
    this.finished.set(code, (this.finished.get(code) ?? 0) + 1);
  }
}

export class BrokerMetrics {
  readonly registry = new Registry();
  readonly rpcRequests: Counter<'service' | 'method' | 'code'>;
  readonly rpcDuration: Histogram<'service' | 'method'>;
  readonly rpcInFlight: Gauge<'service' | 'method'>;
  readonly produceBytes: Counter<'topic'>;
  readonly produceRecords: Counter<'topic'>;
  readonly fetchBytes: Counter<'topic'>;
  readonly fsyncDuration: Histogram;
  private readonly methods: MethodCounters[] = [];

  constructor(store: () => TopicStore | undefined) {
    const registers = [this.registry];
    const methods = this.methods;
    collectDefaultMetrics({ register: this.registry });
    this.rpcRequests = new Counter({
      name: 'brook_rpc_requests_total',
      help: 'RPCs finished, by final status',
      labelNames: ['service', 'method', 'code'],
      registers,
      collect() {
        this.reset();
        for (const m of methods) for (const [code, n] of m.finished) this.inc({ ...m.labels, code }, n);
      },
    });
    this.rpcDuration = new Histogram({ name: 'brook_rpc_duration_seconds', help: 'RPC latency in seconds', labelNames: ['service', 'method'], buckets: RPC_BUCKETS, registers });
    this.rpcInFlight = new Gauge({
      name: 'brook_rpc_in_flight',
      help: 'RPCs being served',
      labelNames: ['service', 'method'],
      registers,
      collect() {
        this.reset();
        for (const m of methods) this.set(m.labels, m.inFlight);
      },
    });
    this.produceBytes = new Counter({ name: 'brook_produce_bytes_total', help: 'record-batch bytes appended', labelNames: ['topic'], registers });
    this.produceRecords = new Counter({ name: 'brook_produce_records_total', help: 'records appended', labelNames: ['topic'], registers });
    this.fetchBytes = new Counter({ name: 'brook_fetch_bytes_total', help: 'record-batch bytes served by Fetch and Subscribe', labelNames: ['topic'], registers });
    this.fsyncDuration = new Histogram({ name: 'brook_fsync_duration_seconds', help: 'time to flush a storage file, in seconds: each fdatasync, or O_DSYNC write (the write included)', buckets: FSYNC_BUCKETS, registers });

    const partitionGauge = (name: string, help: string, pick: (p: PartitionState) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'partition'],
        registers,
        async collect() {
          this.reset();
          const s = store();
          if (!s) return;
          for (const topic of await s.listTopics({ includeInternal: true })) {
            for (let p = 0; p < topic.partitionCount; p++) {
              let log;
              try {
                log = s.partition(topic.name, p);
              } catch {
                continue; // deleted while we were collecting
              }
              this.set({ topic: topic.name, partition: String(p) }, pick({ partition: p, logStartOffset: log.logStartOffset, highWatermark: log.highWatermark, logEndOffset: log.logEndOffset, sizeBytes: log.sizeBytes, segmentCount: log.segmentCount }));
            }
          }
        },
      });
    };
    partitionGauge('brook_partition_log_end_offset', 'offset the next appended record will get', (p) => p.logEndOffset);
    partitionGauge('brook_partition_high_watermark', 'end of the durable log', (p) => p.highWatermark);
    partitionGauge('brook_partition_log_start_offset', 'first offset still in the log', (p) => p.logStartOffset);
    partitionGauge('brook_partition_size_bytes', 'segment bytes on disk', (p) => p.sizeBytes);
    partitionGauge('brook_partition_segments', 'segment files', (p) => p.segmentCount);
  }

  /** The counters of one RPC method, reported as brook_rpc_requests_total and brook_rpc_in_flight. */
  methodCounters(service: string, method: string): MethodCounters {
    const counters = new MethodCounters({ service, method });
    this.methods.push(counters);
    return counters;
  }

  /** Starts the HTTP listener; resolves with the bound address. */
  async listen(address: ListenAddress): Promise<{ server: http.Server; address: ListenAddress }> {
    const server = http.createServer((req, res) => {
      if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?'))) {
        this.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': this.registry.contentType });
            res.end(text);
          },
          (e: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`metrics collection failed: ${e instanceof Error ? e.message : String(e)}\n`);
          },
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found; metrics are at /metrics\n');
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address() as AddressInfo;
    return { server, address: { host: address.host, port: bound.port } };
  }
}
