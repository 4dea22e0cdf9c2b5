/**
 * The load generator, in its own process so it never shares an event loop with a server.
 * Started once per suite with `startLoadGenerator()`; each `run()` is one autocannon run.
 */
import autocannon from 'autocannon';
import { serve } from './worker.mjs';

serve({
  async run(o) {
    const result = await autocannon({
      url: o.url,
      connections: o.connections,
      pipelining: o.pipelining ?? 1,
      // autocannon ends a run on its sampling tick: a short tick lets short runs end on time.
      sampleInt: o.amount || o.duration < 2 ? 100 : 1000,
      ...(o.amount ? { amount: o.amount } : { duration: o.duration }),
    });
    const seconds = result.duration || 1;
    return {
      rps: result.requests.total / seconds,
      requests: result.requests.total,
      seconds,
      latencyP50: result.latency.p50,
      latencyP99: result.latency.p99,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
    };
  },
});
