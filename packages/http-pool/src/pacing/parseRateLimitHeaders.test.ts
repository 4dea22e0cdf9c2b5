import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { emptySignal, readRateLimitSignal } from './parseRateLimitHeaders.js';

const NOW = Date.UTC(2026, 0, 1, 12, 0, 0);
const read = (headers: Record<string, string | string[]>) => {
  const out = emptySignal();
  const found = readRateLimitSignal(headers, NOW, out);
  return { found, ...out };
};

describe('readRateLimitSignal', () => {
  test('draft-10 lists: the tightest quota and policy win', () => {
    const s = read({
      ratelimit: '"burst";r=30;t=2, "daily";r=900;t=3600',
      'ratelimit-policy': '"burst";q=100;w=60, "daily";q=1000;w=86400',
    });
    expect(s.found).toBe(true);
    expect(s.spreadPerMs).toBeCloseTo(900 / 3_600_000, 12); // 0.25/s beats 15/s
    expect(s.exhaustedMs).toBe(-1);
    expect(s.policyPerMs).toBeCloseTo(1000 / 86_400_000, 12);
    expect(s.retryAfterMs).toBe(-1);
  });

  test('an exhausted quota asks for quiet until it resets', () => {
    const s = read({ ratelimit: '"burst";r=0;t=42', 'retry-after': '42' });
    expect(s.exhaustedMs).toBe(42_000);
    expect(s.spreadPerMs).toBe(-1);
    expect(s.retryAfterMs).toBe(42_000);
  });

  test('a quota restored now (t=0) asks for nothing; unknown parameters and item kinds are skipped', () => {
    const s = read({
      ratelimit: '"a";r=5;t=0, token;pk=:cGFydGl0aW9u:;r=10;t=5;x=?1, "q\\"uoted";flag;r=2;t=1',
      'ratelimit-policy': '"a";q=10;w=1;qu="requests"',
    });
    expect(s.spreadPerMs).toBeCloseTo(2 / 1000, 12);
    expect(s.policyPerMs).toBeCloseTo(10 / 1000, 12);
  });

  test("an earlier draft's bare policy (`100;w=60`) and separate RateLimit-Remaining/Reset", () => {
    const s = read({ 'ratelimit-policy': '100;w=60', 'ratelimit-remaining': '10', 'ratelimit-reset': '5' });
    expect(s.policyPerMs).toBeCloseTo(100 / 60_000, 12);
    expect(s.spreadPerMs).toBeCloseTo(10 / 5000, 12);
  });

  test('legacy X-RateLimit: reset as delta seconds or as epoch seconds', () => {
    expect(read({ 'x-ratelimit-remaining': '20', 'x-ratelimit-reset': '10' }).spreadPerMs).toBeCloseTo(
      0.002,
      12,
    );
    const epoch = String(NOW / 1000 + 30);
    const s = read({ 'x-ratelimit-limit': '5000', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epoch });
    expect(s.exhaustedMs).toBe(30_000);
  });

  test('Retry-After as an HTTP date', () => {
    const s = read({ 'retry-after': new Date(NOW + 5000).toUTCString() });
    expect(s.found).toBe(true);
    expect(s.retryAfterMs).toBe(5000);
  });

  test('no rate-limit headers: nothing found; repeated header fields are read as one list', () => {
    expect(read({ 'content-type': 'text/plain' }).found).toBe(false);
    const s = read({ ratelimit: ['"a";r=50;t=10', '"b";r=1;t=10'] });
    expect(s.spreadPerMs).toBeCloseTo(1 / 10_000, 12);
  });

  test('malformed values are ignored, never thrown', () => {
    for (const v of ['', ',', '"unterminated;r=1;t=1', ';;;', 'r=1', '"a";r=;t=', ':abc', '"a";r=-1;t=5'])
      expect(() => read({ ratelimit: v, 'ratelimit-policy': v, 'retry-after': v })).not.toThrow();
    expect(read({ ratelimit: '"a";r=abc;t=1' }).spreadPerMs).toBe(-1);
  });

  test('property: any header text reads without throwing, and figures are -1 or non-negative', () => {
    const value = fc.oneof(fc.string(), fc.stringMatching(/^[" a-z0-9;=,:?.\\-]{0,40}$/));
    fc.assert(
      fc.property(value, value, value, (a, b, c) => {
        const out = emptySignal();
        readRateLimitSignal({ ratelimit: a, 'ratelimit-policy': b, 'x-ratelimit-reset': c }, NOW, out);
        for (const v of Object.values(out)) expect(v === -1 || v >= 0).toBe(true);
      }),
    );
  });
});
