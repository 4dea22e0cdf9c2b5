/**
 * HTTP/1.1 pipelining: a response queued behind an earlier one never gets its own 'close'
 * when the client leaves, so the guard must learn of it from the request, or a handler
 * waiting on its signal (a long poll) would hold its bulkhead slot forever.
 */
import net from 'node:net';
import type { RouteGuard } from '@breakwater/core/adapter';
import { afterEach, describe, expect, test } from 'vitest';
import { flavors, type TestApp, until } from '../helpers/apps.js';

describe.each(flavors)('$name', (flavor) => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  test('pipelined requests whose client disconnects abort their signals and release every slot', async () => {
    let started = 0;
    let aborted = 0;
    app = await flavor.make([
      {
        path: '/poll',
        policy: { bulkhead: { maxConcurrent: 4, maxQueue: 4 } },
        handler: async (ctx) => {
          started++;
          // A long poll: it ends when the client goes away.
          await new Promise<void>((r) => ctx!.signal.addEventListener('abort', () => r()));
          aborted++;
          return { status: 200, body: { ok: true } };
        },
      },
    ]);
    const guard = (): RouteGuard => app!.bw.core.guards.find((x) => x.name === 'GET /poll')!;
    const socket = net.connect(Number(new URL(app.url).port), '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((r) => socket.once('connect', () => r()));
    const req = 'GET /poll HTTP/1.1\r\nHost: x\r\n\r\n';
    socket.write(req + req + req);
    await until(() => started === 3);
    expect(guard().bulkhead!.activeCount).toBe(3);
    socket.destroy();
    await until(() => aborted === 3, 3000);
    await until(() => guard().bulkhead!.activeCount === 0, 3000);
  });
});
