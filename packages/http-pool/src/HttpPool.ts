import type { Readable } from 'node:stream';
import {
  type CircuitBreaker,
  type Clock,
  ConfigError,
  isBreakwaterError,
  type Event as Listeners,
  type Pool,
  type PoolHealth,
  PoolQueueFullError,
  PoolQueueTimeoutError,
  type PoolStats,
  PoolUnhealthyError,
  parseDuration,
  Retry,
} from '@breakwater/core';
import {
  Emitter,
  type PoolEvents,
  type PoolHealthCheckEvent,
  PoolLifecycle,
  systemClock,
} from '@breakwater/core/extend';
import { Attempt, type AttemptHost, type AttemptResponse } from './Attempt.js';
import type { BodyRules } from './bodyRules.js';
import { checkFallback, coversError, reasonOf, toResponse } from './fallback.js';
import { HealthChecker } from './HealthChecker.js';
import type { HttpResponse } from './HttpResponse.js';
import { Origin } from './Origin.js';
import { type HttpPoolOptions, type ResolvedHttpPoolOptions, resolveHttpPoolOptions } from './options.js';
import { Pacer } from './pacing/Pacer.js';
import type { PaceWaiter } from './pacing/PaceWaiter.js';
import { priorityIndex } from './pacing/priority.js';
import {
  buildDispatch,
  type HttpCallOptions,
  type HttpFallback,
  type HttpFallbackEvent,
  type HttpRequestOptions,
  isStreamBody,
  type RequestBody,
} from './request.js';
import { WaitQueue } from './WaitQueue.js';

/** {@link HttpPool.stats}: the core numbers plus undici's and the pool's own. */
export interface HttpPoolStats extends PoolStats {
  /** Calls waiting in the pool's own queue (`maxQueue` bounds it). */
  queued: number;
  /** Attempts sent and not yet finished. */
  inFlight: number;
  /** Connections open (busy or idle). */
  connected: number;
  /** Origins configured, and those in rotation. */
  origins: number;
  healthyOrigins: number;
  // With `pace` only (absent otherwise, so metrics can tell): `paceRate`, the current pace
  // in calls per second (`breakwater_pool_pace_rate`), and `paceQueued`, calls waiting for a token.
}

/** What `events.onRequestDuration` reports of a finished request. */
interface RequestDuration {
  method: string;
  statusClass: string;
  durationMs: number;
}

/** Outcome labels of `events.onRequest`. */
export type RequestOutcome = 'success' | 'failure' | 'timeout' | 'aborted' | 'rejected';

const REFUSALS = new Set([
  'CIRCUIT_OPEN',
  'POOL_QUEUE_FULL',
  'POOL_QUEUE_TIMEOUT',
  'POOL_UNHEALTHY',
  'POOL_CLOSED',
  'POOL_PACE_TIMEOUT',
]);

/** Events of a pool without pacing: nothing ever fires. */
const NO_EVENT = () => ({ dispose() {} });

/**
 * An outbound HTTP pool on undici: bounded connections per origin, a bounded wait queue,
 * timeouts well under undici's defaults, active and passive health, optional breaker and
 * retry, optional pacing that listens to the upstream's rate limits (`pace`), and the
 * inbound request's deadline, abort and correlation headers carried into every call.
 *
 * ```ts
 * const api = bw.pools.add(new HttpPool({ name: 'api', baseUrl: 'http://127.0.0.1:9000',
 *   healthCheck: { path: '/health', interval: '10s' } }));
 * app.get('/x', bw.route({ timeout: '2s' }), async (req, res) => {
 *   const r = await api.get('/items', { context: req.breakwater });
 *   res.status(r.status).json(await r.json());
 * });
 * ```
 */
