/**
 * `brook serve` as a process: exit codes and one-line reasons for bad
 * configuration, /metrics, Health and reflection, and a clean exit 0 on
 * SIGTERM while a long poll is in flight.
 */
import { spawnSync } from 'child_process';
import path from 'path';
import * as grpc from '@grpc/grpc-js';
import { grpcClients, httpGet as get, randomTopicName, startBroker, stopAllBrokers } from '../helpers/broker';

const MAIN = path.resolve(__dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');

afterAll(stopAllBrokers);

it.each([
  [['--set', 'no.such.key=1'], /unknown config key "no.such.key"/],
  [['--limits-max-wait-ms', 'soon'], /"limits.max_wait_ms"/],
  [['--config', '/nonexistent/brook.yaml'], /cannot read config file/],
  [['--no-such-flag'], /unknown option/],
])('serve %j refuses to start with exit 2 and a reason', (args, reason) => {
  const result = spawnSync(process.execPath, [MAIN, 'serve', '--data-dir', '/nonexistent-dir', ...args], { encoding: 'utf8', timeout: 20_000 });
  expect(result.status).toBe(2);
  expect(result.stderr).toMatch(reason);
});

it('serves /metrics, Health and reflection, and exits 0 on SIGTERM during a long poll', async () => {
  const broker = await startBroker();
  const clients = grpcClients(broker.addr);
  const topic = randomTopicName();
  await clients.admin.CreateTopic({ name: topic, partitions: 2 });
  await clients.log.Produce({ topic, partition: 1, records: [{ value: Buffer.from('x') }] });

  const metrics = await get(`http://${broker.metricsAddr}/metrics`);
  expect(metrics.status).toBe(200);
  expect(metrics.body).toMatch(/brook_rpc_requests_total\{service="brook.v1.Log",method="Produce",code="OK"\} 1/);
  expect(metrics.body).toMatch(/brook_rpc_duration_seconds_bucket\{le="[^"]+",service="brook.v1.Admin",method="CreateTopic"\}/);
  expect(metrics.body).toContain(`brook_partition_log_end_offset{topic="${topic}",partition="1"} 1`);
  expect(metrics.body).toMatch(/brook_produce_bytes_total\{topic="[^"]+"\} \d+/);
  // flush.policy=always (the default): the Produce waited for a flush, which was timed.
  expect(metrics.body).toMatch(/brook_fsync_duration_seconds_count [1-9]\d*\n/);

  const healthClient = new grpc.Client(broker.addr, grpc.credentials.createInsecure());
  const health = await new Promise<Buffer>((resolve, reject) => {
    healthClient.makeUnaryRequest('/grpc.health.v1.Health/Check', (b: Buffer) => b, (b: Buffer) => b, Buffer.alloc(0), (e, r) => (e ? reject(e) : resolve(r!)));
  });
  expect([...health]).toEqual([0x08, 0x01]); // status: SERVING
  // Reflection: a ServerReflectionRequest with list_services = "" (field 7) names Brook's services.
  const listing = await new Promise<string>((resolve, reject) => {
    const call = healthClient.makeBidiStreamRequest('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', (b: Buffer) => b, (b: Buffer) => b);
    call.on('data', (b: Buffer) => {
      resolve(b.toString('latin1'));
      call.cancel();
    });
    call.on('error', (e: grpc.ServiceError) => (e.code === grpc.status.CANCELLED ? undefined : reject(e)));
    call.write(Buffer.from([0x3a, 0x00]));
  });
  expect(listing).toContain('brook.v1.Log');
  expect(listing).toContain('brook.v1.Admin');
  healthClient.close();

  const pending = clients.log.Fetch({ topic, partition: 0, offset: 0, maxWaitMs: 25_000 }).catch((e: unknown) => e);
  await new Promise((r) => setTimeout(r, 300));
  const started = Date.now();
  expect(await broker.stop()).toBe(0);
  expect(Date.now() - started).toBeLessThan(10_000);
  await pending;
  clients.close();
  expect(broker.logs()).toContain('shut down cleanly');
});

it('serves many long polls at once without a listener-leak warning', async () => {
  const broker = await startBroker();
  const clients = grpcClients(broker.addr);
  const topic = randomTopicName();
  await clients.admin.CreateTopic({ name: topic, partitions: 1 });
  // Each waiting Fetch listens for the broker's shutdown: more than Node's default limit of 10.
  await Promise.all(Array.from({ length: 15 }, () => clients.log.Fetch({ topic, partition: 0, offset: 0, maxWaitMs: 300 })));
  clients.close();
  expect(await broker.stop()).toBe(0);
  expect(broker.logs()).not.toContain('MaxListenersExceededWarning');
});
