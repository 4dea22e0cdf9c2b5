import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestHistogram } from './RequestHistogram.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAME = 'x_http_request_duration_seconds';

function pair() {
  const a = new Registry();
  const b = new Registry();
  const ours = new RequestHistogram(NAME, 'help text', BUCKETS, a);
  const theirs = new Histogram({
    name: NAME,
    help: 'help text',
    labelNames: ['method', 'route', 'status_code'],
    buckets: BUCKETS,
    registers: [b],
  });
  return { a, b, ours, theirs };
}

const sample = fc.record({
  method: fc.constantFrom('GET', 'POST'),
  route: fc.constantFrom('/a', '/b/:id', '<unmatched>'),
  status: fc.constantFrom('200', '404', '503'),
  // Bucket bounds themselves included: `le` is inclusive.
  seconds: fc.oneof(fc.constantFrom(...BUCKETS, 0, 20), fc.double({ min: 0, max: 30, noNaN: true })),
});

describe('RequestHistogram', () => {
  it('exposes exactly what a prom-client Histogram fed the same values exposes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(sample, { maxLength: 60 }), async (samples) => {
        const { a, b, ours, theirs } = pair();
        for (const s of samples) {
          ours.child(s.method, s.route, s.status).observe(s.seconds);
          theirs.labels({ method: s.method, route: s.route, status_code: s.status }).observe(s.seconds);
        }
        expect(await a.metrics()).toBe(await b.metrics());
        a.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
        b.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
        expect(await a.metrics()).toBe(await b.metrics());
        expect(await a.getMetricsAsJSON()).toEqual(await b.getMetricsAsJSON());
      }),
      { numRuns: 50 },
    );
  });

  it('is found by name in its registry, and a second metric of that name is refused', () => {
    const r = new Registry();
    const h = new RequestHistogram(NAME, 'help', BUCKETS, r);
    expect(r.getSingleMetric(NAME) as unknown).toBe(h);
    expect(() => new Histogram({ name: NAME, help: 'h', registers: [r] })).toThrow(/already been registered/);
  });

  it('resetMetrics() zeroes the series; cached children keep counting', async () => {
    const r = new Registry();
    const h = new RequestHistogram(NAME, 'help', BUCKETS, r);
    const c = h.child('GET', '/a', '200');
    c.observe(0.2);
    r.resetMetrics();
    expect(await r.metrics()).not.toContain('_count');
    c.observe(0.3);
    expect(await r.metrics()).toContain(`${NAME}_count{method="GET",route="/a",status_code="200"} 1`);
    expect(await r.metrics()).toContain(
      `${NAME}_bucket{le="0.25",method="GET",route="/a",status_code="200"} 0`,
    );
  });
});
