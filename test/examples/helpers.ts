/**
 * Typed access to the examples (plain .mjs, run without a build step) and the stack the
 * example tests run against: the flaky upstream and a demo service, in this process.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const examples = new URL('../../examples/', import.meta.url);

/** Imports an examples module by its path under examples/ (they are .mjs, not typed). */
export function load<T>(path: string): Promise<T> {
  return import(new URL(path, examples).href) as Promise<T>;
}

export interface Check {
  name: string;
  ok: boolean;
  actual: string;
  expected: string;
}

export interface Summary {
  requests: number;
  unanswered: number;
  ok: number;
  errors: number;
  refused: number;
  errorRate: number;
  throughput: number;
  latency: { p50: number; p95: number; p99: number; max: number };
  refusals: Record<'rate_limited' | 'circuit_open' | 'bulkhead_full' | 'timeout', number>;
  /** Degraded answers (`Breakwater-Fallback`), and those by reason. */
  fallbacks: number;
  fallbacksBy: Record<string, number>;
  statuses: Record<string, number>;
}

export interface Transition {
  t: number;
  at: string;
  breaker: string;
  from: string;
  to: string;
  reason: string;
}

export interface ScenarioResult {
  name: string;
  title: string;
  durationS: number;
  summary: Summary;
  streams: Record<string, Summary>;
  series: Array<{ t: number; requests: number; refusals: Record<string, number> }>;
  markers: Array<{ t: number; label: string }>;
  breakers: { initial: Record<string, string>; transitions: Transition[] };
  pools: {
    initial: Record<string, string>;
    changes: Array<{ t: number; pool: string; from: string | null; to: string }>;
  };
  extra: Record<string, any>;
  checks: Check[];
  passed: boolean;
  error?: string;
}

export interface Scenario {
  name: string;
  duration: Record<'test' | 'demo' | 'full', number>;
}

export interface Upstream {
  url: string;
  set(patch: Record<string, unknown>): unknown;
  counts(): { requests: number; served: number; failed: number; refused: number };
  close(): Promise<void>;
}

export interface Service {
  url: string;
  demo: { startupRedisMode: 'redis' | 'fallback' | 'off'; redisMode: string };
  bw: { breakers: Iterable<{ name: string; state: string }> };
  close(): Promise<void>;
}

export type ServiceConfig = Record<string, any>;

export interface Modules {
  startUpstream(o?: Record<string, unknown>): Promise<Upstream>;
  resolveConfig(raw: unknown, env?: Record<string, string | undefined>, source?: string): ServiceConfig;
  readConfigFile(file: string): unknown;
  DEFAULT_CONFIG_FILE: string;
  startExpressService(c: ServiceConfig, o?: { log?: (l: string) => void }): Promise<Service>;
  startKoaService(c: ServiceConfig, o?: { log?: (l: string) => void }): Promise<Service>;
  startFastifyService(c: ServiceConfig, o?: { log?: (l: string) => void }): Promise<Service>;
  startHonoService(c: ServiceConfig, o?: { log?: (l: string) => void }): Promise<Service>;
  runScenario(s: Scenario, o: Record<string, unknown>): Promise<ScenarioResult>;
  scenarios: Record<'basic' | 'spike' | 'chaos' | 'endurance', Scenario>;
  writeHtmlReport(
    results: ScenarioResult[],
    o: { file: string; meta?: Record<string, unknown> },
  ): Promise<string>;
  scenarioReport(r: ScenarioResult): string;
}