export class HttpPool implements Pool, AttemptHost {
  readonly name: string;
  readonly critical: boolean;
  readonly options: ResolvedHttpPoolOptions;
  readonly clock: Clock;
  /** The breaker every attempt passes, if configured. */
  readonly breaker: CircuitBreaker | undefined;
  /** The retry policy, if configured. */
  readonly retry: Retry | undefined;
  /** The pacer every attempt takes a token from, with `pace` (its `onChange` tells how the pace adapts). */
  readonly pacer: Pacer | undefined;
  readonly events: Required<PoolEvents>;
  /** Each fallback attempt: served (the call answered with its response) or failed (it declined or threw). */
  readonly onFallback: Listeners<HttpFallbackEvent>;
  private readonly fallback: HttpFallback | undefined;
  private readonly fallbackEmitter = new Emitter<HttpFallbackEvent>();
  private readonly origins: Origin[];
  private readonly queue = new WaitQueue<Attempt>();
  private readonly random: () => number;
  private readonly checker: HealthChecker | undefined;
  private readonly acquireEmitter = new Emitter<number>();
  private readonly acquireTimeoutEmitter = new Emitter<void>();
  private readonly healthCheckEmitter = new Emitter<PoolHealthCheckEvent>();
  private readonly requestEmitter = new Emitter<string>();
  private readonly durationEmitter = new Emitter<RequestDuration>();
  private readonly resultEmitter = new Emitter<{ outcome: RequestOutcome; statusClass: string }>();
  private readonly retryEmitter = new Emitter<string>();
  private readonly lifecycle: PoolLifecycle;
  private rr = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: HttpPoolOptions) {
    const o = resolveHttpPoolOptions(options);
    this.options = o;
    this.name = o.name;
    this.critical = o.critical;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.breaker = o.breaker;
    this.fallback = o.fallback;
    this.onFallback = this.fallbackEmitter.event;
    if (o.retry !== undefined) {
      const ro = o.retry;
      this.retry = new Retry(
        {
          ...ro,
          clock: ro.clock ?? options.clock,
          random: ro.random ?? options.random,
        },
        `httpPool[${o.name}].retry`,
      );
      this.retry.onRetry((e) => {
        if (this.retryEmitter.size > 0) this.retryEmitter.fire(e.reason);
      });
    }
    this.pacer = o.pace === undefined ? undefined : new Pacer(o.pace, this.clock, o.name);
    this.events = {
      onPaceWait: this.pacer?.onWait ?? NO_EVENT,
      onPaceRefusal: this.pacer?.onRefuse ?? NO_EVENT,
      onAcquire: this.acquireEmitter.event,
      onAcquireTimeout: this.acquireTimeoutEmitter.event,
      onHealthCheck: this.healthCheckEmitter.event,
      onRequest: this.requestEmitter.event,
      onRequestDuration: this.durationEmitter.event,
      onRequestResult: this.resultEmitter.event,
      onRetry: this.retryEmitter.event,
    };
    const onHealthChange = (_o: Origin, healthy: boolean) => {
      if (healthy && this.queue.size > 0) this.drain();
    };
    this.origins = o.origins.map((url) => new Origin(url, o, onHealthChange));
    this.lifecycle = new PoolLifecycle(o.name, {
      drain: () => this.settle(),
      release: async () => {
        await Promise.all(this.origins.map((origin) => origin.close()));
      },
      destroy: () => this.abortAll(),
    });
    const hc = o.healthCheck;
    if (hc !== undefined) {
      this.checker = new HealthChecker(() => this.checkOnce(), hc.intervalMs, this.clock, this.random);
      this.checker.start();
    }
  }

  /**
   * Sends a request; resolves with the whole response, body read (at most
   * `maxResponseSize`). With `stream: true`, resolves at the headers with the body as a
   * `Readable`: the call (its connection, its metrics and breaker verdict) ends with the body.
   * With a `fallback` (the pool's or the request's), a call that would throw answers with
   * the fallback's response instead, where it gives one.
   */
  request(opts: HttpRequestOptions & { stream: true }): Promise<HttpResponse<Readable>>;
  request(opts: HttpRequestOptions & { stream?: false }): Promise<HttpResponse>;
  request(opts: HttpRequestOptions): Promise<HttpResponse | HttpResponse<Readable>>;
  request(opts: HttpRequestOptions): Promise<AttemptResponse> {
    const own = opts?.fallback;
    let fb: HttpFallback | false | undefined = this.fallback;
    if (own !== undefined) {
      try {
        fb = checkFallback(own, 'request.fallback');
      } catch (e) {
        return Promise.reject(e);
      }
    }
    if (fb === undefined || fb === false) return this.send(opts);
    const fallback = fb;
    return this.send(opts).catch((e: unknown) => this.fallBack(fallback, e, opts));
  }

  /** The call failed with `e`: the fallback's response, or `e` thrown again when it declines. */
  private async fallBack(fb: HttpFallback, e: unknown, opts: HttpRequestOptions): Promise<AttemptResponse> {
    if (!coversError(e, opts)) throw e;
    const reason = reasonOf(e);
    let res: AttemptResponse | undefined;
    try {
      const a = await fb({
        reason,
        error: e,
        pool: this.name,
        method: opts.method ?? 'GET',
        path: opts.path,
        request: opts,
        signal: opts.signal ?? opts.context?.signal,
      });
      res = toResponse(a, reason, opts.stream === true) as AttemptResponse | undefined;
    } catch {
      // A fallback that throws declines, as one that answers nothing.
    }
    if (this.fallbackEmitter.size > 0)
      this.fallbackEmitter.fire({ reason, result: res === undefined ? 'failed' : 'served', error: e });
    if (res === undefined) throw e;
    return res;
  }

  private async send(opts: HttpRequestOptions): Promise<AttemptResponse> {
    if (!this.lifecycle.isOpen) throw this.count(this.lifecycle.closedError());
    const o = this.options;
    // NaN: nobody listens for durations.
    const t0 = this.durationEmitter.size > 0 ? this.clock.now() : Number.NaN;
    const d = buildDispatch(
      opts,
      o.basePath,
      o.headers,
      o.forwardHeaders,
      o.headersTimeoutMs,
      o.bodyTimeoutMs,
    );
    const timeoutMs =
      opts.timeout === undefined ? o.timeoutMs : parseDuration(opts.timeout, 'request.timeout');
    const stream = opts.stream === true;
    if (opts.stream !== undefined && typeof opts.stream !== 'boolean')
      throw new ConfigError('request.stream', opts.stream, 'true or false');
    let limit = stream ? -1 : o.maxResponseSize;
    if (opts.maxResponseSize !== undefined) {
      const m = opts.maxResponseSize;
      if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)
        throw new ConfigError('request.maxResponseSize', m, 'a whole number of bytes, 0 or more');
      limit = m;
    }
    const rules: BodyRules = {
      pool: this.name,
      limit,
      bodyTimeoutMs: o.bodyTimeoutMs,
      expectsBody: d.method !== 'HEAD',
    };
    // A stream is read as it is sent: once tried, it cannot be sent again.
    const replayable = !isStreamBody(opts.body);
    const ctx = opts.context;
    const s1 = opts.signal;
    const s2 = ctx?.signal;
    if (s1?.aborted) throw this.count(s1.reason, 'aborted');
    if (s2?.aborted) throw this.count(s2.reason, 'aborted');

    const pacer = this.pacer;
    const priority = pacer === undefined ? 1 : callPriority(opts);
    let current: Attempt | undefined;
    // The attempt whose response the call returns, and a streamed body under way.
    let answered: Attempt | undefined;
    let body: Readable | undefined;
    let abortReason: unknown;
    let ac: AbortController | undefined;
    // Pacing: the call waiting for a token, whether the next attempt holds one, and when it left.
    let paceWait: PaceWaiter | undefined;
    let paced = false;
    let sentAt = 0;
    const onAbort = (ev: Event) => {
      if (abortReason !== undefined) return;
      abortReason = (ev.target as AbortSignal).reason;
      if (paceWait !== undefined) pacer!.cancel(paceWait, abortReason);
      current?.giveUp(abortReason, false);
      ac?.abort(abortReason);
      body?.destroy(abortReason as Error);
    };
    s1?.addEventListener('abort', onAbort);
    s2?.addEventListener('abort', onAbort);

    const attempt = (): Promise<AttemptResponse> => {
      if (abortReason !== undefined) return Promise.reject(abortReason);
      // A retry after the drain finds the connections going away: refuse it as closed.
      if (this.lifecycle.isDrained) return Promise.reject(this.lifecycle.closedError());
      if (pacer !== undefined) {
        if (paced) paced = false;
        else {
          // Every attempt (a retry too) takes a token; the wait is bounded by the inbound budget.
          let limit = pacer.options.maxWaitMs;
          if (ctx !== undefined) {
            const rem = ctx.remainingMs();
            if (rem < limit) limit = rem;
          }
          let w: PaceWaiter | undefined;
          try {
            w = pacer.acquire(priority, limit);
          } catch (e) {
            return Promise.reject(e);
          }
          if (w !== undefined) {
            paceWait = w;
            return w.promise.then(
              () => {
                paceWait = undefined;
                paced = true;
                sentAt = w.grantedAt;
                return attempt();
              },
              (e: unknown) => {
                paceWait = undefined;
                throw e;
              },
            );
          }
          sentAt = pacer.lastTakeAt;
        }
      }
      let ms = timeoutMs;
      if (ctx !== undefined) {
        const rem = ctx.remainingMs();
        if (rem < ms) ms = rem;
      }
      return new Promise<AttemptResponse>((resolve, reject) => {
        const a = new Attempt(
          this,
          d,
          ms,
          (error, response) => {
            current = undefined;
            if (error === undefined) {
              answered = a;
              pacer?.observe(response!.status, response!.headers, sentAt);
              resolve(response!);
            } else reject(error);
          },
          rules,
          stream,
          ctx?.breaker,
        );
        current = a;
        a.start();
      });
    };

    // A streamed call's listeners stay until its body ends.
    let streaming = false;
    const unlisten = () => {
      s1?.removeEventListener('abort', onAbort);
      s2?.removeEventListener('abort', onAbort);
    };
    try {
      let res: AttemptResponse;
      if (this.retry === undefined) res = await attempt();
      else {
        ac = new AbortController();
        const deadline =
          ctx !== undefined && ctx.deadline !== Number.POSITIVE_INFINITY
            ? this.clock.now() + ctx.remainingMs()
            : undefined;
        res = await this.retry.execute(attempt, ac.signal, {
          method: d.method,
          idempotent: replayable ? opts.idempotent : false,
          deadline,
          discard: discardBody,
        });
      }
      if (!stream) {
        this.answered(res.status);
        this.timed(d.method, t0, res.status);
        return res;
      }
      streaming = true;
      const b = res.body as Readable;
      if (abortReason !== undefined) b.destroy(abortReason as Error);
      else body = b;
      answered!.whenEnded((error, byReader) => {
        unlisten();
        body = undefined;
        if (byReader) this.count(error, 'aborted', res.status);
        else if (error !== undefined) this.count(error);
        else this.answered(res.status);
        // A reader leaving early still got the upstream's answer; an upstream failing mid-body did not.
        this.timed(d.method, t0, error !== undefined && !byReader ? undefined : res.status);
      });
      return res;
    } catch (e) {
      this.timed(d.method, t0, undefined);
      throw this.count(e, abortReason !== undefined && e === abortReason ? 'aborted' : undefined);
    } finally {
      if (!streaming) unlisten();
    }
  }

  /** `GET path` (with `stream: true`, the body as a `Readable`). */
  get(path: string, options: HttpCallOptions & { stream: true }): Promise<HttpResponse<Readable>>;
  get(path: string, options?: HttpCallOptions & { stream?: false }): Promise<HttpResponse>;
  get(path: string, options?: HttpCallOptions): Promise<HttpResponse | HttpResponse<Readable>>;
  get(path: string, options?: HttpCallOptions): Promise<AttemptResponse> {
    return this.request({ ...options, method: 'GET', path });
  }

  /** `POST path` with a body (an object is sent as JSON). */
  post(
    path: string,
    body?: RequestBody,
    options?: HttpCallOptions & { stream?: false },
  ): Promise<HttpResponse> {
    return this.request({ ...options, method: 'POST', path, body, stream: false });
  }

  /** `PUT path` with a body. */
  put(
    path: string,
    body?: RequestBody,
    options?: HttpCallOptions & { stream?: false },
  ): Promise<HttpResponse> {
    return this.request({ ...options, method: 'PUT', path, body, stream: false });
  }

  /** `DELETE path`. */
  delete(path: string, options?: HttpCallOptions & { stream?: false }): Promise<HttpResponse> {
    return this.request({ ...options, method: 'DELETE', path, stream: false });
  }

  /** Live numbers, read from undici at call time: idle = free, active = connected − free, pending = queued. */
  stats(): HttpPoolStats {
    let connected = 0;
    let free = 0;
    let undiciQueued = 0;
    let healthy = 0;
    const now = this.clock.now();
    for (const origin of this.origins) {
      const s = origin.stats();
      connected += s.connected;
      free += s.free;
      undiciQueued += s.queued;
      if (origin.health.healthy(now)) healthy++;
    }
    const out: HttpPoolStats = {
      active: connected - free,
      idle: free,
      pending: undiciQueued + this.queue.size,
      max: this.options.connections * this.origins.length,
      queued: this.queue.size,
      inFlight: this.inFlight,
      connected,
      origins: this.origins.length,
      healthyOrigins: healthy,
    };
    if (this.pacer !== undefined) {
      out.paceRate = this.pacer.rate;
      out.paceQueued = this.pacer.waiting;
    }
    return out;
  }

  /**
   * Health as the background checks (and passive observation) last saw it: `pass` with
   * every origin healthy, `warn` with some out of rotation or the breaker open, `fail`
   * with none healthy or the pool closed. Never sends a probe itself.
   */
  async health(): Promise<PoolHealth> {
    const now = this.clock.now();
    const time = new Date(now).toISOString();
    if (!this.lifecycle.isOpen) return { status: 'fail', output: 'pool closed', time };
    const down: string[] = [];
    let latency = 0;
    let probed = 0;
    for (const origin of this.origins) {
      const h = origin.health;
      if (!h.healthy(now)) down.push(`${origin.url}: ${h.lastError ?? 'unhealthy'}`);
      if (h.lastProbeMs !== undefined) {
        latency += h.lastProbeMs;
        probed++;
      }
    }
    const latencyMs = probed > 0 ? Math.round((latency / probed) * 1000) / 1000 : undefined;
    const out: PoolHealth = { status: 'pass', time };
    if (latencyMs !== undefined) out.latencyMs = latencyMs;
    if (down.length === this.origins.length) out.status = 'fail';
    else if (down.length > 0) out.status = 'warn';
    else if (this.breaker !== undefined && this.breaker.state === 'open') {
      out.status = 'warn';
      out.output = `circuit breaker '${this.breaker.name}' is open`;
    } else if (this.pacer !== undefined && this.pacer.paused > now) {
      // The upstream asked for quiet (429/Retry-After or an exhausted quota): degraded, not down.
      out.status = 'warn';
      out.output = `paced: the upstream asked for a pause until ${new Date(this.pacer.paused).toISOString()}`;
    }
    if (down.length > 0) out.output = down.join('; ');
    return out;
  }

  /** Runs one round of active health checks now and waits for it (no-op without `healthCheck`). */
  async checkHealth(): Promise<void> {
    await this.checker?.runNow();
  }

  /**
   * Graceful close: refuses new calls (`POOL_CLOSED`), lets queued and in-flight ones
   * finish within `closeTimeout`, then closes every connection (destroying them when the
   * bound passes). Calls still waiting for a pacing token are refused at once
   * (`POOL_CLOSED`): the upstream asked for that wait, and it could outlast the close.
   * Safe to call twice.
   */
  close(): Promise<void> {
    return this.lifecycle.close();
  }

  /**
   * Immediate close: queued calls fail with `POOL_CLOSED`, running ones are aborted; a
   * close under way then settles too. Safe to call twice; a no-op after a finished close.
   */
  destroy(): Promise<void> {
    return this.lifecycle.destroy();
  }

  // --- AttemptHost: connection slots and the queue ----------------------------------

  /** @internal */
  acquire(a: Attempt): void {
    const origin = this.pick();
    if (origin !== null && origin !== undefined) {
      this.take(origin);
      if (this.acquireEmitter.size > 0) this.acquireEmitter.fire(0);
      a.dispatch(origin);
      return;
    }
    if (this.lifecycle.isDrained) throw this.lifecycle.closedError();
    if (origin === undefined) throw new PoolUnhealthyError(this.name, this.options.healthCheck?.intervalMs);
    const o = this.options;
    if (this.queue.size >= o.maxQueue) throw new PoolQueueFullError(this.name, o.maxQueue);
    this.queue.push(a);
    a.queuedAt = this.clock.now();
    a.queueTimer = this.clock.setTimeout(() => {
      if (!this.queue.remove(a)) return;
      if (this.acquireTimeoutEmitter.size > 0) this.acquireTimeoutEmitter.fire();
      a.giveUp(new PoolQueueTimeoutError(this.name, o.queueTimeoutMs), false);
    }, o.queueTimeoutMs);
  }

  /** @internal */
  dequeue(a: Attempt): void {
    if (this.queue.remove(a)) this.clock.clearTimeout(a.queueTimer!);
    if (this.queue.size === 0 && this.inFlight === 0) this.notifyIdle();
  }

  /** @internal */
  finished(origin: Origin, failed: boolean | undefined, error: unknown): void {
    origin.inFlight--;
    this.inFlight--;
    if (failed !== undefined && this.options.passive !== undefined) {
      const label =
        error === undefined
          ? 'status >= 500'
          : ((error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error)));
      origin.health.traffic(!failed, this.clock.now(), label);
    }
    if (this.queue.size > 0) this.drain();
    else if (this.inFlight === 0) this.notifyIdle();
  }

  private take(origin: Origin): void {
    origin.inFlight++;
    this.inFlight++;
  }

  /** Hands free connections to queued attempts, oldest first. */
  private drain(): void {
    while (this.queue.size > 0) {
      const origin = this.pick();
      if (origin === null || origin === undefined) return;
      const a = this.queue.shift()!;
      this.clock.clearTimeout(a.queueTimer!);
      this.take(origin);
      if (this.acquireEmitter.size > 0) this.acquireEmitter.fire(this.clock.now() - a.queuedAt);
      a.dispatch(origin);
    }
  }

  /**
   * An origin in rotation with a free connection (round robin); `null` when all those in
   * rotation are busy; `undefined` when none is in rotation and `onUnhealthy` is 'reject'.
   * With 'pass', an all-unhealthy pool picks among every origin.
   */
  private pick(): Origin | null | undefined {
    const os = this.origins;
    const n = os.length;
    const cap = this.options.connections;
    const now = this.clock.now();
    const start = this.rr;
    this.rr = start + 1 === n ? 0 : start + 1;
    let anyHealthy = false;
    for (let i = 0; i < n; i++) {
      const o = os[(start + i) % n]!;
      if (!o.health.healthy(now)) continue;
      anyHealthy = true;
      if (o.inFlight < cap) return o;
    }
    if (anyHealthy) return null;
    if (this.options.onUnhealthy === 'reject') return undefined;
    for (let i = 0; i < n; i++) {
      const o = os[(start + i) % n]!;
      if (o.inFlight < cap) return o;
    }
    return null;
  }

  /** close()'s drain: false when calls are still running at `closeTimeout` (the pool is then destroyed). */
  private async settle(): Promise<boolean> {
    this.pacer?.close(this.lifecycle.closedError());
    await this.checker?.stop();
    return this.whenIdle(this.options.closeTimeoutMs);
  }

  /** destroy(): fails queued calls, aborts running ones, closes every connection now. */
  private async abortAll(): Promise<void> {
    this.pacer?.close(this.lifecycle.closedError());
    const stopped = this.checker?.stop();
    for (let a = this.queue.shift(); a !== undefined; a = this.queue.shift()) {
      this.clock.clearTimeout(a.queueTimer!);
      a.giveUp(this.lifecycle.closedError(), false);
    }
    await Promise.all(this.origins.map((o) => o.destroy()));
    await stopped;
    // A close waiting for the pool to go idle stops waiting.
    this.notifyIdle();
  }

  private async checkOnce(): Promise<void> {
    const hc = this.options.healthCheck!;
    const results = await Promise.all(this.origins.map((o) => o.probe(hc, this.clock)));
    if (this.healthCheckEmitter.size > 0) for (const r of results) this.healthCheckEmitter.fire(r);
  }

  private whenIdle(ms: number): Promise<boolean> {
    if (this.inFlight === 0 && this.queue.size === 0) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const timer = this.clock.setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      const done = () => {
        this.clock.clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  private notifyIdle(): void {
    if (this.idleWaiters.length === 0) return;
    const ws = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of ws) w();
  }

  /** Announces a finished request's duration since `t0` (no `status`: it failed without an answer). */
  private timed(method: string, t0: number, status: number | undefined): void {
    if (Number.isNaN(t0) || this.durationEmitter.size === 0) return;
    this.durationEmitter.fire({
      method,
      statusClass: status === undefined ? 'error' : `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx`,
      durationMs: this.clock.now() - t0,
    });
  }

  /** Announces a failed request's outcome and returns the error to throw. */
  private count(e: unknown, outcome?: RequestOutcome, status?: number): unknown {
    if (this.requestEmitter.size > 0 || this.resultEmitter.size > 0) {
      let label: RequestOutcome = outcome ?? 'failure';
      if (outcome === undefined && isBreakwaterError(e)) {
        if (e.code === 'TIMEOUT') label = 'timeout';
        else if (REFUSALS.has(e.code)) label = 'rejected';
      }
      this.announce(label, status);
    }
    return e;
  }

  /** Announces a request answered with `status`: a success unless 5xx. */
  private answered(status: number): void {
    if (this.requestEmitter.size > 0 || this.resultEmitter.size > 0)
      this.announce(status >= 500 ? 'failure' : 'success', status);
  }

  /** Announces a finished request's outcome, and its status class (`error`: no answer). */
  private announce(outcome: RequestOutcome, status: number | undefined): void {
    if (this.requestEmitter.size > 0) this.requestEmitter.fire(outcome);
    if (this.resultEmitter.size > 0)
      this.resultEmitter.fire({
        outcome,
        statusClass:
          status === undefined ? 'error' : `${Math.min(5, Math.max(1, Math.floor(status / 100)))}xx`,
      });
  }
}

/** Retry's disposal of a response it is about to retry: a streamed body is drained or cut. */
function discardBody(r: AttemptResponse): Promise<void> {
  return r.discard();
}

/** A call's pacing queue: its own `priority`, else its inbound request's, else normal. */
function callPriority(opts: HttpRequestOptions): number {
  if (opts.priority !== undefined) return priorityIndex(opts.priority);
  // The guard's context carries the route's priority (0..2); read it without depending on its type.
  const p = (opts.context as { priority?: unknown } | undefined)?.priority;
  return p === 0 || p === 1 || p === 2 ? p : 1;
}
