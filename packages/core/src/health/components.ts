import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { RateLimiter } from '../rate-limit/RateLimiter.js';
import type { BreakerCheckEntry, BulkheadCheckEntry, RateLimitStoreCheckEntry } from './types.js';

/**
 * The health entries of the policies themselves: what each breaker, bulkhead and
 * rate-limit store is doing right now. They never fail (a policy refusing is it doing its
 * job), and they are not critical: an open breaker, a saturated bulkhead or a store on its
 * fallback makes the whole `warn`.
 */

/** A breaker: its state and since when, its window, and its last failure's time and code. */
export function breakerEntry(b: CircuitBreaker, time: string): BreakerCheckEntry {
  const s = b.stats;
  const e: BreakerCheckEntry = {
    componentId: b.name,
    componentType: 'circuit-breaker',
    status: s.state === 'closed' ? 'pass' : 'warn',
    observedValue: s.state,
    observedUnit: 'state',
    critical: false,
    time,
    since: iso(b.stateSince),
    failureRate: s.failureRate,
    calls: s.calls,
    failures: s.failures,
  };
  if (s.state === 'open') e.retryAfterMs = s.retryAfterMs;
  const f = b.lastFailure;
  // The code only: an error's message may carry hosts, keys or user data.
  if (f !== undefined)
    e.lastFailure = f.code === undefined ? { time: iso(f.at) } : { time: iso(f.at), code: f.code };
  return e;
}

/** A bulkhead: calls running, calls queued, and its limit now. */
export function bulkheadEntry(b: Bulkhead, time: string): BulkheadCheckEntry {
  const s = b.stats;
  return {
    componentId: b.name,
    componentType: 'bulkhead',
    status: b.saturated ? 'warn' : 'pass',
    observedValue: s.active,
    observedUnit: 'active calls',
    critical: false,
    time,
    active: s.active,
    queued: s.queued,
    limit: s.maxConcurrent,
    maxQueue: s.maxQueue,
  };
}

/** A limiter's store: whether its decisions come from the store or from `onStoreError`. */
export function rateLimitStoreEntry(l: RateLimiter<unknown>, time: string): RateLimitStoreCheckEntry {
  const fallback = l.usingFallback;
  return {
    componentId: l.name,
    componentType: 'rate-limit-store',
    status: fallback ? 'warn' : 'pass',
    observedValue: fallback ? 'fallback' : 'store',
    observedUnit: 'decisions from',
    critical: false,
    time,
    onStoreError: l.onStoreError,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
