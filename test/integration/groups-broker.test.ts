/**
 * Consumer groups against a real broker process, over raw gRPC: joins,
 * hand-offs on session expiry and on leave (real, short timeouts), fenced
 * commits, lag, and committed offsets surviving SIGKILL.
 */
import * as grpc from '@grpc/grpc-js';
import type { pb } from '../../src/protocol';
import { grpcClients, randomTopicName, startBroker, stopAllBrokers, type BrokerProcess, type GrpcClients } from '../helpers/broker';
import { expectStatus } from '../helpers/grpc';

type Tp = pb.TopicPartitions__Output;

/** A minimal member loop state: heartbeats with what it owns, releases at once. */
class RawMember {
  memberId = '';
  memberEpoch = 0;
  owned: Tp[] = [];
  constructor(public clients: GrpcClients, readonly groupId: string, readonly topics: string[], readonly sessionTimeoutMs = 1000) {}

  async heartbeat(): Promise<pb.HeartbeatResponse__Output> {
    const res = await this.clients.groups.Heartbeat<pb.HeartbeatResponse__Output>({
      groupId: this.groupId,
      memberId: this.memberId,
      memberEpoch: this.memberEpoch,
      topics: this.topics,
      owned: this.owned,
      sessionTimeoutMs: this.sessionTimeoutMs,
    });
    this.memberId = res.memberId;
    this.memberEpoch = res.memberEpoch;
    this.owned = res.assignment;
    return res;
  }

  partitions(): number[] {
    return this.owned.flatMap((tp) => tp.partitions).sort((a, b) => a - b);
  }
}

async function settle(members: RawMember[], rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) for (const m of members) await m.heartbeat();
}

async function produce(clients: GrpcClients, topic: string, partition: number, n: number): Promise<void> {
  const records = Array.from({ length: n }, (_, i) => ({ value: Buffer.from(`v${i}`) }));
  await clients.log.Produce({ topic, partition, records });
}

