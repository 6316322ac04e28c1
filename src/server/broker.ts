/**
 * The broker process: opens storage, serves Log and Admin (and whatever else
 * `services` lists) over gRPC with Health and reflection, exposes /metrics,
 * and shuts down gracefully.
 *
 * Start-up order: storage first (recovery may take a while; nothing listens
 * until the data is consistent), then the gRPC and metrics listeners, then
 * one "listening" log line with both bound addresses.
 *
 * Shutdown (`Broker.shutdown`, on the first SIGTERM/SIGINT): Health turns
 * NOT_SERVING, new calls get UNAVAILABLE, long polls answer with what they
 * have and streams end, in-flight calls finish (up to shutdown.timeout_ms,
 * then they are cancelled), storage flushes and leaves its clean-shutdown
 * marker. A second signal exits at once.
 */
import * as grpc from '@grpc/grpc-js';
import { setMaxListeners } from 'events';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type http from 'http';
import { systemClock } from '../common/clock';
import { GroupCoordinator } from '../coordinator';
import { brookPackageDefinition, serviceDefinition } from '../protocol';
import { LogManager, ProducerIdManager, nodeFileSystem, timedFileSystem } from '../storage';
import { createAdminService } from './admin-service';
import type { BrokerContext } from './broker-context';
import { formatListenAddress, maxMessageBytesLimit, type BrokerConfig, type ListenAddress } from './config';
import { createGroupsService } from './groups-service';
import { buildGrpcServer, RECEIVE_WINDOW_BYTES, widenReceiveWindows, type ServiceRegistration } from './grpc-server';
import { reserveHeap, setHeapGrowing } from './heap-reserve';
import { createLogService, logServiceDefinition } from './log-service';
import { createLogger, type Logger } from './logger';
import { BrokerMetrics } from './metrics';
import { ConsumerOffsetsStore, topicMetadataOver } from './offsets-store';
import type { TopicStore } from './store-interface';

export type { BrokerContext };

/** The services the broker serves. Add a line here to serve another. */
function brookServices(context: BrokerContext): ServiceRegistration[] {
  return [
    { definition: logServiceDefinition(), handlers: createLogService(context) },
    { definition: serviceDefinition('Admin'), handlers: createAdminService(context) },
    { definition: serviceDefinition('Groups'), handlers: createGroupsService(context.coordinator) },
  ];
}

/** Binds `server`; returns the port and how many HTTP/2 servers got the wider receive window. */
function bindAsync(server: grpc.Server, address: ListenAddress): Promise<{ port: number; widened: number }> {
  return new Promise((resolve, reject) => {
    server.bindAsync(formatListenAddress(address), grpc.ServerCredentials.createInsecure(), (error, port) => {
      if (error) reject(error);
      // Here, before any connection can be accepted.
      else resolve({ port, widened: widenReceiveWindows(server) });
    });
  });
}

export class Broker {
  private shutdownPromise: Promise<void> | undefined;

  private constructor(
    readonly config: BrokerConfig,
    readonly logger: Logger,
    private readonly store: TopicStore,
    private readonly server: grpc.Server,
    private readonly health: HealthImplementation,
    private readonly coordinator: GroupCoordinator,
    private readonly metricsServer: http.Server | null,
    private readonly abort: AbortController,
    /** Bound gRPC address (the real port when `listen` asked for 0). */
    readonly address: ListenAddress,
    readonly metricsAddress: ListenAddress | null,
  ) {}

