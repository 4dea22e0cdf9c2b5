/**
 * The load scenarios, short (test scale: seconds), against the Express demo service and
 * the flaky upstream in this process: each shows what it should (refusals by reason
 * when and only when expected, breaker transitions in order, every request answered),
 * and the HTML report built from them renders its charts in headless Chromium.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { REDIS_URL, reachable } from '../helpers/redis-server.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  checks,
  chromium,
  hasChromium,
  path,
  run,
  type ScenarioResult,
  type Stack,
  startStack,
} from './helpers.js';

let stack: Stack;
let redisUp = false;
const results: ScenarioResult[] = [];
const dir = mkdtempSync(join(tmpdir(), 'bw-examples-'));

/** Prints the checks a scenario missed, to explain an assertion failing below. */
function explain(r: ScenarioResult): string {
  return r.checks
    .filter((c) => !c.ok)
    .map((c) => `${c.name}: ${c.actual} (expected ${c.expected})`)
    .join('; ');
}

beforeAll(async () => {
  redisUp = await reachable(REDIS_URL);
  if (!redisUp) {
    if (process.env.CI === 'true') throw new Error(`Redis is not reachable at ${REDIS_URL} (CI=true)`);
    console.warn(
      `\n!!! Redis not reachable at ${REDIS_URL}: the example scenarios run on the in-process fallbacks\n`,
    );
  }
  stack = await startStack('express');
});

