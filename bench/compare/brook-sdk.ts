/**
 * Brook through its own SDK: Producer (record_batch fast path), raw-fetch
 * PartitionReader and the group Consumer. Filled in once src/client exports
 * them; until then the SDK column stays empty.
 */
import type { Driver, Durability } from './workload';

export async function makeSdkDriver(_address: string, _level: Durability): Promise<Driver | undefined> {
  return undefined;
}
