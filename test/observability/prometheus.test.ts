/**
 * The real client: a Prometheus server (Debian's package) scrapes a running example app
 * every second and evaluates the alert rules. After traffic that trips a breaker, hits a
 * rate limit, fails and retries pool calls, serves fallbacks and takes a rate-limit store
 * down, every PromQL expression of the Grafana dashboard and of the alert rules returns
 * data through Prometheus's HTTP API; the breaker-open and store-fallback alerts are
 * pending or firing, and each new rule's full expression holds for the component at fault.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type ExampleApp, loadExampleApp } from './exampleApp.js';
import { requireTool } from './tools.js';

const DIR = fileURLToPath(new URL('../../examples/observability/', import.meta.url));
const RULES = join(DIR, 'prometheus/alerts.yml');
const DASHBOARD = join(DIR, 'grafana/breakwater-dashboard.json');
const prometheus = requireTool('prometheus');

/** Every expression of the dashboard, with Grafana's interval variable filled in. */
function dashboardExprs(): string[] {
  const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Array<{ targets?: Array<{ expr: string }> }>;
  };
  return d.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', '30s')));
}

interface RuleExpr {
  alert: string;
  expr: string;
  /** The quantity before the final comparison with a number. */
  measured: string;
}

/**
 * Every alert expression as Prometheus loaded it, and the measured side of each: an
 * alert's full expression has data only while it holds, so the quantity must have data.
 */