  static async start(config: BrokerConfig, logger: Logger): Promise<Broker> {
    reserveHeap(config.heapReserveMb);
    setHeapGrowing(config.heapGrowingPercent);
    const abort = new AbortController();
    // Every long-polling Fetch and every Subscribe listens for shutdown: no
    // "possible memory leak" warning past 10 of them.
    setMaxListeners(0, abort.signal);
    let store: TopicStore | undefined;
    const metrics = new BrokerMetrics(() => store);
    const opened = Date.now();
    const logManager = await LogManager.open({
      dataDir: config.dataDir,
      logger: logger.child({ component: 'storage' }),
      defaultTopicConfig: config.topicDefaults,
      maxMessageBytesLimit: maxMessageBytesLimit(config),
      fileSystem: timedFileSystem(nodeFileSystem, (seconds) => metrics.fsyncDuration.observe(seconds)),
    });
    store = logManager;
    logger.info({ dataDir: config.dataDir, topics: (await store.listTopics({ includeInternal: true })).length, ms: Date.now() - opened }, 'storage opened');

    const coordinator = new GroupCoordinator({
      store: await ConsumerOffsetsStore.open(logManager),
      metadata: topicMetadataOver(logManager),
      clock: systemClock,
      config: { minSessionTimeoutMs: config.group.minSessionTimeoutMs, maxSessionTimeoutMs: config.group.maxSessionTimeoutMs },
      logger: logger.child({ component: 'coordinator' }),
    });
    await coordinator.start();

    const producerIds = await ProducerIdManager.open(nodeFileSystem, logManager.dataDir, logger.child({ component: 'storage' }));
    const context: BrokerContext = { config, store, producerIds, coordinator, logger, metrics, shutdown: abort.signal, clock: systemClock };
    const server = buildGrpcServer(brookServices(context), {
      logger,
      metrics,
      state: { shutdown: abort.signal },
      maxReceiveMessageBytes: config.limits.maxRequestBytes,
    });
    const health = new HealthImplementation({ '': 'NOT_SERVING', 'brook.v1.Log': 'NOT_SERVING', 'brook.v1.Admin': 'NOT_SERVING', 'brook.v1.Groups': 'NOT_SERVING' });
    health.addToServer(server);
    new ReflectionService(brookPackageDefinition()).addToServer(server);

    let port: number;
    let metricsServer: http.Server | null = null;
    let metricsAddress: ListenAddress | null = null;
    try {
      const bound = await bindAsync(server, config.listen);
      port = bound.port;
      if (bound.widened === 0) logger.warn({ windowBytes: RECEIVE_WINDOW_BYTES }, 'could not widen the HTTP/2 receive window (grpc-js internals changed): large requests will be slower');
      if (config.metricsListen) {
        const bound = await metrics.listen(config.metricsListen);
        metricsServer = bound.server;
        metricsAddress = bound.address;
      }
    } catch (e) {
      server.forceShutdown();
      await coordinator.stop();
      await store.close();
      throw e;
    }
    for (const name of ['', 'brook.v1.Log', 'brook.v1.Admin', 'brook.v1.Groups']) health.setStatus(name, 'SERVING');
    const address = { host: config.listen.host, port };
    const broker = new Broker(config, logger, store, server, health, coordinator, metricsServer, abort, address, metricsAddress);
    logger.info(
      { addr: formatListenAddress(address), metricsAddr: metricsAddress ? formatListenAddress(metricsAddress) : null, dataDir: config.dataDir },
      'listening',
    );
    return broker;
  }

  /** Graceful shutdown; idempotent. */
  shutdown(reason: string): Promise<void> {
    if (!this.shutdownPromise) this.shutdownPromise = this.doShutdown(reason);
    return this.shutdownPromise;
  }

  private async doShutdown(reason: string): Promise<void> {
    const started = Date.now();
    this.logger.info({ reason }, 'shutting down');
    for (const name of ['', 'brook.v1.Log', 'brook.v1.Admin', 'brook.v1.Groups']) this.health.setStatus(name, 'NOT_SERVING');
    this.abort.abort();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn({ timeoutMs: this.config.shutdownTimeoutMs }, 'in-flight requests did not finish in time; cancelling them');
        this.server.forceShutdown();
        resolve();
      }, this.config.shutdownTimeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.metricsServer) await new Promise<void>((resolve) => this.metricsServer!.close(() => resolve()));
    await this.coordinator.stop();
    await this.store.close();
    this.logger.info({ ms: Date.now() - started }, 'shut down cleanly');
  }
}

/**
 * Runs a broker until SIGTERM/SIGINT and returns the process exit code:
 * 0 after a clean shutdown, 1 if start-up or shutdown failed. A second signal
 * exits the process at once (code 130).
 */
export async function runBroker(config: BrokerConfig, logger: Logger = createLogger(config.logLevel)): Promise<number> {
  // Signals are handled from the first moment: one that arrives while storage
  // is still recovering shuts the broker down as soon as it has started.
  let broker: Broker | undefined;
  let signals = 0;
  let stopRequested: (signal: string) => void = () => undefined;
  const stopped = new Promise<string>((resolve) => {
    stopRequested = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting without a clean shutdown');
      process.exit(130);
    }
    stopRequested(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    broker = await Broker.start(config, logger);
  } catch (e) {
    logger.fatal({ err: e }, 'broker failed to start');
    process.stderr.write(`brook: broker failed to start: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}\n`);
    return 1;
  }
  process.stderr.write(
    `brook: serving gRPC on ${formatListenAddress(broker.address)}` +
      (broker.metricsAddress ? `, metrics on http://${formatListenAddress(broker.metricsAddress)}/metrics` : '') +
      `, data in ${config.dataDir} (Ctrl-C to stop)\n`,
  );
  const reason = await stopped;
  try {
    await broker.shutdown(reason);
    return 0;
  } catch (e) {
    logger.error({ err: e }, 'shutdown failed');
    return 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
