import { breakwater } from '@breakwater/express';
import express from 'express';
import request from 'supertest';
import { expect, test } from 'vitest';

test('smoke', async () => {
  const bw = breakwater();
  const app = express();
  app.use(bw.middleware());
  app.get('/x', bw.route({ rateLimit: { limit: 2, window: '1m' }, timeout: '100ms' }), (_req, res) => {
    res.json({ ok: true });
  });
  app.get('/slow', bw.route({ timeout: '50ms' }), (_req, res) => {
    setTimeout(() => res.json({ late: true }), 100);
  });
  const a = await request(app).get('/x');
  expect(a.status).toBe(200);
  console.log(a.headers);
  await request(app).get('/x');
  const c = await request(app).get('/x');
  console.log(c.status, c.headers, c.text);
  const d = await request(app).get('/slow');
  console.log(d.status, d.headers, d.text);
  await new Promise((r) => setTimeout(r, 120));
  await bw.close();
});
