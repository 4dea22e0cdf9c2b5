import type { ServerResponse } from 'node:http';
import { type Upstream, upstream } from './upstream.js';

/** Options of {@link limitedUpstream}. */
export interface LimitedOptions {
  /** Requests per second the upstream admits (token bucket, capacity = rate). */
  rate: number;
  /** Send draft-10 `RateLimit` / `RateLimit-Policy` on every answer. Default true. */
  headers?: boolean;
}

/** Counts of a {@link limitedUpstream}: answers by status, and the times of admitted requests. */
export interface LimitedCounts {
  ok: number;
  throttled: number;
  okTimes: number[];
  order: string[];
}

/**
 * A real upstream that enforces its own limit, like a partner API: a token bucket of
 * `rate` per second; over it, 429 with `Retry-After` (whole seconds, at least 1); every
 * answer carries `RateLimit-Policy: "default";q=<rate>;w=1` and
 * `RateLimit: "default";r=<left>;t=<seconds to a full bucket>` unless `headers: false`.
 */
export async function limitedUpstream(o: LimitedOptions): Promise<{ up: Upstream; counts: LimitedCounts }> {
  const counts: LimitedCounts = { ok: 0, throttled: 0, okTimes: [], order: [] };
  const burst = o.rate;
  let tokens = burst;
  let last = Date.now();
  const up = await upstream((req, res: ServerResponse) => {
    const now = Date.now();
    tokens = Math.min(burst, tokens + ((now - last) * o.rate) / 1000);
    last = now;
    const admitted = tokens >= 1;
    if (admitted) tokens -= 1;
    if (o.headers !== false) {
      res.setHeader('ratelimit-policy', `"default";q=${o.rate};w=1`);
      const t = Math.ceil((burst - tokens) / o.rate);
      res.setHeader('ratelimit', `"default";r=${Math.floor(tokens)};t=${t}`);
    }
    if (!admitted) {
      counts.throttled++;
      res.writeHead(429, { 'retry-after': String(Math.max(1, Math.ceil((1 - tokens) / o.rate))) });
      res.end('slow down');
      return;
    }
    counts.ok++;
    counts.okTimes.push(now);
    counts.order.push(req.url ?? '');
    res.end('ok');
  });
  return { up, counts };
}
