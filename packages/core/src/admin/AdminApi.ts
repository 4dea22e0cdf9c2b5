import type { BreakerRegistry } from '../breaker/BreakerRegistry.js';
import type { BreakerStats, CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { BulkheadStats } from '../bulkhead/Bulkhead.js';
import type { ChaosState } from '../chaos/Chaos.js';
import type { ChaosControl } from '../chaos/ChaosControl.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import { RouteLimits } from '../guard/RouteLimits.js';
import { listPools } from '../metrics/listPools.js';
import type { LoadShedder } from '../overload/LoadShedder.js';
import type { PoolManager } from '../pools/PoolManager.js';
import type { PoolStats } from '../pools/types.js';
import type { RateLimitWindow } from '../rate-limit/types.js';
import type { Event } from '../util/events.js';
import type { EndpointAnswer } from './answer.js';
import { readBody } from './readBody.js';

/** What the admin endpoint reads and acts on (`BreakwaterCore` implements it). */
export interface AdminHost {
  readonly isClosing: boolean;
  readonly breakers: BreakerRegistry;
  readonly guards: readonly RouteGuard[];
  readonly onGuard: Event<RouteGuard>;
  readonly pools: PoolManager;
  readonly chaos: ChaosControl;
  readonly overload: { readonly shedder: LoadShedder } | undefined;
}

/** One admin request, as an adapter sees it. */
export interface AdminRequest {
  method: string;
  /** Parsed query parameters (`req.query`, `ctx.query`). */
  query?: Record<string, unknown> | undefined;
  /** A body a body parser already read, if any. */
  body?: unknown;
  /** The raw request, read when no parser did. */
  stream?: AsyncIterable<unknown> | undefined;
}

/** A breaker action on POST. */
export type AdminAction = 'reset' | 'open' | 'close';

/** What `GET` answers. */
export interface AdminSnapshot {
  closing: boolean;
  breakers: Array<{ name: string; state: CircuitBreaker['state']; stats: BreakerStats }>;
  bulkheads: Array<{ name: string; stats: BulkheadStats }>;
  limiters: Array<{
    name: string;
    windows: readonly RateLimitWindow[];
    /** Decisions since the admin endpoint was mounted. */
    allowed: number;
    limited: number;
  }>;
  pools: Array<{ name: string; stats: PoolStats | null }>;
  /** Routes with a chaos policy (enabled or not), as `bw.chaos.list()` gives them. */
  chaos: ChaosState[];
  /** The load shedder's level (0 none, 1 sheddable shed, 2 normal shed too); absent without `overload`. */
  overload?: { level: number };
}

const JSON_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['Content-Type', 'application/json; charset=utf-8'],
  ['Cache-Control', 'no-store'],
];
const ACTIONS: readonly AdminAction[] = ['reset', 'open', 'close'];

/**
 * The operator's view of one Breakwater instance: `GET` lists every breaker, bulkhead,
 * limiter and pool with live state and stats; `POST` with `{ "breaker": name, "action":
 * "reset" | "open" | "close" }` (JSON, form or query string) acts on a breaker. `GET` with
 * `?route=<name>&key=<key>` answers that key's rate-limit state on the route (`state: null`
 * when the store holds none), and `DELETE` with the same parameters forgets it.
 *
 * It has no authentication of its own: mount it behind your own check (see the adapters).
 */
export class AdminApi {
  private readonly tallies = new Map<string, { allowed: number; limited: number }>();
  private readonly seenLimiters = new WeakSet<object>();
  private readonly limits: RouteLimits;

  constructor(private readonly core: AdminHost) {
    this.limits = new RouteLimits(core);
    for (const g of core.guards) this.addGuard(g);
    core.onGuard((g) => this.addGuard(g));
  }

  snapshot(): AdminSnapshot {
    const core = this.core;
    const out: AdminSnapshot = {
      closing: core.isClosing,
      breakers: [],
      bulkheads: [],
      limiters: [],
      pools: [],
      chaos: core.chaos.list(),
    };
    if (core.overload !== undefined) out.overload = { level: core.overload.shedder.level };
    for (const b of core.breakers) out.breakers.push({ name: b.name, state: b.state, stats: b.stats });
    // A shared bulkhead serves several routes: listed once.
    const bulkheads = new Set<unknown>();
    for (const g of core.guards) {
      if (g.bulkhead && !bulkheads.has(g.bulkhead)) {
        bulkheads.add(g.bulkhead);
        out.bulkheads.push({ name: g.bulkhead.name, stats: g.bulkhead.stats });
      }
      const l = g.limiter;
      if (l) {
        const t = this.tallies.get(l.name) ?? { allowed: 0, limited: 0 };
        out.limiters.push({ name: l.name, windows: l.windows, allowed: t.allowed, limited: t.limited });
      }
    }
    for (const p of listPools(core.pools)) {
      let stats: PoolStats | null;
      try {
        stats = p.stats();
      } catch {
        stats = null;
      }
      out.pools.push({ name: p.name, stats });
    }
    return out;
  }

