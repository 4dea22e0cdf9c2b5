/**
 * The alert rules pass `promtool check rules` and their unit tests (`promtool test rules`,
 * alerts.test.yml beside them), and a running example app's /metrics passes `promtool
 * check metrics` (Prometheus's own exposition linter).
 */
import { spawnSync } from 'node:child_process';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ExampleApp, loadExampleApp } from './exampleApp.js';
import { requireTool } from './tools.js';

const RULES = fileURLToPath(new URL('../../examples/observability/prometheus/alerts.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(
  new URL('../../examples/observability/prometheus/alerts.test.yml', import.meta.url),
);
const promtool = requireTool('promtool');

describe.skipIf(promtool === undefined)('promtool', () => {
  let example: ExampleApp;
  let server: Server;
  const agent = new Agent();
  let base = '';

  beforeAll(async () => {
    example = await loadExampleApp({ adminToken: 't' });
    server = await new Promise((r) => {
      const s = example.app.listen(0, '127.0.0.1', () => r(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await agent.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await example.bw.close();
  });

  async function get(path: string, headers: Record<string, string> = {}) {
    const r = await request(base + path, { dispatcher: agent, headers });
    return { status: r.statusCode, text: await r.body.text() };
  }

  test('promtool check rules accepts the alert rules', () => {
    const r = spawnSync(promtool!, ['check', 'rules', RULES], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS: 10 rules found');
    expect(r.status).toBe(0);
  });

  test('promtool test rules: each rule fires past its threshold and stays quiet below it', () => {
    const r = spawnSync(promtool!, ['test', 'rules', RULE_TESTS], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toContain('SUCCESS');
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  test('promtool check metrics accepts a live scrape with every policy in use', async () => {
    for (let i = 0; i < 7; i++) await get('/api/search');
    for (let i = 0; i < 4; i++) await get('/api/flaky?fail=1');
    await Promise.all([1, 2, 3, 4, 5].map(() => get('/api/report?ms=50')));
    await get('/api/items/1');
    await get('/api/items/2?fail=1');
    await get('/api/quote');
    await get('/api/recommendations?fail=1');
    await get('/nowhere');
    const scrape = await get('/metrics', { accept: 'text/plain' });
    expect(scrape.status).toBe(200);
    for (const family of [
      'http_request_duration_seconds',
      'rejections_total',
      'rate_limit_requests_total',
      'circuit_breaker_state',
      'circuit_breaker_transitions_total',
      'circuit_breaker_calls_total',
      'bulkhead_active',
      'bulkhead_queued',
      'bulkhead_limit',
      'bulkhead_rejected_total',
      'bulkhead_queue_wait_seconds',
      'pool_connections',
      'pool_pending_acquires',
      'pool_max_connections',
      'pool_acquire_duration_seconds',
      'pool_healthy',
      'pool_requests_total',
      'pool_request_duration_seconds',
      'pool_retries_total',
      'rate_limit_store_fallback',
      'fallbacks_total',
    ])
      expect(scrape.text).toContain(`# TYPE breakwater_${family} `);
    const r = spawnSync(promtool!, ['check', 'metrics'], { input: scrape.text, encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});
