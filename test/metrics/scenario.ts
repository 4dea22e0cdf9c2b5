/**
 * One scripted sequence run against an Express and a Koa app: allowed, rate limited,
 * breaker tripped and recovered, bulkhead full, timed out. Both apps mount the same
 * routes with the same policies, so one table of expected metrics serves both.
 */
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { expect } from 'vitest';
import { gate, type ManualClock, parseExposition, type Sample, series, settle } from './support.js';

/** Policies of the scenario's routes. */
export const POLICIES = {
  limited: { rateLimit: { limit: 2, window: '1m' } },
  flaky: { circuitBreaker: { consecutiveFailures: 2, openFor: '10s' } },
  bulk: { bulkhead: { maxConcurrent: 1 } },
  slow: { timeout: '100ms' },
} as const;

/** What the handlers wait on; the script opens them. */
export interface Gates {
  bulk: ReturnType<typeof gate>;
  slow: ReturnType<typeof gate>;
  /** Opened by the handlers as they start. */
  inBulk: ReturnType<typeof gate>;
  inSlow: ReturnType<typeof gate>;
  /** Lets every held handler finish. */
  openAll(): void;
}

export function newGates(): Gates {
  const g = { bulk: gate(), slow: gate(), inBulk: gate(), inSlow: gate() };
  return {
    ...g,
    openAll: () => {
      for (const x of Object.values(g)) x.open();
    },
  };
}

/** A test client on one keep-alive agent, closed with the server. */
export class Client {
  readonly agent = new Agent({ connections: 32 });
  constructor(readonly base: string) {}