export async function modules(): Promise<Modules> {
  const [up, cfg, ex, koa, fastify, hono, runner, sc, html, text] = await Promise.all([
    load<any>('upstream/upstream.mjs'),
    load<any>('shared/config.mjs'),
    load<any>('express-service/app.mjs'),
    load<any>('koa-service/app.mjs'),
    load<any>('fastify-service/app.mjs'),
    load<any>('hono-service/app.mjs'),
    load<any>('load/runner.mjs'),
    load<any>('load/scenarios.mjs'),
    load<any>('report/html.mjs'),
    load<any>('report/text.mjs'),
  ]);
  return {
    startUpstream: up.startUpstream,
    resolveConfig: cfg.resolveConfig,
    readConfigFile: cfg.readConfigFile,
    DEFAULT_CONFIG_FILE: cfg.DEFAULT_CONFIG_FILE,
    startExpressService: ex.startExpressService,
    startKoaService: koa.startKoaService,
    startFastifyService: fastify.startFastifyService,
    startHonoService: hono.startHonoService,
    runScenario: runner.runScenario,
    scenarios: sc.scenarios,
    writeHtmlReport: html.writeHtmlReport,
    scenarioReport: text.scenarioReport,
  };
}

export const ADMIN_TOKEN = 'test-admin-token';

/** The frameworks the demo service runs on. */
export const FRAMEWORKS = ['express', 'koa', 'fastify', 'hono'] as const;
export type Framework = (typeof FRAMEWORKS)[number];

const STARTERS = {
  express: 'startExpressService',
  koa: 'startKoaService',
  fastify: 'startFastifyService',
  hono: 'startHonoService',
} as const satisfies Record<Framework, keyof Modules>;

export interface Stack {
  m: Modules;
  upstream: Upstream;
  service: Service;
  close(): Promise<void>;
}

/**
 * The upstream and a service (`framework`) on free ports, configured from the demo's
 * YAML file with `env` on top (REDIS_URL passes through from the environment).
 */
export async function startStack(framework: Framework, env: Record<string, string> = {}): Promise<Stack> {
  const m = await modules();
  const upstream = await m.startUpstream({ latencyMs: 5, jitterMs: 3 });
  let service: Service;
  try {
    const config = m.resolveConfig(
      m.readConfigFile(m.DEFAULT_CONFIG_FILE),
      {
        PORT: '0',
        UPSTREAM_URL: upstream.url,
        ADMIN_TOKEN,
        WORKERS: '1',
        // Test files run side by side on one Redis: each stack counts its rate limits apart.
        REDIS_KEY_PREFIX: `bw-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}:`,
        ...(process.env.REDIS_URL && { REDIS_URL: process.env.REDIS_URL }),
        ...env,
      },
      m.DEFAULT_CONFIG_FILE,
    );
    service = await m[STARTERS[framework]](config);
  } catch (e) {
    await upstream.close();
    throw e;
  }
  return {
    m,
    upstream,
    service,
    async close() {
      await service.close();
      await upstream.close();
    },
  };
}

/** Runs a scenario at test scale against `stack`. */
export function run(stack: Stack, name: keyof Modules['scenarios']): Promise<ScenarioResult> {
  return stack.m.runScenario(stack.m.scenarios[name], {
    target: stack.service.url,
    upstream: stack.upstream.url,
    adminToken: ADMIN_TOKEN,
    scale: 'test',
  });
}

/** The checks of a result by name, for assertions that print what was measured. */
export function checks(r: ScenarioResult): Record<string, Check> {
  return Object.fromEntries(r.checks.map((c) => [c.name, c]));
}

/** Transitions of one breaker as 'from>to' strings. */
export function path(r: ScenarioResult, breaker: string): string[] {
  return r.breakers.transitions.filter((t) => t.breaker === breaker).map((t) => `${t.from}>${t.to}`);
}

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

/** The parts of playwright-core's Chromium launcher the tests use (installed with the examples). */
export interface Browser {
  newPage(o?: { viewport?: { width: number; height: number } }): Promise<any>;
  close(): Promise<void>;
}
export const chromium: { launch(o: { executablePath: string; args: string[] }): Promise<Browser> } =
  createRequire(new URL('package.json', examples))('playwright-core').chromium;

/** The launch options the example tests use for Debian's Chromium. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
