import type { Clock, RateLimitDecision } from '@breakwater/core';
import type { RateLimitWindow } from '@breakwater/core/extend';

/** Quota leasing: see {@link Leases}. */
export interface LeaseOptions {
  /** Units taken from Redis in one round trip and spent locally. An integer >= 2. */
  size: number;
  /** How long leased units may be spent after Redis granted them. */
  ttl: number;
}

/** One key's lease: units left, until when, and the grant's figures for the headers. */
interface Lease {
  units: number;
  grantedAt: number;
  expiresAt: number;
  base: RateLimitDecision;
  /** After Redis refused a lease: decide each request with Redis until then. */
  directUntil: number;
  /**
   * After Redis refused a request outright: requests of at least that cost are refused
   * here until its retry-after (nothing is admitted that way, so the bound is untouched).
   */
  refused: RateLimitDecision | undefined;
  refusedAt: number;
  refusedCost: number;
  /**
   * The grant in flight: requests for the key wait for it instead of asking for another.
   * It resolves with the grant's error, if it failed: the waiters fail alike at once,
   * rather than each trying (and timing out) in turn.
   */
  pending: Promise<unknown> | undefined;
}

/** Keys holding a lease at once, per store; the oldest are dropped past it (their units unspent). */
const MAX_KEYS = 10_000;

/**
 * Quota leasing. An instance takes `size` units of a key's quota in one decision (all
 * windows at once, atomically, as any decision) and spends them on the key's next
 * requests without asking Redis, for at most `ttl`; units left when the lease ends are
 * dropped (Redis counted them as used). When Redis refuses a lease (fewer than `size` units
 * left), the request is decided by Redis alone, and so are the key's requests until the
 * refusal's retry-after: near the limit leasing steps aside. When Redis refuses a request
 * itself, the key's requests of at least that cost are refused here until that refusal's
 * retry-after (a key over its limit costs Redis one call per instance per wait).
 *
 * The bound: Redis grants no more than the limit allows, and every admitted unit was
 * granted by Redis at most `ttl` earlier. So over any interval, N instances admit at most
 * what Redis could grant in that interval plus the units they held when it began: at
 * most N × (size − 1) per key for requests of cost 1 or more (N × size in general). A
 * fixed window of limit L admits at most L + N × (size − 1) per window; a token bucket,
 * burst + rate × T + N × (size − 1) over any T. Leasing never lets the fleet's total over
 * time exceed Redis's; it moves up to one lease's worth per instance from one window into
 * the next. A lease spent locally reports Redis's remaining at the grant plus the units
 * still leased.
 */
export class Leases {
  private readonly leases = new Map<string, Lease>();
  /** Decisions answered from a lease, without Redis. */
  local = 0;
  /** Leases Redis granted. */
  granted = 0;
  /** Leases Redis refused (the request then went to Redis alone). */
  refused = 0;
  /** Requests refused here, inside a refusal's retry-after, without Redis. */
  localRefusals = 0;

  constructor(
    private readonly options: LeaseOptions,
    private readonly clock: Clock,
    private readonly decide: (
      key: string,
      windows: readonly RateLimitWindow[],
      cost: number,
    ) => Promise<RateLimitDecision>,
  ) {}

  /** Units held for `key`, spendable now (0 when none or expired). */
  held(key: string): number {
    const l = this.leases.get(key);
    return l !== undefined && this.clock.now() < l.expiresAt ? l.units : 0;
  }

  async consume(key: string, windows: readonly RateLimitWindow[], cost: number): Promise<RateLimitDecision> {
    if (cost > this.options.size) return this.decide(key, windows, cost);
    for (;;) {
      let l = this.leases.get(key);
      const now = this.clock.now();
      if (l !== undefined && l.pending !== undefined) {
        const failed = await l.pending;
        if (failed !== undefined) throw failed;
        continue;
      }
      if (l !== undefined && now < l.expiresAt && l.units >= cost) {
        l.units -= cost;
        this.local++;
        return spent(l, now);
      }
      const r = l?.refused;
      if (r !== undefined && cost >= l!.refusedCost && now < l!.refusedAt + r.retryAfterMs) {
        this.localRefusals++;
        return refusedAgain(r, now - l!.refusedAt);
      }
      if (l !== undefined && now < l.directUntil) return this.direct(l, key, windows, cost);
      if (l === undefined) {
        if (this.leases.size >= MAX_KEYS) this.evict(now);
        l = {
          units: 0,
          grantedAt: 0,
          expiresAt: 0,
          base: EMPTY,
          directUntil: 0,
          pending: undefined,
          refused: undefined,
          refusedAt: 0,
          refusedCost: 0,
        };
        this.leases.set(key, l);
      }
      return this.grant(key, l, windows, cost);
    }
  }

