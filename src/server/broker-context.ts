/** What the broker hands every service factory (kept apart from broker.ts so services do not import the composition). */
import type { Clock } from '../common/clock';
import type { GroupCoordinator } from '../coordinator';
import type { BrokerConfig } from './config';
import type { Logger } from './logger';
import type { BrokerMetrics } from './metrics';
import type { ProducerIdAllocator, TopicStore } from './store-interface';

export interface BrokerContext {
  readonly config: BrokerConfig;
  readonly store: TopicStore;
  readonly producerIds: ProducerIdAllocator;
  readonly coordinator: GroupCoordinator;
  readonly logger: Logger;
  readonly metrics: BrokerMetrics;
  /** Aborted when graceful shutdown starts; long polls answer and streams end. */
  readonly shutdown: AbortSignal;
  /** Broker time: stamped into records sent with timestamp_ms 0 and under LogAppendTime. */
  readonly clock: Clock;
}
