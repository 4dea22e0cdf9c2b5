/**
 * The subjects of the core micro suite: each builds one policy and returns `op`, one call
 * through it of a trivial async `work`. Peers are configured to do the same job as ours.
 */
import { Bulkhead, CircuitBreaker, compose, RateLimiter, Retry, Timeout } from '@breakwater/core';
import { RouteGuard } from '@breakwater/core/adapter';
import { systemClock } from '@breakwater/core/extend';
import {
  CountBreaker,
  circuitBreaker as ckBreaker,
  bulkhead as ckBulkhead,
  retry as ckRetry,
  timeout as ckTimeout,
  ExponentialBackoff,
  handleAll,
  TimeoutStrategy,
  wrap,
} from 'cockatiel';
import Opossum from 'opossum';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { BenchCall } from './micro-guard.mjs';

const work = async () => 42;
const HUGE = 1_000_000_000; // limits no benchmark reaches: every call is admitted

const bwBreaker = () =>
  new CircuitBreaker({ failureRateThreshold: 0.5, minimumCalls: 10, window: { kind: 'count', size: 100 } });
const ckCountBreaker = () =>
  ckBreaker(handleAll, {
    halfOpenAfter: 30_000,
    breaker: new CountBreaker({ threshold: 0.5, size: 100, minimumNumberOfCalls: 10 }),
  });
const opossum = (options) => {
  const o = new Opossum(work, { errorThresholdPercentage: 50, volumeThreshold: 10, ...options });
  return o;
};
const rlf = () => new RateLimiterMemory({ points: HUGE, duration: 1 });
const bwLimiter = () => new RateLimiter({ limit: HUGE, window: '1s' });

/** name → () => op. Names are `<group>/<subject>`. */
/**
 * Breakwater's five policies, rate limit → breaker → bulkhead → timeout → retry, around
 * `inTimeout(retry)`: the function the timeout runs.
 */
function bwComposition(inTimeout) {
  const l = bwLimiter();
  const b = bwBreaker();
  const h = new Bulkhead({ maxConcurrent: 10 });
  const t = new Timeout('1s');
  const inner = inTimeout(new Retry({ attempts: 3 }));
  const inBulkhead = (signal) => t.execute(inner, signal);
  const inBreaker = (signal) => h.execute(inBulkhead, signal);
  const inLimiter = (signal) => b.execute(inBreaker, signal);
  return () => l.execute(inLimiter, undefined, 'client');
}

/** The same five composed with `compose()`: one call object and one promise per call. */
function bwComposed(work) {
  const p = compose({
    rateLimit: bwLimiter(),
    circuitBreaker: bwBreaker(),
    bulkhead: new Bulkhead({ maxConcurrent: 10 }),
    timeout: new Timeout('1s'),
    retry: new Retry({ attempts: 3 }),
  });
  const options = { key: 'client' };
  return () => p.execute(work, options);
}

/** cockatiel's same five around `fn`, behind rate-limiter-flexible. */
function ckComposition(fn) {
  const l = rlf();
  const p = wrap(
    ckCountBreaker(),
    ckBulkhead(10, 0),
    ckTimeout(1000, TimeoutStrategy.Cooperative),
    ckRetry(handleAll, { maxAttempts: 2, backoff: new ExponentialBackoff() }),
  );
  const run = () => p.execute(fn);
  return () => l.consume('client').then(run);
}