afterAll(async () => {
  await stack?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Express demo service under the load scenarios', () => {
  test('starts on Redis when Redis is there', () => {
    expect(stack.service.demo.startupRedisMode).toBe(redisUp ? 'redis' : 'fallback');
  });

  test('basic: moderate load is served without any refusal', async () => {
    const r = await run(stack, 'basic');
    results.push(r);
    const s = r.summary;
    expect(r.error).toBeUndefined();
    expect(s.unanswered, explain(r)).toBe(0);
    expect(s.refusals).toEqual({ rate_limited: 0, circuit_open: 0, bulkhead_full: 0, timeout: 0 });
    expect(s.errors, explain(r)).toBe(0);
    for (const name of ['external-data', 'cache-get', 'cache-post', 'health', 'heavy-computation'])
      expect(r.streams[name]?.ok, name).toBeGreaterThan(0);
    expect(r.breakers.transitions).toEqual([]);
  });

  test('spike: the bulkhead sheds the heavy burst, the rate limit the flood, steady clients are untouched', async () => {
    const r = await run(stack, 'spike');
    results.push(r);
    const heavy = r.streams['burst heavy-computation']!;
    const flood = r.streams['burst cache-get']!;
    expect(r.summary.unanswered, explain(r)).toBe(0);
    // Each burst is refused for its own reason, and only for it.
    expect(heavy.refusals.bulkhead_full).toBeGreaterThan(0);
    expect(heavy.refusals.rate_limited).toBe(0);
    expect(heavy.ok).toBeGreaterThan(0);
    expect(flood.refusals.rate_limited).toBeGreaterThan(0);
    expect(flood.refusals.bulkhead_full).toBe(0);
    expect(r.summary.refusals.circuit_open).toBe(0);
    expect(r.summary.refusals.timeout).toBe(0);
    for (const name of ['steady external-data', 'steady cache-get']) {
      const s = r.streams[name]!;
      expect(s.refused + s.errors, name).toBe(0);
    }
    // /health kept answering while the worker threads were saturated.
    expect(r.extra.healthDuringHeavy.probes).toBeGreaterThan(5);
    expect(checks(r)['heavy burst: shed by the bulkhead only']?.ok).toBe(true);
    // What the clients saw is what the service's breakwater_rejections_total counted.
    expect(checks(r)["the service's metrics count the same refusals"]?.ok, explain(r)).toBe(true);
  });

  test('chaos: both breakers go closed → open → half-open → closed, in order, and refuse fast meanwhile', async () => {
    const r = await run(stack, 'chaos');
    results.push(r);
    const s = r.summary;
    expect(s.unanswered, explain(r)).toBe(0);
    expect(s.refusals.circuit_open).toBeGreaterThan(0);
    expect({ ...s.refusals, circuit_open: 0 }).toEqual({
      rate_limited: 0,
      circuit_open: 0,
      bulkhead_full: 0,
      timeout: 0,
    });
    for (const breaker of ['upstream', 'GET /api/error-prone']) {
      const p = path(r, breaker);
      expect(p[0], `${breaker}: ${p.join(' ')}`).toBe('closed>open');
      expect(p.at(-1), `${breaker}: ${p.join(' ')}`).toBe('half-open>closed');
      // Every step follows from the one before: open → half-open → (open | closed) → …
      for (let i = 1; i < p.length; i++)
        expect(p[i]!.split('>')[0], p.join(' ')).toBe(p[i - 1]!.split('>')[1]);
      expect(checks(r)[`breaker ${breaker}: closed → open → half-open → closed`]?.ok).toBe(true);
    }
    // Transitions are timestamped in order.
    const times = r.breakers.transitions.map((t) => Date.parse(t.at));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    // The upstream pool saw the outage through its health checks, and the recovery.
    const pool = r.pools.changes.filter((c) => c.pool === 'upstream').map((c) => c.to);
    expect(pool).toContain('fail');
    expect(pool.at(-1)).toBe('pass');
    expect(checks(r)['after recovery: no refusals']?.ok, explain(r)).toBe(true);
    expect(checks(r)["the service's metrics count the same refusals"]?.ok, explain(r)).toBe(true);
    // external-data degraded instead of refusing: its stale copy went out, marked, while the
    // upstream was down or its breaker open; the service's breakwater_fallbacks_total agrees.
    const ext = r.streams['external-data']!;
    expect(ext.fallbacks, explain(r)).toBeGreaterThan(0);
    expect(s.fallbacks).toBe(ext.fallbacks);
    expect(Object.keys(ext.fallbacksBy).every((k) => ['error', 'circuit_open', 'timeout'].includes(k))).toBe(
      true,
    );
    expect(checks(r)['external-data degrades: stale copies served while the upstream is down']?.ok).toBe(
      true,
    );
    expect(checks(r)["the service's metrics count the same fallbacks"]?.ok, explain(r)).toBe(true);
    // Nothing left broken for the next scenario.
    for (const b of stack.service.bw.breakers) expect(`${b.name}: ${b.state}`).toBe(`${b.name}: closed`);
  });

  test('endurance: sustained load with no refusals; heap and handles come back', async () => {
    const r = await run(stack, 'endurance');
    results.push(r);
    const c = checks(r);
    expect(r.summary.unanswered, explain(r)).toBe(0);
    expect(r.summary.refusals).toEqual({ rate_limited: 0, circuit_open: 0, bulkhead_full: 0, timeout: 0 });
    expect(r.summary.errors).toBe(0);
    expect(r.extra.before?.handles).toBeGreaterThan(0);
    expect(c['open handles back to where they were (±4)']?.ok, explain(r)).toBe(true);
    expect(c['heap after load within 32 MB of before']?.ok, explain(r)).toBe(true);
    expect(r.extra.before.redis).toBe(redisUp ? 'redis' : 'fallback');
  });

  test('the HTML report renders its charts in headless Chromium', async () => {
    expect(results.map((r) => r.name)).toEqual(['basic', 'spike', 'chaos', 'endurance']);
    if (!hasChromium()) {
      if (process.env.CI === 'true') throw new Error(`${CHROMIUM} is missing (CI=true)`);
      console.warn(
        `\n!!! ${CHROMIUM} not found: SKIPPING the HTML report's browser check (apt-get install chromium)\n`,
      );
      return;
    }
    const file = await stack.m.writeHtmlReport(results, {
      file: join(dir, 'report.html'),
      meta: { framework: 'express' },
    });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const problems: string[] = [];
      const fetched: string[] = [];
      page.on('console', (m: any) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e: Error) => problems.push(`pageerror: ${e.message}`));
      page.on('request', (req: any) => fetched.push(req.url()));
      await page.goto(`file://${file}`, { waitUntil: 'load' });

      // Self-contained: the only thing loaded is the file itself.
      expect(fetched.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
      expect(await page.locator('section.scenario').count()).toBe(4);
      for (const name of ['basic', 'spike', 'chaos', 'endurance']) {
        const section = page.locator(`section[data-scenario="${name}"]`);
        for (const kind of ['latency', 'throughput', 'refusals', 'breakers']) {
          const chart = section.locator(`svg[data-chart="${kind}"]`);
          expect(await chart.count(), `${name} ${kind}`).toBe(1);
          const box = await chart.boundingBox();
          expect(box?.width ?? 0, `${name} ${kind} width`).toBeGreaterThan(300);
          expect(box?.height ?? 0, `${name} ${kind} height`).toBeGreaterThan(100);
        }
        // Latency and throughput are drawn as lines with real geometry.
        const d = await section.locator('svg[data-chart="latency"] path.line').first().getAttribute('d');
        expect(d?.split('L').length ?? 0, `${name} latency points`).toBeGreaterThanOrEqual(3);
        expect(await section.locator('svg[data-chart="throughput"] path.line').count()).toBeGreaterThan(0);
      }
      const spike = page.locator('section[data-scenario="spike"]');
      expect(
        await spike.locator('svg[data-chart="refusals"] rect[data-key="rate_limited"]').count(),
      ).toBeGreaterThan(0);
      expect(
        await spike.locator('svg[data-chart="refusals"] rect[data-key="bulkhead_full"]').count(),
      ).toBeGreaterThan(0);
      expect(await spike.locator('svg[data-chart="health"] path.line').count()).toBe(1);
      const chaos = page.locator('section[data-scenario="chaos"]');
      expect(
        await chaos.locator('svg[data-chart="refusals"] rect[data-key="circuit_open"]').count(),
      ).toBeGreaterThan(0);
      // Fallbacks served are drawn beside the refusals, and have their column in the table.
      expect(
        await chaos.locator('svg[data-chart="refusals"] rect[data-key="fallbacks"]').count(),
      ).toBeGreaterThan(0);
      expect(await chaos.locator('table.streams th', { hasText: 'fallbacks' }).count()).toBe(1);
      for (const state of ['closed', 'open', 'half-open'])
        expect(
          await chaos.locator(`svg[data-chart="breakers"] rect[data-state="${state}"]`).count(),
          state,
        ).toBeGreaterThan(0);
      expect(
        await page.locator('section[data-scenario="basic"] svg[data-chart="refusals"] rect.bar').count(),
      ).toBe(0);
      expect(
        await page.locator('section[data-scenario="endurance"] svg[data-chart="runtime"] path.line').count(),
      ).toBe(2);
      // The raw data rides along and parses.
      const data = JSON.parse((await page.locator('#report-data').textContent()) ?? '{}');
      expect(data.results).toHaveLength(4);
      expect(problems).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
