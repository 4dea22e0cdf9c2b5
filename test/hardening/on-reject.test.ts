/**
 * A user's `onReject` that throws or rejects, for a refusal before the handler (rate limit)
 * and for a timeout while the handler runs: each request still gets exactly one response,
 * nothing surfaces as an unhandled rejection, and the slot is released only when the
 * handler itself ends.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { gate, type HApp, hflavors, raw, rawGet, serve, until } from './support.js';

describe.each(hflavors)('$name', (flavor) => {
  let app: HApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  // FINDING F5 (SECURITY.md): on a timeout, Express detaches the response right after calling
  // onReject, so an async onReject (answering after an await, or rejecting into next(err))
  // leaves the client with no response at all; Koa writes ctx.status as it stands, so an
  // onReject that throws, rejects or answers late yields an empty 404, and a rejecting one
  // is an unhandled rejection; before the handler, Koa responds before an async onReject
  // has answered. The fix (falling back to the default refusal) is in the report.
  test.each(['throws', 'rejects', 'answers after an await'] as const)(
    'onReject that %s: exactly one response per refusal, no unhandled rejection',
    async (how) => {
      const hold = gate();
      const answerLater = async (refusal: { status: number }, ...native: unknown[]) => {
        await new Promise((r) => setTimeout(r, 5)); // e.g. logging the refusal somewhere first
        if (flavor.kind === 'express')
          (native[1] as { status(n: number): { json(b: unknown): void } })
            .status(refusal.status)
            .json({ mine: true });
        else if (flavor.kind === 'fastify')
          (native[1] as { code(n: number): { send(b: unknown): void } })
            .code(refusal.status)
            .send({ mine: true });
        else if (flavor.kind === 'hono')
          return (native[0] as { json(b: unknown, s: number): Response }).json(
            { mine: true },
            refusal.status,
          );
        else Object.assign(native[0] as object, { status: refusal.status, body: { mine: true } });
      };
      const onReject =
        how === 'throws'
          ? () => {
              throw new Error('onReject broke');
            }
          : how === 'rejects'
            ? async () => {
                await Promise.resolve();
                throw new Error('onReject broke later');
              }
            : answerLater;
      const rl = { rateLimit: { limit: 1, window: '1m' }, onReject };
      const to = { timeout: '60ms', bulkhead: { maxConcurrent: 1 }, onReject };
      app = await serve(flavor, {
        express(a, bw) {
          a.get('/rl', bw.route(rl), (_req, res) => void res.json({ ok: true }));
          a.get('/to', bw.route(to), (_req, res) => void hold.promise.then(() => res.json({ late: true })));
        },
        koa(router, bw) {
          router.get('/rl', bw.route(rl), (ctx) => void (ctx.body = { ok: true }));
          router.get('/to', bw.route(to), async (ctx) => {
            await hold.promise;
            ctx.body = { late: true };
          });
        },
        fastify(a) {
          a.get('/rl', { config: { breakwater: rl as never } }, async () => ({ ok: true }));
          a.get('/to', { config: { breakwater: to as never } }, async () => {
            await hold.promise;
            return { late: true };
          });
        },
        hono(a, bw) {
          a.get('/rl', bw.route(rl as never), (c) => c.json({ ok: true }));
          a.get('/to', bw.route(to as never), async (c) => {
            await hold.promise;
            return c.json({ late: true });
          });
        },
      });
      expect((await raw(app.port, rawGet('/rl'), { waitMs: 1000 })).statuses).toEqual([200]);
      // Before the handler: an answer from onReject when it gives one, else the error goes to the app (500).
      const refused = await raw(app.port, rawGet('/rl'), { waitMs: 1500 });
      expect(refused.statuses, `rate-limit refusal: ${refused.text.slice(0, 80)}`).toEqual([
        how === 'answers after an await' ? 429 : 500,
      ]);
      if (how === 'answers after an await') expect(refused.text).toContain('"mine":true');
      // A timeout: the response is cut off from the late handler at once, so an onReject that
      // fails or answers only after an await gets the default refusal in its place.
      const timedOut = await raw(app.port, rawGet('/to'), { waitMs: 1500 });
      expect(timedOut.statuses, `timeout refusal: ${timedOut.text.slice(0, 80)}`).toEqual([503]);
      expect(timedOut.text).toContain('"code":"TIMEOUT"');
      expect(timedOut.ms).toBeLessThan(1000);
      const g = app.bw.core.guards.find((x) => x.name === 'GET /to')!;
      if ((flavor.kind === 'express' || flavor.kind === 'fastify') && how === 'answers after an await') {
        // Express, Fastify: onReject shares the handler's response (the reply), so its late end
        // cannot be told from the handler's; it is read as the handler's and the slot goes when
        // onReject settles.
        await until(() => g.bulkhead!.activeCount === 0, 2000, 'slot released when onReject settles');
        hold.open();
        return;
      }
      // The late handler still runs: its slot is held until it ends, not released by the refusal.
      expect(g.bulkhead!.activeCount).toBe(1);
      hold.open();
      await until(() => g.bulkhead!.activeCount === 0, 2000, 'slot released');
    },
  );

  test('an async onReject that writes nothing while the late handler ends: the slot is released', async () => {
    const handlerDone = gate();
    const onRejectDone = gate();
    // Logs, then returns without answering: the default refusal goes out meanwhile.
    const onReject = async () => {
      await onRejectDone.promise;
    };
    const to = { timeout: '60ms', bulkhead: { maxConcurrent: 1 }, onReject };
    app = await serve(flavor, {
      express(a, bw) {
        a.get(
          '/to',
          bw.route(to),
          (_req, res) => void handlerDone.promise.then(() => res.json({ late: true })),
        );
      },
      koa(router, bw) {
        router.get('/to', bw.route(to), async (ctx) => {
          await handlerDone.promise;
          ctx.body = { late: true };
        });
      },
      fastify(a) {
        a.get('/to', { config: { breakwater: to as never } }, async () => {
          await handlerDone.promise;
          return { late: true };
        });
      },
      hono(a, bw) {
        a.get('/to', bw.route(to as never), async (c) => {
          await handlerDone.promise;
          return c.json({ late: true });
        });
      },
    });
    const timedOut = await raw(app.port, rawGet('/to'), { waitMs: 1500 });
    expect(timedOut.statuses).toEqual([503]);
    const g = app.bw.core.guards.find((x) => x.name === 'GET /to')!;
    expect(g.bulkhead!.activeCount).toBe(1);
    // The handler ends first, then onReject settles: nothing is left holding the slot.
    handlerDone.open();
    await new Promise((r) => setImmediate(r));
    onRejectDone.open();
    await until(() => g.bulkhead!.activeCount === 0, 2000, 'slot released');
    expect((await raw(app.port, rawGet('/to'), { waitMs: 1500 })).statuses).toEqual([200]);
  });
});
