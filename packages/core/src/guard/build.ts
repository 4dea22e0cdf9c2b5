import type { BreakerRegistry } from '../breaker/BreakerRegistry.js';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { CircuitBreakerOptions } from '../breaker/options.js';
import { Bulkhead } from '../bulkhead/Bulkhead.js';
import type { BulkheadRegistry } from '../bulkhead/BulkheadRegistry.js';
import { Chaos } from '../chaos/Chaos.js';
import { ConfigError } from '../errors.js';
import type { LoadShedder } from '../overload/LoadShedder.js';
import { RateLimiter, type RateLimitOptions } from '../rate-limit/RateLimiter.js';
import type { RateLimitStore } from '../rate-limit/types.js';
import { AdaptiveTimeout } from '../timeout/adaptive/AdaptiveTimeout.js';
import type { Clock } from '../util/clock.js';
import { parseDuration } from '../util/duration.js';
import { checkKeys, isPlainObject } from '../util/validate.js';
import { RouteFallback } from './fallback.js';
import { checkRoutePolicy, type RoutePolicy } from './policy.js';
import { Priority } from './priority.js';
import type { GuardPolicies } from './RouteGuard.js';

/** What building a route's policies needs from the Breakwater instance. */
export interface BuildContext {
  clock: Clock;
  breakers: BreakerRegistry;
  /** The instance-wide default rate-limit store. */
  store: RateLimitStore | undefined;
  /** Shared bulkheads (`breakwater({ bulkheads })`), which routes name as `bulkhead: 'db'`. */
  bulkheads?: BulkheadRegistry | undefined;
  /** The instance's load shedder, when the `overload` option is on. */
  shedder?: LoadShedder | undefined;
}

/**
 * Turns a route policy into built policies. With `register` false (validation at
 * start-up of a route whose name is not known yet) shared breakers are looked up but
 * nothing is registered.
 */