describe('Groups service on a broker', () => {
  let broker: BrokerProcess;
  let clients: GrpcClients;
  beforeAll(async () => {
    broker = await startBroker();
    clients = grpcClients(broker.addr);
  });
  afterAll(async () => {
    clients?.close();
    await stopAllBrokers();
  });

  it('members share every partition exactly once; a silent member loses its partitions after its session timeout; one that leaves, at once', async () => {
    const topic = randomTopicName('groups');
    await clients.admin.CreateTopic({ name: topic, partitions: 6 });
    const members = [0, 1, 2].map(() => new RawMember(clients, 'g-join', [topic], 1000));
    await settle(members);
    expect(members.flatMap((m) => m.partitions()).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    for (const m of members) expect(m.partitions()).toHaveLength(2);
    const d = await clients.groups.DescribeGroup<pb.DescribeGroupResponse__Output>({ groupId: 'g-join' });
    expect(d.state).toBe('Stable');
    expect(d.members).toHaveLength(3);

    // members[2] goes silent; the others keep heartbeating until its session (1 s) expires.
    const [a, b] = members;
    const deadline = Date.now() + 5000;
    while (a.partitions().length + b.partitions().length < 6 && Date.now() < deadline) {
      await a.heartbeat();
      await b.heartbeat();
      await new Promise((r) => setTimeout(r, 100));
    }
    expect([...a.partitions(), ...b.partitions()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    await expectStatus(members[2].heartbeat(), grpc.status.FAILED_PRECONDITION, 'UNKNOWN_MEMBER_ID');

    await clients.groups.Leave({ groupId: 'g-join', memberId: b.memberId, memberEpoch: b.memberEpoch });
    await a.heartbeat();
    expect(a.partitions()).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses zombie commits and bad session timeouts with the right status', async () => {
    const topic = randomTopicName('groups');
    await clients.admin.CreateTopic({ name: topic, partitions: 2 });
    const m = new RawMember(clients, 'g-fence', [topic], 5000);
    await m.heartbeat();
    await clients.groups.CommitOffsets({ groupId: 'g-fence', memberId: m.memberId, memberEpoch: m.memberEpoch, offsets: [{ topic, partition: 0, offset: 0 }] });
    await expectStatus(
      clients.groups.CommitOffsets({ groupId: 'g-fence', memberId: 'zombie', memberEpoch: 1, offsets: [{ topic, partition: 0, offset: 1 }] }),
      grpc.status.FAILED_PRECONDITION,
      'UNKNOWN_MEMBER_ID',
    );
    await expectStatus(
      clients.groups.CommitOffsets({ groupId: 'g-fence', memberId: m.memberId, memberEpoch: m.memberEpoch + 1, offsets: [{ topic, partition: 0, offset: 1 }] }),
      grpc.status.FAILED_PRECONDITION,
      'STALE_MEMBER_EPOCH',
    );
    await expectStatus(
      clients.groups.CommitOffsets({ groupId: 'g-fence', memberId: '', memberEpoch: 0, offsets: [{ topic, partition: 0, offset: 1 }] }),
      grpc.status.FAILED_PRECONDITION,
      'GROUP_NOT_EMPTY',
    );
    const bad = await expectStatus(
      clients.groups.Heartbeat({ groupId: 'g-fence', memberId: '', memberEpoch: 0, topics: [topic], sessionTimeoutMs: 10 }),
      grpc.status.INVALID_ARGUMENT,
    );
    expect(bad.details).toContain('[1000, 1800000]');
    await expectStatus(clients.groups.DescribeGroup({ groupId: 'no-such-group' }), grpc.status.NOT_FOUND, 'UNKNOWN_GROUP');
    await expectStatus(clients.groups.DeleteGroup({ groupId: 'g-fence' }), grpc.status.FAILED_PRECONDITION, 'GROUP_NOT_EMPTY');
  });

  it('reports lag as produced minus committed, and keeps committed offsets across SIGKILL and restart', async () => {
    const topic = randomTopicName('groups');
    await clients.admin.CreateTopic({ name: topic, partitions: 3 });
    await produce(clients, topic, 0, 10);
    await produce(clients, topic, 1, 20);
    await produce(clients, topic, 2, 5);
    const m = new RawMember(clients, 'g-lag', [topic], 5000);
    await m.heartbeat();
    await clients.groups.CommitOffsets({
      groupId: 'g-lag',
      memberId: m.memberId,
      memberEpoch: m.memberEpoch,
      offsets: [
        { topic, partition: 0, offset: 4, metadata: 'm0' },
        { topic, partition: 1, offset: 20 },
      ],
    });
    const d = await clients.groups.DescribeGroup<pb.DescribeGroupResponse__Output>({ groupId: 'g-lag' });
    expect(d.partitions.map((p) => [p.partition, p.committedOffset, p.highWatermark, p.lag, p.memberId === m.memberId])).toEqual([
      [0, 4, 10, 6, true],
      [1, 20, 20, 0, true],
      [2, -1, 5, 5, true],
    ]);
    expect(d.totalLag).toBe(11);

    await broker.kill();
    clients.close();
    broker = await broker.restart();
    clients = grpcClients(broker.addr);
    const fetched = await clients.groups.FetchOffsets<pb.FetchOffsetsResponse__Output>({ groupId: 'g-lag' });
    expect(fetched.offsets.map((o) => [o.partition, o.offset, o.metadata])).toEqual([
      [0, 4, 'm0'],
      [1, 20, ''],
    ]);
    // Members are not durable: the member must rejoin.
    m.clients = clients;
    await expectStatus(m.heartbeat(), grpc.status.FAILED_PRECONDITION, 'UNKNOWN_MEMBER_ID');
    const list = await clients.groups.ListGroups<pb.ListGroupsResponse__Output>({});
    expect(list.groups).toContainEqual({ groupId: 'g-lag', state: 'Empty', memberCount: 0 });
    const reset = await clients.groups.ResetOffsets<pb.ResetOffsetsResponse__Output>({ groupId: 'g-lag', topic, to: 'RESET_TO_EARLIEST', dryRun: true });
    expect(reset.offsets.map((o) => o.offset)).toEqual([0, 0, 0]);
  });
});
