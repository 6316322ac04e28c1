import { BrokerMetrics } from '../../src/server/metrics';

describe('BrokerMetrics method counters', () => {
  it('reports calls finished by status and calls in flight when scraped', async () => {
    const metrics = new BrokerMetrics(() => undefined);
    const produce = metrics.methodCounters('brook.v1.Log', 'Produce');
    const fetch = metrics.methodCounters('brook.v1.Log', 'Fetch');
    produce.inFlight += 3;
    produce.finish('OK');
    produce.finish('OK');
    fetch.inFlight++;
    let text = await metrics.registry.metrics();
    expect(text).toMatch(/brook_rpc_requests_total\{service="brook.v1.Log",method="Produce",code="OK"\} 2\n/);
    expect(text).toMatch(/brook_rpc_in_flight\{service="brook.v1.Log",method="Produce"\} 1\n/);
    expect(text).toMatch(/brook_rpc_in_flight\{service="brook.v1.Log",method="Fetch"\} 1\n/);
    expect(text).not.toMatch(/method="Fetch",code=/);
    fetch.finish('CANCELLED');
    produce.inFlight++;
    produce.finish('INVALID_ARGUMENT');
    // A second scrape reports the running totals, not what changed since the first.
    text = await metrics.registry.metrics();
    expect(text).toMatch(/brook_rpc_requests_total\{service="brook.v1.Log",method="Produce",code="OK"\} 2\n/);
    expect(text).toMatch(/brook_rpc_requests_total\{service="brook.v1.Log",method="Produce",code="INVALID_ARGUMENT"\} 1\n/);
    expect(text).toMatch(/brook_rpc_requests_total\{service="brook.v1.Log",method="Fetch",code="CANCELLED"\} 1\n/);
    expect(text).toMatch(/brook_rpc_in_flight\{service="brook.v1.Log",method="Fetch"\} 0\n/);
  });
});