export function buildPolicies(
  policy: RoutePolicy,
  name: string,
  path: string,
  ctx: BuildContext,
  register = true,
): GuardPolicies {
  const p = checkRoutePolicy(policy, path);
  const out: GuardPolicies = { onReject: p.onReject as GuardPolicies['onReject'] };

  if (p.timeout !== undefined && p.timeout !== false) {
    if (isPlainObject(p.timeout)) {
      checkKeys(p.timeout, ['after', 'adaptive', 'status', 'firstByte', 'idle'], `${path}.timeout`);
      if ('firstByte' in p.timeout || 'idle' in p.timeout) streamTimeout(p.timeout, `${path}.timeout`, out);
      else if ('adaptive' in p.timeout) {
        if ('after' in p.timeout)
          throw new ConfigError(`${path}.timeout.after`, p.timeout.after, 'absent with timeout.adaptive');
        const ap = `${path}.timeout.adaptive`;
        const ao = p.timeout.adaptive;
        // The guard's clock unless the options bring their own; the guard never waits longer than max.
        out.adaptiveTimeout = new AdaptiveTimeout(
          isPlainObject(ao) && ao.clock === undefined ? { ...ao, clock: ctx.clock } : ao,
          ap,
        );
        out.timeoutMs = out.adaptiveTimeout.maxMs;
      } else out.timeoutMs = parseDuration(p.timeout.after, `${path}.timeout.after`);
      const status = p.timeout.status ?? 503;
      if (status !== 503 && status !== 504)
        throw new ConfigError(`${path}.timeout.status`, status, '503 or 504');
      out.timeoutStatus = status;
    } else out.timeoutMs = parseDuration(p.timeout, `${path}.timeout`);
    if (out.timeoutMs !== undefined && out.timeoutMs <= 0)
      throw new ConfigError(`${path}.timeout`, p.timeout, 'a duration greater than 0');
  }

  if (p.rateLimit !== undefined && p.rateLimit !== false) {
    const rl = p.rateLimit;
    const withStore = (o: RateLimitOptions): RateLimitOptions =>
      ctx.store && isPlainObject(o) && o.store === undefined ? { ...o, store: ctx.store } : o;
    // The instance store goes on every window so the limiter sees one agreed store.
    const opts = Array.isArray(rl) ? rl.map(withStore) : withStore(rl as RateLimitOptions);
    out.limiter = new RateLimiter(opts, { name, clock: ctx.clock, path: `${path}.rateLimit` });
  }

  const cb = p.circuitBreaker;
  if (cb !== undefined && cb !== false) {
    if (typeof cb === 'string') {
      out.breaker = register
        ? ctx.breakers.getOrCreate(cb, { clock: ctx.clock })
        : (ctx.breakers.get(cb) ?? new CircuitBreaker({ clock: ctx.clock }, cb));
    } else if (isPlainObject(cb)) {
      const opts: CircuitBreakerOptions = cb.clock ? cb : { ...cb, clock: ctx.clock };
      out.breaker = new CircuitBreaker(opts, uniqueName(ctx.breakers, name), `${path}.circuitBreaker`);
      if (register) ctx.breakers.add(out.breaker);
    } else
      throw new ConfigError(
        `${path}.circuitBreaker`,
        cb,
        "breaker options, a shared breaker's name, or false",
      );
  }

  if (p.bulkhead !== undefined && p.bulkhead !== false) {
    if (typeof p.bulkhead === 'string') {
      // Unlike a breaker, a bulkhead has no sensible default size: an unknown name is an error.
      out.bulkhead = ctx.bulkheads?.get(p.bulkhead);
      if (out.bulkhead === undefined)
        throw new ConfigError(
          `${path}.bulkhead`,
          p.bulkhead,
          'the name of a bulkhead in breakwater.bulkheads',
        );
    } else if (!isPlainObject(p.bulkhead))
      throw new ConfigError(
        `${path}.bulkhead`,
        p.bulkhead,
        "an object like { maxConcurrent: 10 }, or a shared bulkhead's name",
      );
    else out.bulkhead = new Bulkhead({ clock: ctx.clock, ...p.bulkhead } as never, name, `${path}.bulkhead`);
  }

  if (p.fallback !== undefined)
    out.fallback = new RouteFallback(p.fallback, p.fallbackOn, p.fallbackTimeout, path);
  else if (p.fallbackOn !== undefined || p.fallbackTimeout !== undefined)
    throw new ConfigError(
      `${path}.fallback`,
      undefined,
      'a function, with fallbackOn or fallbackTimeout set',
    );

  // Built whenever configured (even disabled), so it can be enabled at run time.
  if (p.chaos !== undefined && p.chaos !== false) out.chaos = new Chaos(p.chaos, name, `${path}.chaos`);

  if (typeof p.priority === 'function') out.priorityOf = p.priority as GuardPolicies['priorityOf'];
  else if (p.priority !== undefined) out.priority = Priority[p.priority];
  // A route that is always critical is never shed: its guard need not even look.
  if (ctx.shedder !== undefined && out.priority !== Priority.critical) out.shedder = ctx.shedder;
  return out;
}

/**
 * A timeout for streaming answers: `firstByte` (or `after`, not both) bounds the time to
 * the headers, `idle` the silence between two writes.
 */
function streamTimeout(t: Record<string, unknown>, path: string, out: GuardPolicies): void {
  if (t.adaptive !== undefined)
    throw new ConfigError(`${path}.adaptive`, t.adaptive, 'absent with timeout.firstByte or timeout.idle');
  if (t.after !== undefined && t.firstByte !== undefined)
    throw new ConfigError(
      `${path}.firstByte`,
      t.firstByte,
      'absent with timeout.after (both bound the time to the headers: set one)',
    );
  out.stream = true;
  const first = t.firstByte !== undefined ? 'firstByte' : t.after !== undefined ? 'after' : undefined;
  if (first !== undefined) {
    out.timeoutMs = parseDuration(t[first], `${path}.${first}`);
    if (out.timeoutMs <= 0) throw new ConfigError(`${path}.${first}`, t[first], 'a duration greater than 0');
  }
  if (t.idle !== undefined) {
    out.streamIdleMs = parseDuration(t.idle, `${path}.idle`);
    if (out.streamIdleMs <= 0) throw new ConfigError(`${path}.idle`, t.idle, 'a duration greater than 0');
  }
}

function uniqueName(reg: BreakerRegistry, name: string): string {
  if (!reg.has(name)) return name;
  let i = 2;
  while (reg.has(`${name}#${i}`)) i++;
  return `${name}#${i}`;
}
