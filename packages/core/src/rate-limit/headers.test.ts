import { describe, expect, test } from 'vitest';
import { ConfigError } from '../errors.js';
import { manualClock } from '../test-clock.js';
import { advertisedQuota, formatPolicyHeader } from './headers.js';
import { RateLimiter } from './RateLimiter.js';
import type { RateLimitDecision } from './types.js';

/** The headers an admitted request gets, as name → value. */
function allowed(l: RateLimiter, d: RateLimitDecision): Record<string, string> {
  const out: Record<string, string> = {};
  l.headerFormat?.allowed({ setHeader: (n, v) => (out[n] = v) }, d, l.clock);
  return out;
}

describe('rate-limit headers', () => {
  test('headers option: true and absent are draft-10, false none, the others by name; bad values name the path', () => {
    const w = { limit: 5, window: '1m' };
    expect(new RateLimiter(w).headers).toBe('draft-10');
    expect(new RateLimiter({ ...w, headers: true }).headers).toBe('draft-10');
    expect(new RateLimiter({ ...w, headers: false }).headerFormat).toBeUndefined();
    expect(new RateLimiter({ ...w, headers: 'draft-7' }).headers).toBe('draft-7');
    expect(new RateLimiter({ ...w, headers: 'legacy' }).headers).toBe('legacy');
    for (const bad of ['draft-8', 'X-RateLimit', 1, null]) {
      const e = (() => {
        try {
          new RateLimiter({ ...w, headers: bad as never });
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).path).toBe('rateLimit.headers');
    }
  });

  test('token bucket: t is the time until one more unit is back, not until the bucket is full', () => {
    const clock = manualClock();
    // 10 a minute: one unit every 6 s.
    const l = new RateLimiter({ limit: 10, window: '1m' }, { clock });
    const full = l.consume('k', 0) as RateLimitDecision;
    expect(allowed(l, full).RateLimit).toBe('"per-minute";r=10;t=0');
    const d = l.consume('k', 3) as RateLimitDecision;
    // Time to a full bucket would be 18 s; the next unit is 6 s away.
    expect(allowed(l, d).RateLimit).toBe('"per-minute";r=7;t=6');
    clock.t += 1000;
    const later = l.consume('k', 0) as RateLimitDecision;
    expect(allowed(l, later).RateLimit).toBe('"per-minute";r=7;t=5');
    // Exhausted: when the next request would be admitted (half a unit is back: 3 s to go).
    l.consume('k', 7);
    clock.t += 2000;
    const out = l.consume('k', 1) as RateLimitDecision;
    expect(out.allowed).toBe(false);
    expect(l.headerFormat!.refused(out, clock)).toContainEqual(['RateLimit', '"per-minute";r=0;t=3']);
  });

  test('burst above limit: the bucket is advertised (q = burst over its refill time), so r never exceeds q', () => {
    const clock = manualClock();
    const l = new RateLimiter({ limit: 100, window: '1s', burst: 150 }, { clock });
    expect(advertisedQuota(l.windows[0]!)).toEqual({ q: 150, w: 2 });
    expect(l.headerFormat!.policy).toBe('"per-second";q=150;w=2');
    const d = l.consume('k', 1) as RateLimitDecision;
    expect(d.remaining[0]).toBe(149);
    expect(allowed(l, d)).toEqual({
      'RateLimit-Policy': '"per-second";q=150;w=2',
      RateLimit: '"per-second";r=149;t=1',
    });
    // A minute's bucket of 20 refilling 10 a minute takes 2 minutes.
    expect(formatPolicyHeader(new RateLimiter({ limit: 10, window: '1m', burst: 20 }).windows)).toBe(
      '"per-minute";q=20;w=120',
    );
    // burst at or below limit, and the window algorithms, advertise limit per window.
    expect(formatPolicyHeader(new RateLimiter({ limit: 10, window: '1m', burst: 5 }).windows)).toBe(
      '"per-minute";q=10;w=60',
    );
    expect(
      formatPolicyHeader(new RateLimiter({ limit: 10, window: '1m', algorithm: 'fixed-window' }).windows),
    ).toBe('"per-minute";q=10;w=60');
  });

  test('draft-7: one quota, the window closest to running out', () => {
    const clock = manualClock();
    const l = new RateLimiter(
      [
        { limit: 3, window: '1s', algorithm: 'fixed-window', headers: 'draft-7' },
        { limit: 100, window: '1m', algorithm: 'fixed-window' },
      ],
      { clock },
    );
    expect(l.headerFormat!.policy).toBe('3;w=1, 100;w=60');
    clock.t = 1_000_000; // a second boundary: the 1s window resets in 1000 ms
    const d = l.consume('k', 1) as RateLimitDecision;
    expect(allowed(l, d)).toEqual({
      'RateLimit-Policy': '3;w=1, 100;w=60',
      RateLimit: 'limit=3, remaining=2, reset=1',
    });
    l.consume('k', 2);
    const out = l.consume('k', 1) as RateLimitDecision;
    expect(l.headerFormat!.refused(out, clock)).toEqual([
      ['RateLimit-Policy', '3;w=1, 100;w=60'],
      ['RateLimit', 'limit=3, remaining=0, reset=1'],
    ]);
  });

  test('legacy: X-RateLimit-* with Reset as the Unix time in seconds, rounded up', () => {
    const clock = manualClock(1_700_000_000_250);
    const l = new RateLimiter(
      { limit: 5, window: '1m', algorithm: 'fixed-window', headers: 'legacy' },
      { clock },
    );
    const d = l.consume('k', 1) as RateLimitDecision;
    const h = allowed(l, d);
    expect(h['X-RateLimit-Limit']).toBe('5');
    expect(h['X-RateLimit-Remaining']).toBe('4');
    // The fixed window started at the minute boundary before now.
    const windowEnd = 1_700_000_000_250 - (1_700_000_000_250 % 60_000) + 60_000;
    expect(h['X-RateLimit-Reset']).toBe(String(Math.ceil(windowEnd / 1000)));
    expect(Object.keys(h)).toHaveLength(3);
  });
});