export const subjects = {
  'direct/direct': () => work,

  'breaker/breakwater': () => {
    const b = bwBreaker();
    return () => b.execute(work);
  },
  'breaker/cockatiel': () => {
    const b = ckCountBreaker();
    return () => b.execute(work);
  },
  'breaker/opossum': () => {
    const o = opossum({ timeout: false });
    return () => o.fire();
  },

  'bulkhead/breakwater': () => {
    const b = new Bulkhead({ maxConcurrent: 10 });
    return () => b.execute(work);
  },
  'bulkhead/cockatiel': () => {
    const b = ckBulkhead(10, 0);
    return () => b.execute(work);
  },
  // opossum has no bulkhead of its own: its `capacity` semaphore comes with the breaker.
  'bulkhead/opossum': () => {
    const o = opossum({ timeout: false, capacity: 10 });
    return () => o.fire();
  },

  'timeout/breakwater': () => {
    const t = new Timeout('1s');
    return () => t.execute(work);
  },
  'timeout/cockatiel': () => {
    const t = ckTimeout(1000, TimeoutStrategy.Cooperative);
    return () => t.execute(work);
  },
  // opossum's timeout comes with the breaker.
  'timeout/opossum': () => {
    const o = opossum({ timeout: 1000 });
    return () => o.fire();
  },

  // cockatiel has no rate limiter: the peer is rate-limiter-flexible's memory limiter.
  'limiter/breakwater': () => {
    const l = bwLimiter();
    return () => l.execute(work, undefined, 'client');
  },
  'limiter/rate-limiter-flexible': () => {
    const l = rlf();
    return () => l.consume('client').then(work);
  },

  // The decision alone, as the request guard takes it.
  'decision/breakwater': () => {
    const l = bwLimiter();
    return () => l.consume('client');
  },
  'decision/rate-limiter-flexible': () => {
    const l = rlf();
    return () => l.consume('client');
  },

  // Five policies: rate limit → breaker → bulkhead → timeout → retry, around the work,
  // composed with compose() as cockatiel's are with wrap().
  // The work does not read the signal: the like-for-like case with opossum, which has none.
  'composition/breakwater': () => bwComposed(work),
  'composition/cockatiel': () => ckComposition(work),
  // opossum: one breaker carries breaker, bulkhead (capacity) and timeout; no retry of its own.
  'composition/opossum': () => {
    const l = rlf();
    const o = opossum({ timeout: 1000, capacity: 10 });
    const run = () => o.fire();
    return () => l.consume('client').then(run);
  },
  // The same five with the timeout's signal handed down to the retry and the work, as
  // cancellable work does: the signal is built on first read (Node's AbortSignal is the
  // cost). cockatiel builds one for every call whether or not it is read.
  'composition-signal/breakwater': () => bwComposed(({ signal }) => (signal.aborted ? 0 : work())),
  'composition-signal/cockatiel': () => ckComposition(({ signal }) => (signal.aborted ? 0 : work())),
  // The five nested by hand, each `execute` around the next: what compose() saves.
  'composition-nested/breakwater': () => bwComposition((r) => () => r.execute(work)),

  // The request guard as the adapters drive it: rate limit, breaker, bulkhead, timeout.
  'guard/breakwater': () => {
    const g = new RouteGuard(
      'bench',
      {
        limiter: bwLimiter(),
        breaker: bwBreaker(),
        bulkhead: new Bulkhead({ maxConcurrent: 10 }),
        timeoutMs: 1000,
      },
      systemClock,
    );
    return () => BenchCall.run(g, work);
  },
};

/** The groups, in report order, with the subject each is judged against. */
export const groups = [
  { name: 'breaker', subjects: ['breakwater', 'cockatiel', 'opossum'] },
  { name: 'bulkhead', subjects: ['breakwater', 'cockatiel', 'opossum'] },
  { name: 'timeout', subjects: ['breakwater', 'cockatiel', 'opossum'] },
  { name: 'limiter', subjects: ['breakwater', 'rate-limiter-flexible'] },
  { name: 'decision', subjects: ['breakwater', 'rate-limiter-flexible'] },
  { name: 'composition', subjects: ['breakwater', 'cockatiel', 'opossum'] },
  { name: 'composition-signal', subjects: ['breakwater', 'cockatiel'] },
  { name: 'composition-nested', subjects: ['breakwater'] },
  { name: 'guard', subjects: ['breakwater'] },
  { name: 'direct', subjects: ['direct'] },
];