  /** Forgets `key`'s lease (its units unspent). */
  forget(key: string): void {
    this.leases.delete(key);
  }

  private async grant(
    key: string,
    l: Lease,
    windows: readonly RateLimitWindow[],
    cost: number,
  ): Promise<RateLimitDecision> {
    let done!: (failed: unknown) => void;
    l.pending = new Promise<unknown>((r) => (done = r));
    let failed: unknown;
    try {
      const d = await this.decide(key, windows, this.options.size);
      const now = this.clock.now();
      if (d.allowed) {
        this.granted++;
        l.units = this.options.size - cost;
        l.grantedAt = now;
        l.expiresAt = now + this.options.ttl;
        l.base = d;
        l.directUntil = 0;
        return spent(l, now);
      }
      this.refused++;
      l.units = 0;
      l.expiresAt = 0;
      l.directUntil = now + Math.min(d.retryAfterMs, this.options.ttl);
    } catch (e) {
      failed = e ?? new Error('lease failed');
      throw e;
    } finally {
      l.pending = undefined;
      done(failed);
    }
    return this.direct(l, key, windows, cost);
  }

  /** One request decided by Redis alone; a refusal is remembered for its retry-after. */
  private async direct(
    l: Lease,
    key: string,
    windows: readonly RateLimitWindow[],
    cost: number,
  ): Promise<RateLimitDecision> {
    const d = await this.decide(key, windows, cost);
    if (d.allowed) l.refused = undefined;
    else if (d.retryAfterMs > 0) {
      l.refused = d;
      l.refusedAt = this.clock.now();
      l.refusedCost = cost;
    }
    return d;
  }

  /** Drops expired leases; if none had, the oldest. */
  private evict(now: number): void {
    for (const [k, l] of this.leases)
      if (
        l.pending === undefined &&
        now >= l.expiresAt &&
        now >= l.directUntil &&
        (l.refused === undefined || now >= l.refusedAt + l.refused.retryAfterMs)
      )
        this.leases.delete(k);
    if (this.leases.size < MAX_KEYS) return;
    const oldest = this.leases.keys().next();
    if (!oldest.done) this.leases.delete(oldest.value);
  }
}

const EMPTY: RateLimitDecision = { allowed: true, remaining: [], resetMs: [], retryAfterMs: 0, violated: [] };

/** A refusal repeated `elapsed` ms after Redis gave it: the same windows, the waits shortened. */
function refusedAgain(d: RateLimitDecision, elapsed: number): RateLimitDecision {
  return {
    allowed: false,
    remaining: d.remaining.slice(),
    resetMs: d.resetMs.map((r) => Math.max(0, r - elapsed)),
    retryAfterMs: Math.max(1, d.retryAfterMs - elapsed),
    violated: d.violated.slice(),
  };
}

/** The decision of a request paid from the lease: Redis's figures at the grant, plus what is still leased. */
function spent(l: Lease, now: number): RateLimitDecision {
  const b = l.base;
  const n = b.remaining.length;
  const remaining = new Array<number>(n);
  const resetMs = new Array<number>(n);
  const held = Math.floor(l.units);
  const elapsed = now - l.grantedAt;
  for (let i = 0; i < n; i++) {
    remaining[i] = b.remaining[i]! + held;
    resetMs[i] = Math.max(0, b.resetMs[i]! - elapsed);
  }
  return { allowed: true, remaining, resetMs, retryAfterMs: 0, violated: [] };
}
