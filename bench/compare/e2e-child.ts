/**
 * W4 for one client, in a Node process of its own: an unrecorded warm-up run
 * on a topic of its own, a settle (sync, full GC, pause), then the recorded
 * run. run.ts starts one per client (`runEndToEndInChild`), after the step's
 * own settle.
 *
 * Why a process of its own: the harness process has by then run W1–W3 for
 * every client, and V8 carries decisions from those bursts into W4 — the
 * old-generation limit it set after the last forced GC, and object literals
 * it chose to allocate straight in the old generation while thousands of
 * records were in flight. In `node --expose-gc dist/bench/compare.js
 * --levels fsync` runs at e2da06c, Brook SDK's W4 p99 was 5.6 / 6.2 / 6.0 /
 * 18.7 ms, with a mark-compact every ~1 s of W4 in the slow one (--trace-gc);
 * see bench/README.md, "fourth pass". Every client's W4 now starts from a
 * fresh heap.
 *
 *   node --expose-gc dist/bench/compare/e2e-child.js '<EndToEndSpec as JSON>'
 *
 * Prints one line: {"histogram": "<HdrHistogram, compressed base64>"}.
 */
import * as hdr from 'hdr-histogram-js';
import { BrookGrpcDriver } from './brook';
import { BrookSdkDriver } from './brook-sdk';
import { NatsNodeDriver } from './nats';
import { RedisNodeDriver } from './redis';
import { settle } from './settle';
import { newHistogram } from './stats';
import type { Driver, Durability } from './workload';

export interface EndToEndSpec {
  readonly column: Driver['column'];
  /** Brook's host:port (brook-sdk, brook-grpc). */
  readonly address?: string;
  /** Redis's or the NATS server's port (redis-node, nats-node). */
  readonly port?: number;
  readonly level: Durability;
  readonly topic: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

function driverFor(spec: EndToEndSpec): Driver {
  const need = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`${spec.column} needs ${what}`);
    return value;
  };
  switch (spec.column) {
    case 'brook-sdk':
      return new BrookSdkDriver(need(spec.address, 'address'), spec.level);
    case 'brook-grpc':
      return new BrookGrpcDriver(need(spec.address, 'address'), spec.level);
    case 'redis-node':
      return new RedisNodeDriver(need(spec.port, 'port'));
    case 'nats-node':
      return new NatsNodeDriver(need(spec.port, 'port'));
    default:
      throw new Error(`no end-to-end driver for ${String(spec.column)}`);
  }
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as EndToEndSpec;
  const driver = driverFor(spec);
  try {
    await driver.createTopic(`${spec.topic}-warmup`, 1);
    await driver.endToEnd(`${spec.topic}-warmup`, spec.rate, spec.warmupMs, newHistogram());
    await settle();
    await driver.createTopic(spec.topic, 1);
    const histogram = newHistogram();
    await driver.endToEnd(spec.topic, spec.rate, spec.durationMs, histogram);
    process.stdout.write(`${JSON.stringify({ histogram: hdr.encodeIntoCompressedBase64(histogram) })}\n`);
  } finally {
    await driver.close();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (e: unknown) => {
      // The stack first, the message last: the parent reports the last lines.
      if (e instanceof Error && e.stack) console.error(e.stack);
      console.error(`W4 child failed: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
      process.exit(1);
    },
  );
}