  static of(server: import('node:http').Server): Client {
    return new Client(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  }

  async get(path: string, headers: Record<string, string> = {}) {
    const r = await request(this.base + path, { dispatcher: this.agent, headers });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }

  async post(path: string, body: unknown, headers: Record<string, string> = {}) {
    const r = await request(this.base + path, {
      method: 'POST',
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    const text = await r.body.text();
    return { status: r.statusCode, headers: r.headers, text };
  }

  async scrape(): Promise<Sample[]> {
    await settle();
    const r = await this.get('/metrics');
    expect(r.status).toBe(200);
    return parseExposition(r.text);
  }

  close(): Promise<void> {
    return this.agent.destroy();
  }
}

const P = 'breakwater_';
const notMetrics = (l: Record<string, string>) => l.route !== '/metrics';

/** Runs the script and checks every value. */
export async function runScenario(c: Client, clock: ManualClock, gates: Gates): Promise<void> {
  // Allowed, allowed, limited.
  expect((await c.get('/limited')).status).toBe(200);
  expect((await c.get('/limited')).status).toBe(200);
  expect((await c.get('/limited')).status).toBe(429);

  // Two failures trip the breaker; the next call is refused while it is open.
  expect((await c.get('/flaky?fail=1')).status).toBe(500);
  expect((await c.get('/flaky?fail=1')).status).toBe(500);
  let s = await c.scrape();
  expect(series(s, `${P}circuit_breaker_state`)).toEqual({ 'breaker=GET /flaky': 1 });
  expect((await c.get('/flaky')).status).toBe(503);
  // After openFor the probe succeeds and the breaker closes.
  clock.advance(10_000);
  expect((await c.get('/flaky')).status).toBe(200);

  // One request holds the only slot: the next is refused.
  const held = c.get('/bulk');
  await gates.inBulk.promise;
  s = await c.scrape();
  expect(series(s, `${P}bulkhead_active`)).toEqual({ 'bulkhead=GET /bulk': 1 });
  expect(series(s, `${P}bulkhead_queued`)).toEqual({ 'bulkhead=GET /bulk': 0 });
  expect(series(s, `${P}bulkhead_limit`)).toEqual({ 'bulkhead=GET /bulk': 1 });
  expect((await c.get('/bulk')).status).toBe(503);
  gates.bulk.open();
  expect((await held).status).toBe(200);

  // The deadline passes while the handler still runs.
  const slow = c.get('/slow');
  await gates.inSlow.promise;
  // DeadlineList checks deadlines up to 1ms late, so near-equal ones share a wake-up.
  clock.advance(101);
  expect((await slow).status).toBe(503);
  gates.slow.open();

  s = await c.scrape();
  expect(series(s, `${P}rate_limit_requests_total`)).toEqual({
    'limiter=GET /limited,result=allowed': 2,
    'limiter=GET /limited,result=limited': 1,
  });
  expect(series(s, `${P}rejections_total`)).toEqual({
    'reason=rate_limited,route=GET /limited': 1,
    'reason=circuit_open,route=GET /flaky': 1,
    'reason=bulkhead_full,route=GET /bulk': 1,
    'reason=timeout,route=GET /slow': 1,
  });
  expect(series(s, `${P}circuit_breaker_state`)).toEqual({ 'breaker=GET /flaky': 0 });
  expect(series(s, `${P}circuit_breaker_transitions_total`)).toEqual({
    'breaker=GET /flaky,from=closed,to=open': 1,
    'breaker=GET /flaky,from=open,to=half_open': 1,
    'breaker=GET /flaky,from=half_open,to=closed': 1,
  });
  expect(series(s, `${P}circuit_breaker_calls_total`)).toEqual({
    'breaker=GET /flaky,result=success': 1,
    'breaker=GET /flaky,result=failure': 2,
    'breaker=GET /flaky,result=slow': 0,
    'breaker=GET /flaky,result=rejected': 1,
  });
  expect(series(s, `${P}bulkhead_active`)).toEqual({ 'bulkhead=GET /bulk': 0 });
  expect(series(s, `${P}bulkhead_rejected_total`)).toEqual({ 'bulkhead=GET /bulk': 1 });
  // Nothing queued (maxQueue 0): the wait histogram has a series with no observations.
  expect(series(s, `${P}bulkhead_queue_wait_seconds_count`)).toEqual({ 'bulkhead=GET /bulk': 0 });
  expect(series(s, `${P}http_request_duration_seconds_count`, notMetrics)).toEqual({
    'method=GET,route=/limited,status_code=200': 2,
    'method=GET,route=/limited,status_code=429': 1,
    'method=GET,route=/flaky,status_code=500': 2,
    'method=GET,route=/flaky,status_code=503': 1,
    'method=GET,route=/flaky,status_code=200': 1,
    'method=GET,route=/bulk,status_code=200': 1,
    'method=GET,route=/bulk,status_code=503': 1,
    'method=GET,route=/slow,status_code=503': 1,
  });
  // Durations come from the injected clock: the timed-out request took exactly 101ms.
  expect(series(s, `${P}http_request_duration_seconds_sum`)['method=GET,route=/slow,status_code=503']).toBe(
    0.101,
  );
  expect(
    series(s, `${P}http_request_duration_seconds_bucket`)['le=0.25,method=GET,route=/slow,status_code=503'],
  ).toBe(1);

  // An unmatched request shares one label; the scrapes themselves are labelled /metrics.
  expect((await c.get('/nowhere/1')).status).toBe(404);
  expect((await c.get('/nowhere/2')).status).toBe(404);
  s = await c.scrape();
  expect(series(s, `${P}http_request_duration_seconds_count`, (l) => l.route === '<unmatched>')).toEqual({
    'method=GET,route=<unmatched>,status_code=404': 2,
  });
  expect(
    Object.keys(series(s, `${P}http_request_duration_seconds_count`, (l) => l.route === '/metrics')),
  ).toEqual(['method=GET,route=/metrics,status_code=200']);
}

/** 10,000 distinct URLs of one route: one label set. */
export async function runCardinality(c: Client): Promise<void> {
  const N = 10_000;
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const r = await c.get(`/users/${i}?q=${i}`);
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const s = await c.scrape();
  expect(series(s, `${P}http_request_duration_seconds_count`, notMetrics)).toEqual({
    'method=GET,route=/users/:id,status_code=200': N,
  });
}
