/**
 * `breakwater({ logger })` through both adapters: events are logged once each (a breaker
 * opening, a bulkhead filling up and draining), ordinary requests log nothing, `console`
 * works as the logger, and a logger without the four methods is refused at start-up.
 */
import { breakwater as expressBreakwater } from '@breakwater/express';
import { breakwater as koaBreakwater, type Logger } from '@breakwater/koa';
import Router from '@koa/router';
import express from 'express';
import Koa from 'koa';
import request from 'supertest';
import { afterEach, describe, expect, test, vi } from 'vitest';

type Handler = Parameters<typeof request>[0];
interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg?: string;
}

function recorder(): Logger & { lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: string) => (obj: object, msg?: string) => {
    lines.push({ level, obj: obj as Record<string, unknown>, msg });
  };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const FLAKY = { circuitBreaker: { consecutiveFailures: 3, openFor: '1m' } };
const NARROW = { bulkhead: { maxConcurrent: 1 } };

function expressApp(logger: Logger) {
  const bw = expressBreakwater({ metrics: false, logger });
  const app = express();
  app.use(bw.middleware());
  app.get('/ok', bw.route(), (_req, res) => res.json({ ok: true }));
  app.get('/flaky', bw.route(FLAKY), (_req, res) => res.status(500).end());
  app.get('/narrow', bw.route(NARROW), async (_req, res) => {
    await new Promise((r) => setTimeout(r, 50));
    res.end();
  });
  return { bw, handler: app as Handler };
}

function koaApp(logger: Logger) {
  const bw = koaBreakwater({ metrics: false, logger });
  const app = new Koa();
  const router = new Router();
  app.use(bw.middleware());
  router.get('/ok', bw.route(), (ctx) => {
    ctx.body = { ok: true };
  });
  router.get('/flaky', bw.route(FLAKY), (ctx) => {
    ctx.status = 500;
  });
  router.get('/narrow', bw.route(NARROW), async (ctx) => {
    await new Promise((r) => setTimeout(r, 50));
    ctx.status = 200;
  });
  app.use(router.routes());
  return { bw, handler: app.callback() as Handler };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(closers.splice(0).map((c) => c()));
});

describe.each([
  ['Express', expressApp],
  ['Koa', koaApp],
])('%s: breakwater({ logger })', (_name, make) => {
  function setup(logger: Logger) {
    const i = make(logger);
    closers.push(() => i.bw.close());
    return i;
  }

  test('ordinary requests log nothing; a breaker opening is one line however many requests it refuses', async () => {
    const log = recorder();
    const { handler } = setup(log);
    for (let i = 0; i < 20; i++) expect((await request(handler).get('/ok')).status).toBe(200);
    expect(log.lines).toEqual([]);
    for (let i = 0; i < 3; i++) expect((await request(handler).get('/flaky')).status).toBe(500);
    for (let i = 0; i < 20; i++) expect((await request(handler).get('/flaky')).status).toBe(503);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({
      level: 'warn',
      obj: {
        event: 'breaker_state_change',
        breaker: 'GET /flaky',
        from: 'closed',
        to: 'open',
        reason: 'consecutive-failures',
        lastFailureCode: 'HTTP_500',
      },
      msg: 'circuit breaker "GET /flaky" opened (consecutive-failures)',
    });
  });

  test('a bulkhead filling up and draining: one line each way', async () => {
    const log = recorder();
    const { handler } = setup(log);
    const statuses = await Promise.all(Array.from({ length: 6 }, () => request(handler).get('/narrow')));
    expect(statuses.map((r) => r.status).sort()).toEqual([200, 503, 503, 503, 503, 503]);
    expect(log.lines.map((l) => `${l.level} ${l.obj.event}`)).toEqual([
      'warn bulkhead_saturated',
      'info bulkhead_recovered',
    ]);
    expect(log.lines[0]!.obj).toMatchObject({ bulkhead: 'GET /narrow', active: 1, limit: 1 });
  });

  test('console works as the logger', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { handler } = setup(console);
    for (let i = 0; i < 5; i++) await request(handler).get('/flaky');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![0]).toMatchObject({ event: 'breaker_state_change', to: 'open' });
    expect(warn.mock.calls[0]![1]).toMatch(/opened/);
  });

  test('a logger without the four methods fails at start-up, naming the option', () => {
    expect(() => make({ info() {}, warn() {} } as never)).toThrow(
      /^breakwater\.logger: expected a logger with/,
    );
  });
});
