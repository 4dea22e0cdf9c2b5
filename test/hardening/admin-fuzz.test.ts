/**
 * The admin endpoint under hostile input (it is meant to sit behind the app's own
 * authentication, but it must still never throw): any method, query and body answer with a
 * JSON 2xx/4xx, a body over 16 KiB is a 413, and no action reaches a breaker it does not name.
 */
import { AdminApi, MAX_ADMIN_BODY_BYTES } from '@breakwater/core/adapter';
import { breakwater } from '@breakwater/express';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { expect, test } from 'vitest';

async function* chunks(parts: Array<string | Buffer>) {
  for (const p of parts) yield p;
}

test('any admin request answers a JSON 2xx/4xx and never throws; only a named breaker is touched', async () => {
  const bw = breakwater({ registry: new Registry(), breakers: { upstream: { consecutiveFailures: 3 } } });
  const api = new AdminApi(bw.core);
  const body = fc.oneof(
    fc.anything({ maxDepth: 3 }),
    fc.string(),
    fc.json(),
    fc.constantFrom(
      '{"breaker":"upstream","action":"open"',
      '{"__proto__":{"action":"open"},"breaker":"upstream"}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      'breaker=upstream&action=toString',
      'breaker=__proto__&action=reset',
      '{"breaker":["upstream"],"action":"open"}',
      '[1,2,3]',
      'null',
    ),
  );
  const methods = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'post', 'BREW');
  const query = fc.oneof(
    fc.constant(undefined),
    fc.dictionary(
      fc.constantFrom('breaker', 'action', '__proto__', 'x'),
      fc.oneof(fc.string(), fc.array(fc.string())),
    ),
  );
  try {
    await fc.assert(
      fc.asyncProperty(methods, query, body, fc.boolean(), async (method, q, b, asStream) => {
        const req = asStream
          ? { method, query: q, stream: chunks(typeof b === 'string' ? [b] : [JSON.stringify(b) ?? '']) }
          : { method, query: q, body: b };
        const a = await api.handle(req as never);
        expect([200, 400, 404, 405, 413]).toContain(a.status);
        expect(() => JSON.parse(a.body)).not.toThrow();
        // Only an explicit, valid action on the named breaker changes it; reset it for the next run.
        bw.breakers.get('upstream')!.reset();
      }),
      { numRuns: 1000 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const big = await api.handle({
      method: 'POST',
      stream: chunks([Buffer.alloc(MAX_ADMIN_BODY_BYTES + 1, 32)]),
    });
    expect(big.status).toBe(413);
    const ok = await api.handle({ method: 'POST', body: { breaker: 'upstream', action: 'open' } });
    expect(ok.status).toBe(200);
    expect(bw.breakers.get('upstream')!.state).toBe('open');
  } finally {
    await bw.close();
  }
});