  /** Answers one request; never throws (a bad request is a 4xx). */
  async handle(req: AdminRequest): Promise<EndpointAnswer> {
    const method = req.method.toUpperCase();
    const q = req.query;
    if (method === 'DELETE' || ((method === 'GET' || method === 'HEAD') && q?.route !== undefined))
      return this.limitKey(method, q);
    if (method === 'GET' || method === 'HEAD') return json(200, this.snapshot());
    if (method !== 'POST') {
      return {
        ...json(405, { error: 'method not allowed' }),
        headers: [...JSON_HEADERS, ['Allow', 'GET, POST, DELETE']],
      };
    }
    let params: Record<string, unknown>;
    try {
      params = { ...(req.query ?? {}), ...(await this.bodyOf(req)) };
    } catch (e) {
      const status = (e as { status?: number }).status === 413 ? 413 : 400;
      return json(status, { error: e instanceof Error ? e.message : 'bad request body' });
    }
    const { breaker: name, action } = params;
    if (typeof action !== 'string' || !ACTIONS.includes(action as AdminAction))
      return json(400, { error: "action must be 'reset', 'open' or 'close'" });
    if (typeof name !== 'string' || name.length === 0)
      return json(400, { error: 'breaker must name a breaker' });
    const breaker = this.core.breakers.get(name);
    if (breaker === undefined) return json(404, { error: 'no such breaker' });
    breaker[action as AdminAction]();
    return json(200, { name: breaker.name, action, state: breaker.state, stats: breaker.stats });
  }

  /** `GET`/`DELETE ?route=&key=`: one key's rate-limit state, read or forgotten. */
  private async limitKey(method: string, q: Record<string, unknown> | undefined): Promise<EndpointAnswer> {
    const route = q?.route;
    const key = q?.key;
    if (typeof route !== 'string' || route.length === 0)
      return json(400, { error: 'route must name a route with a rate limit' });
    if (typeof key !== 'string') return json(400, { error: 'key must be the rate-limit key' });
    if (this.limits.limiterOf(route) === undefined)
      return json(404, { error: 'no such route with a rate limit' });
    try {
      if (method === 'DELETE') {
        await this.limits.reset(route, key);
        return json(200, { route, key, reset: true });
      }
      const state = await this.limits.get(route, key);
      return json(200, { route, key, state: state ?? null });
    } catch (e) {
      // The store failed (Redis down): the operator learns so, without the key's secrets.
      return json(503, {
        error: `the rate-limit store failed: ${e instanceof Error ? e.message : String(e)}`,
      });
    }
  }

  private async bodyOf(req: AdminRequest): Promise<Record<string, unknown>> {
    let body = req.body;
    if (body === undefined && req.stream !== undefined) body = await readBody(req.stream);
    if (body === undefined || body === null || body === '') return {};
    if (Buffer.isBuffer(body)) body = body.toString('utf8');
    if (typeof body === 'string') {
      const t = body.trim();
      if (t.startsWith('{')) body = JSON.parse(t);
      else return Object.fromEntries(new URLSearchParams(t));
    }
    if (typeof body !== 'object' || Array.isArray(body)) throw new Error('body must be a JSON object');
    return body as Record<string, unknown>;
  }

  private addGuard(g: RouteGuard): void {
    const l = g.limiter;
    // By instance: a rebuilt route's new limiter counts on under its name, a kept one once.
    if (l === undefined || this.seenLimiters.has(l)) return;
    this.seenLimiters.add(l);
    let t = this.tallies.get(l.name);
    if (t === undefined) this.tallies.set(l.name, (t = { allowed: 0, limited: 0 }));
    const tally = t;
    l.onDecision((e) => (e.allowed ? tally.allowed++ : tally.limited++));
  }
}

function json(status: number, value: unknown): EndpointAnswer {
  return { status, headers: JSON_HEADERS, body: JSON.stringify(value) };
}
