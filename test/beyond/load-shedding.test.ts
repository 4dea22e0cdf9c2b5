/**
 * Priority load shedding in real Express and Koa apps: a CPU-saturating burst on
 * sheddable and normal routes drives the shed level up; those routes answer 503
 * problem+json (temporary-reduced-capacity) while a critical route keeps answering 200;
 * after the burst the level returns to 0 and every route answers 200 again.
 */
import http from 'node:http';
import { Registry } from 'prom-client';
import request from 'supertest';
import { afterEach, describe, expect, test } from 'vitest';
import { flavors, type RouteDef, sleep, type TestApp, until } from '../helpers/apps.js';

/** Holds the event loop for `ms`, as a CPU-bound handler does. */
function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {}
}

const routes: RouteDef[] = [
  {
    path: '/feed',
    policy: { priority: 'sheddable' },
    handler: () => {
      burn(15);
      return { status: 200, body: { feed: [] } };
    },
  },
  {
    path: '/report',
    policy: { timeout: '10s' }, // normal by default
    handler: () => {
      burn(15);
      return { status: 200, body: { report: 'ok' } };
    },
  },
  { path: '/pay', policy: { priority: 'critical' }, handler: () => ({ status: 200, body: { paid: true } }) },
];

const overload = {
  sampleInterval: '50ms',
  maxEventLoopDelay: '40ms',
  maxEventLoopUtilization: 0.9,
  escalateAfter: 2,
  recoverAfter: 3,
};

interface Answer {
  path: string;
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** Keeps `workers` requests in flight per path until stopped; records every answer. */
function hammer(url: string, paths: string[], workers: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: workers * paths.length });
  const answers: Answer[] = [];
  let stopped = false;
  const get = (path: string) =>
    new Promise<void>((resolve) => {
      const req = http.get(`${url}${path}`, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => {
          answers.push({ path, status: res.statusCode!, body, headers: res.headers });
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => resolve());
    });
  const loops = paths.flatMap((p) =>
    Array.from({ length: workers }, async () => {
      while (!stopped) await get(p);
    }),
  );
  return {
    answers,
    async stop() {
      stopped = true;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

describe.each(flavors.filter((f) => f.name === 'express 5' || f.name === 'koa 3'))('$name', (flavor) => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('a CPU burst sheds sheddable then normal routes; critical keeps answering; all recover', async () => {
    const registry = new Registry();
    app = await flavor.make(routes, { registry, overload } as never);
    const { url } = app;
    const core = app.bw.core;
    const shedder = core.overload!.shedder;
    const levels: number[] = [];
    core.overload!.shedder.onLevelChange((c) => levels.push(c.to));

    for (const p of ['/feed', '/report', '/pay']) expect((await request(url).get(p)).status).toBe(200);
    // A calm start: on a machine busy with other work the loop may read as loaded for a moment.
    await until(() => shedder.level === 0, 5000, 'the shedder at level 0 before the burst');
    levels.length = 0;

    const burst = hammer(url, ['/feed', '/report'], 6);
    const pay: number[] = [];
    let reachedTwo = false;
    try {
      // Probe the critical route at a modest rate while the burst runs.
      const end = Date.now() + 8000;
      while (Date.now() < end) {
        const r = await request(url).get('/pay');
        pay.push(r.status);
        if (shedder.level === 2) reachedTwo = true;
        const shedBoth = ['/feed', '/report'].every((p) =>
          burst.answers.some((a) => a.path === p && a.status === 503),
        );
        if (reachedTwo && shedBoth && pay.length >= 5) break;
        await sleep(20);
      }
    } finally {
      await burst.stop();
    }

    expect(levels[0]).toBe(1);
    expect(reachedTwo || levels.includes(2)).toBe(true);
    expect(pay.length).toBeGreaterThanOrEqual(5);
    expect(pay.every((s) => s === 200)).toBe(true);

    const shed = burst.answers.filter((a) => a.status === 503);
    expect(shed.map((a) => a.path)).toEqual(expect.arrayContaining(['/feed', '/report']));
    // Sheddable goes first: the first refusal of the burst is a sheddable route's.
    expect(burst.answers.find((a) => a.status === 503)!.path).toBe('/feed');
    for (const a of shed) {
      expect(a.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(a.body)).toMatchObject({
        type: 'https://iana.org/assignments/http-problem-types#temporary-reduced-capacity',
        title: 'Service Unavailable',
        status: 503,
        code: 'OVERLOADED',
      });
    }
    // Nothing but shedding refused anything, and nothing failed.
    expect(burst.answers.every((a) => a.status === 200 || a.status === 503)).toBe(true);

    // After the burst the level comes back down and every route answers again.
    await until(() => shedder.level === 0, 5000);
    for (const p of ['/feed', '/report', '/pay']) expect((await request(url).get(p)).status).toBe(200);

    const metrics = await registry.metrics();
    const count = (route: string) =>
      Number(
        new RegExp(
          `^breakwater_rejections_total\\{route="GET ${route}",reason="overloaded"\\} (\\d+)$`,
          'm',
        ).exec(metrics)?.[1],
      );
    expect(count('/feed')).toBe(shed.filter((a) => a.path === '/feed').length);
    expect(count('/report')).toBe(shed.filter((a) => a.path === '/report').length);
    expect(metrics).not.toMatch(
      /route="POST \/pay",reason="overloaded"|route="GET \/pay",reason="overloaded"/,
    );
    expect(metrics).toMatch(/^breakwater_overload_level 0$/m);

    const report = await core.health.report();
    expect(report.checks.overload![0]).toMatchObject({ status: 'pass', critical: false });

    // bw.close() stops the sampling timer.
    expect(core.overload!.monitor.isRunning).toBe(true);
    await app.close();
    app = undefined;
    expect(core.overload!.monitor.isRunning).toBe(false);
  });

  test('without the overload option the same burst sheds nothing (and nothing samples)', async () => {
    app = await flavor.make(routes, { registry: new Registry() } as never);
    expect(app.bw.core.overload).toBeUndefined();
    const burst = hammer(app.url, ['/feed'], 4);
    await sleep(500);
    await burst.stop();
    expect(burst.answers.length).toBeGreaterThan(0);
    expect(burst.answers.every((a) => a.status === 200)).toBe(true);
  });
});