function ruleExprs(
  groups: Array<{ rules: Array<{ name: string; query: string; type: string }> }>,
): RuleExpr[] {
  return groups.flatMap((g) =>
    g.rules
      .filter((r) => r.type === 'alerting')
      .map((r) => ({
        alert: r.name,
        expr: r.query,
        measured: r.query.trim().replace(/\s*(==|>=|<=|>|<|!=)\s*[-+.\de]+$/, ''),
      })),
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(prometheus === undefined)('Prometheus server against the example app', () => {
  let example: ExampleApp;
  const agent = new Agent();
  let server: Server;
  let appBase = '';
  let promBase = '';
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let dataDir = '';
  let log = '';

  async function get(url: string) {
    const r = await request(url, { dispatcher: agent });
    return { status: r.statusCode, text: await r.body.text(), headers: r.headers };
  }
  async function api<T>(path: string): Promise<T> {
    const r = await get(promBase + path);
    const body = JSON.parse(r.text) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
    return body.data;
  }
  async function query(expr: string) {
    return api<{
      resultType: string;
      result: Array<{ metric: Record<string, string>; value: [number, string] }>;
    }>(`/api/v1/query?query=${encodeURIComponent(expr)}`);
  }

  beforeAll(async () => {
    example = await loadExampleApp();
    server = await new Promise((r) => {
      const s = example.app.listen(0, '127.0.0.1', () => r(s));
    });
    appBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dataDir = mkdtempSync(join(tmpdir(), 'bw-prom-'));
    const config = join(dataDir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
        `rule_files: [${JSON.stringify(RULES)}]`,
        'scrape_configs:',
        '  - job_name: breakwater-example',
        `    static_configs: [{ targets: ['${appBase.slice('http://'.length)}'] }]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    promBase = `http://127.0.0.1:${port}`;
    child = spawn(
      prometheus!,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dataDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--web.enable-lifecycle',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (log += d));
    child.stderr!.on('data', (d) => (log += d));
    const c = child;
    exited = new Promise((r) => c.once('exit', () => r()));
    await until('Prometheus to be ready', async () =>
      (await get(`${promBase}/-/ready`)).status === 200 ? true : undefined,
    );
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGTERM');
    await exited;
    await agent.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await example?.bw.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test('dashboard and alert expressions return data; breaker-open and store-fallback alerts pend; each rule holds where due', async () => {
    try {
      // Traffic: rate limit hits, a tripped breaker, a full bulkhead, pooled reads.
      for (let i = 0; i < 8; i++) await get(`${appBase}/api/search`);
      for (let i = 0; i < 3; i++) expect((await get(`${appBase}/api/flaky?fail=1`)).status).toBe(502);
      expect((await get(`${appBase}/api/flaky`)).status).toBe(503);
      // Two run, two queue and get their slot, two are refused; then two queue past 200ms.
      await Promise.all([1, 2, 3, 4, 5, 6].map(() => get(`${appBase}/api/report?ms=80`)));
      await Promise.all([1, 2, 3, 4, 5, 6].map(() => get(`${appBase}/api/report?ms=300`)));
      await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((i) => get(`${appBase}/api/items/${i}`)));
      // Pool calls that fail after one retry each.
      for (let i = 0; i < 2; i++) expect((await get(`${appBase}/api/items/x?fail=1`)).status).toBe(502);
      // A failing handler degraded to its fallback.
      for (let i = 0; i < 2; i++) {
        const r = await get(`${appBase}/api/recommendations?fail=1`);
        expect(r.status).toBe(200);
        expect(r.headers['breakwater-fallback']).toBe('error');
      }
      // The shared store goes down: the limiter counts locally, the gauge says so.
      expect((await get(`${appBase}/api/quote`)).status).toBe(200);
      example.store.down = true;
      expect((await get(`${appBase}/api/quote`)).status).toBe(200);
      // Prometheus sees the open breaker, and the rule goes pending (for: 1m).
      await until('the breaker-open alert', async () => {
        const alerts = await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(
          '/api/v1/alerts',
        );
        return alerts.alerts.find(
          (a) =>
            a.labels.alertname === 'BreakwaterCircuitBreakerOpen' && a.labels.breaker === 'GET /api/flaky',
        );
      }).then((a) => expect(['pending', 'firing']).toContain(a.state));
      await until('the store-fallback alert', async () => {
        const alerts = await api<{ alerts: Array<{ labels: Record<string, string>; state: string }> }>(
          '/api/v1/alerts',
        );
        return alerts.alerts.find(
          (a) =>
            a.labels.alertname === 'BreakwaterRateLimitStoreOnFallback' &&
            a.labels.limiter === 'GET /api/quote',
        );
      }).then((a) => expect(['pending', 'firing']).toContain(a.state));
      // A little more traffic so every rate() has two samples with a change in its window.
      await until('rates over the traffic', async () => {
        await get(`${appBase}/api/search`);
        await get(`${appBase}/api/items/9`);
        await get(`${appBase}/api/items/y?fail=1`);
        await get(`${appBase}/api/flaky`);
        await get(`${appBase}/api/recommendations?fail=1`);
        const r = await query('sum(rate(breakwater_rejections_total[30s])) > 0');
        const f = await query('sum(rate(breakwater_fallbacks_total[30s])) > 0');
        return r.result.length > 0 && f.result.length > 0 ? true : undefined;
      });

      const rules = ruleExprs(
        (await api<{ groups: Parameters<typeof ruleExprs>[0] }>('/api/v1/rules')).groups,
      );
      expect(rules.map((r) => r.alert).sort()).toEqual([
        'BreakwaterCircuitBreakerOpen',
        'BreakwaterFallbacksServed',
        'BreakwaterHighP99Latency',
        'BreakwaterHighRefusalRatio',
        'BreakwaterPoolExhausted',
        'BreakwaterPoolHighErrorRatio',
        'BreakwaterPoolHighRetryRatio',
        'BreakwaterPoolUnhealthy',
        'BreakwaterRateLimitStoreOnFallback',
        'BreakwaterRouteHigh5xxRatio',
      ]);
      const exprs = dashboardExprs();
      expect(exprs.length).toBeGreaterThanOrEqual(28);
      for (const metric of [
        'breakwater_pool_request_duration_seconds_bucket',
        'breakwater_pool_retries_total',
        'breakwater_fallbacks_total',
        'breakwater_rate_limit_store_fallback',
        'status_class',
      ])
        expect(
          exprs.some((e) => e.includes(metric)),
          `a panel reads ${metric}`,
        ).toBe(true);
      const empty: string[] = [];
      for (const expr of exprs) if ((await query(expr)).result.length === 0) empty.push(expr);
      for (const r of rules) {
        expect(r.measured, `${r.alert} compares its quantity with a threshold`).not.toBe(r.expr);
        if ((await query(r.measured)).result.length === 0) empty.push(r.measured);
      }
      expect(empty, 'expressions without data').toEqual([]);

      // The full breaker rule holds now, for the right breaker.
      const open = await query(rules.find((r) => r.alert === 'BreakwaterCircuitBreakerOpen')!.expr);
      expect(open.result.map((s) => s.metric.breaker)).toEqual(['GET /api/flaky']);
      // So do the new rules, each for the component at fault.
      const holds = async (alert: string, label: string) =>
        (await query(rules.find((r) => r.alert === alert)!.expr)).result.map((s) => s.metric[label]).sort();
      // The request histogram labels routes by pattern; a fallback's answer is a 200 there.
      expect(await holds('BreakwaterRouteHigh5xxRatio', 'route')).toContain('/api/flaky');
      expect(await holds('BreakwaterRouteHigh5xxRatio', 'route')).not.toContain('/api/recommendations');
      expect(await holds('BreakwaterPoolHighErrorRatio', 'pool')).toEqual(['catalog-db']);
      expect(await holds('BreakwaterPoolHighRetryRatio', 'pool')).toEqual(['catalog-db']);
      expect(await holds('BreakwaterFallbacksServed', 'route')).toEqual(['GET /api/recommendations']);
      expect(await holds('BreakwaterRateLimitStoreOnFallback', 'limiter')).toEqual(['GET /api/quote']);
      // Pool calls by status class, and the new gauge's healthy side.
      const classes = await query('sum by (status_class) (breakwater_pool_requests_total) > 0');
      expect(classes.result.map((s) => s.metric.status_class).sort()).toEqual(['2xx', '5xx']);
      // The refusals were scraped with their reasons.
      const reasons = await query('sum by (reason) (breakwater_rejections_total) > 0');
      expect(reasons.result.map((s) => s.metric.reason).sort()).toEqual(
        expect.arrayContaining(['bulkhead_full', 'circuit_open', 'rate_limited']),
      );
    } catch (e) {
      console.error(`Prometheus log:\n${log}`);
      throw e;
    }
  }, 40_000);
});
