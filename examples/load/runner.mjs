/**
 * Runs one load scenario against a running service: autocannon streams (one per kind
 * of traffic, each with its own client id, connections and rate), timed actions (the
 * upstream fails, recovers...), a /health probe and runtime samples. Every response is
 * recorded with its time, latency, status and refusal reason; at the end the service's
 * event log adds the breaker transitions and pool health changes, and the scenario's
 * thresholds are checked.
 */
import autocannon from 'autocannon';
import { createClient } from './client.mjs';
import { fallbackReason, percentile, REASONS, refusalReason, series, summarize } from './stats.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const round = (v, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

/** A threshold check: `ok` with what was measured and what was expected. */
export function check(name, ok, actual, expected) {
  return { name, ok: Boolean(ok), actual: String(actual), expected: String(expected) };
}

/** Whether `transitions` (of one breaker) contain `wanted` ('closed>open', ...) in this order. */
export function inOrder(transitions, wanted) {
  let i = 0;
  for (const t of transitions) if (i < wanted.length && `${t.from}>${t.to}` === wanted[i]) i++;
  return i === wanted.length;
}

/**
 * The client-side count of refusals by reason against the service's
 * `breakwater_rejections_total`: every refusal a client saw was counted, and the service
 * counted no more than the answers a stream's end may have cut off in flight.
 */
function metricsAgree(r) {
  const server = r.serverRefusals;
  if (!server)
    return check("the service's metrics count the same refusals", false, 'metrics not readable', 'equal');
  // A refusal a fallback answered is still a rejection in the metrics (beside the fallback served).
  const by = r.summary.fallbacksBy ?? {};
  const client = Object.fromEntries(REASONS.map((k) => [k, r.summary.refusals[k] + (by[k] ?? 0)]));
  // Each stream's end can cut off one answer per connection: counted by the service, never seen.
  const off = REASONS.filter((k) => server[k] < client[k] || server[k] > client[k] + r.connectionsEnded);
  const show = (m) =>
    REASONS.filter((k) => m[k] > 0)
      .map((k) => `${k} ${m[k]}`)
      .join(', ') || 'none';
  return check(
    "the service's metrics count the same refusals",
    off.length === 0,
    `metrics: ${show(server)}`,
    `clients saw: ${show(client)}`,
  );
}

/**
 * Fallbacks the clients received against the service's
 * `breakwater_fallbacks_total{result="served"}`, within the answers cut off in flight.
 */
function fallbacksAgree(r) {
  const server = r.serverFallbacks;
  const client = r.summary.fallbacks;
  if (server === undefined)
    return check("the service's metrics count the same fallbacks", false, 'metrics not readable', 'equal');
  return check(
    "the service's metrics count the same fallbacks",
    server >= client && server <= client + r.connectionsEnded,
    `metrics: ${server}`,
    `clients saw: ${client}`,
  );
}

/**
 * `scenario`: one of ./scenarios.mjs. `options`: `{ target, upstream, adminToken,
 * scale: 'test' | 'demo' | 'full', duration?, progress?: (line) => void }`.
 */
export async function runScenario(scenario, options) {
  const scale = options.scale ?? 'full';
  const D = options.duration ?? scenario.duration[scale];
  const target = options.target.replace(/\/$/, '');
  const upstream = options.upstream?.replace(/\/$/, '');
  const admin = createClient({ headers: { 'x-admin-token': options.adminToken ?? '' } });
  const probe = createClient();
  const samples = [];
  const unanswered = [];
  const markers = [];
  const health = [];
  const runtime = [];
  const windows = {};
  const running = new Set();
  let stopped = false;

  const startedAt = Date.now();
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;

  // The load generator's own stalls (a busy machine): latencies measured across one include it.
  const stalls = { count: 0, maxMs: 0 };
  let lastBeat = performance.now();
  const heartbeat = setInterval(() => {
    const gap = performance.now() - lastBeat - 50;
    lastBeat = performance.now();
    if (gap > 200) {
      stalls.count++;
      stalls.maxMs = Math.max(stalls.maxMs, Math.round(gap));
    }
  }, 50);

  const activeS = {};
  let connectionsEnded = 0;
  function load(stream, { at = 0, duration = D - at } = {}) {
    activeS[stream.name] = (activeS[stream.name] ?? 0) + duration;
    connectionsEnded += stream.connections ?? 2;
    const paths = stream.paths ?? [stream.path];
    const headers = {
      'x-client-id': stream.client ?? scenario.name,
      ...(stream.body !== undefined && { 'content-type': 'application/json' }),
    };
    return (async () => {
      await sleep(at * 1000);
      if (stopped) return;
      await new Promise((resolve, reject) => {
        let reason = null;
        let fallback = null;
        const requests = paths.map((path) => ({
          method: stream.method ?? 'GET',
          path,
          headers,
          ...(stream.body !== undefined && { body: JSON.stringify(stream.body) }),
          onResponse(status, body, _context, resHeaders) {
            reason = refusalReason(status, body);
            fallback = fallbackReason(resHeaders);
          },
        }));
        const inst = autocannon(
          {
            url: target,
            connections: stream.connections ?? 2,
            ...(stream.rate !== undefined && { overallRate: stream.rate }),
            duration: duration,
            timeout: 5,
            requests,
          },
          (err) => {
            running.delete(inst);
            if (err) reject(err);
            else resolve();
          },
        );
        running.add(inst);
        // recordBody (our onResponse) runs just before 'response', on the same client, synchronously.
        inst.on('response', (_client, status, _bytes, ms) => {
          samples.push({ t: now(), ms, status, reason, fallback, stream: stream.name });
          reason = null;
          fallback = null;
        });
        inst.on('reqError', (e) =>
          unanswered.push({ t: now(), stream: stream.name, error: e?.code ?? e?.message ?? String(e) }),
        );
      });
    })();
  }

  async function at(seconds, label, fn) {
    await sleep(seconds * 1000);
    if (stopped) return;
    markers.push({ t: round(now(), 2), label });
    await fn?.();
  }

  /** GETs /health every `everyMs` from `from` for `duration` seconds, timing each answer. */
  async function probeHealth({ from = 0, duration = D - from, everyMs = 100, path = '/health' } = {}) {
    await sleep(from * 1000);
    const end = performance.now() + duration * 1000;
    while (!stopped && performance.now() < end) {
      const t = now();
      try {
        const r = await probe.get(target + path, { timeoutMs: 2_000 });
        health.push({ t, ms: r.ms, status: r.status, health: r.json?.status });
      } catch (e) {
        health.push({ t, ms: 2_000, status: 0, error: e.message });
      }
      await sleep(everyMs);
    }
  }

  async function sampleRuntime({ everyS = 1, from = 0, duration = D - from } = {}) {
    await sleep(from * 1000);
    const end = performance.now() + duration * 1000;
    while (!stopped && performance.now() < end) {
      const t = now();
      const r = await runtimeNow();
      if (r) runtime.push({ t, ...r });
      await sleep(everyS * 1000);
    }
  }

  /**
   * `breakwater_rejections_total` summed by reason, from the service's /metrics, and
   * `breakwater_fallbacks_total{result="served"}` summed as `served`.
   */
  async function serverCounts() {
    try {
      const r = await probe.get(`${target}/metrics`);
      if (r.status !== 200) return undefined;
      const out = {};
      for (const m of r.text.matchAll(/^breakwater_rejections_total\{([^}]*)\} (\S+)$/gm)) {
        const reason = /reason="([^"]+)"/.exec(m[1])?.[1];
        if (reason) out[reason] = (out[reason] ?? 0) + Number(m[2]);
      }
      let served = 0;
      for (const m of r.text.matchAll(/^breakwater_fallbacks_total\{([^}]*)\} (\S+)$/gm))
        if (m[1].includes('result="served"')) served += Number(m[2]);
      return { refusals: out, served };
    } catch {
      return undefined;
    }
  }

  async function runtimeNow(query = '') {
    try {
      const r = await admin.get(`${target}/admin/runtime${query}`);
      if (r.status !== 200) return undefined;
      const b = r.json;
      return {
        heapMB: round(b.memory.heapUsed / 2 ** 20),
        rssMB: round(b.memory.rss / 2 ** 20),
        handles: b.handles,
        eldP50: b.eventLoopDelayMs.p50,
        eldP99: b.eventLoopDelayMs.p99,
        eldMax: b.eventLoopDelayMs.max,
        workersQueued: b.workers.queued,
        redis: b.redis,
      };
    } catch {
      return undefined;
    }
  }

  /** Marks a named time window (for thresholds): `[from, to)` seconds. */
  function window(name, from, to) {
    windows[name] = { from, to };
  }

  const ctx = {
    D,
    scale,
    load,
    at,
    probeHealth,
    sampleRuntime,
    runtimeNow,
    window,
    /** Scenario-specific numbers for the report. */
    extra: {},
    upstream: {
      set: async (patch) => {
        if (!upstream) throw new Error(`scenario ${scenario.name} needs the upstream's URL (--upstream)`);
        const r = await admin.put(`${upstream}/admin/chaos`, patch);
        if (r.status !== 200)
          throw new Error(`upstream chaos ${JSON.stringify(patch)}: ${r.status} ${r.text}`);
      },
      reset: async () => {
        if (upstream) await admin.post(`${upstream}/admin/chaos/reset`, {});
      },
    },
    service: {
      get: (path) => admin.get(target + path),
      put: (path, body) => admin.put(target + path, body),
    },
  };

  let ticker;
  if (options.progress) {
    const every = D >= 30 ? 5 : 2;
    ticker = setInterval(() => {
      const recent = samples.filter((s) => s.t >= now() - every);
      const lat = recent.map((s) => s.ms).sort((a, b) => a - b);
      const refused = REASONS.map((r) => [r, recent.filter((s) => s.reason === r).length]).filter(
        ([, n]) => n > 0,
      );
      const degraded = recent.filter((s) => s.fallback).length;
      options.progress(
        `${scenario.name.padEnd(10)} ${now().toFixed(0).padStart(3)}s/${D}s  ${samples.length.toLocaleString('en-US').padStart(7)} responses  ` +
          `${round(recent.length / every, 0)} req/s  p99 ${round(percentile(lat, 99), 0)} ms` +
          (refused.length ? `  refused: ${refused.map(([r, n]) => `${r} ${n}`).join(', ')}` : '') +
          (degraded ? `  fallbacks: ${degraded}` : ''),
      );
    }, every * 1000);
  }

  const countedBefore = await serverCounts();
  let error;
  try {
    await scenario.run(ctx);
  } catch (e) {
    error = e;
  } finally {
    stopped = true;
    clearInterval(ticker);
    clearInterval(heartbeat);
    for (const inst of running) inst.stop();
  }
  const durationS = round(now(), 2);
  const countedAfter = await serverCounts();
  try {
    await scenario.cleanup?.(ctx);
  } catch {}

  let log = [];
  let breakerStates = {};
  try {
    const [ev, snap] = await Promise.all([
      admin.get(`${target}/admin/events?since=0`),
      admin.get(`${target}/admin`),
    ]);
    if (ev.status === 200) log = ev.json.events;
    if (snap.status === 200)
      breakerStates = Object.fromEntries(snap.json.breakers.map((b) => [b.name, b.state]));
  } catch {}
  const rel = (e) => round((e.at - startedAt) / 1000, 2);
  const breakerEvents = log.filter((e) => e.type === 'breaker');
  const poolEvents = log.filter((e) => e.type === 'pool');
  const initialOf = (list, key) => {
    const out = {};
    for (const e of list) if (e.at < startedAt) out[e[key]] = e.to;
    return out;
  };
  const during = (e) => e.at >= startedAt && e.at <= startedAt + durationS * 1000 + 500;
  const result = {
    name: scenario.name,
    title: scenario.title,
    description: scenario.description,
    scale,
    startedAt: new Date(startedAt).toISOString(),
    durationS,
    summary: summarize(samples, durationS, unanswered.length),
    streams: Object.fromEntries(
      [...new Set(samples.map((s) => s.stream).concat(unanswered.map((u) => u.stream)))].map((name) => [
        name,
        summarize(
          samples.filter((s) => s.stream === name),
          Math.min(durationS, activeS[name] ?? durationS),
          unanswered.filter((u) => u.stream === name).length,
        ),
      ]),
    ),
    // One-second buckets: autocannon paces a rate per second, so finer ones alternate full and empty.
    series: series(samples, durationS, 1),
    markers,
    windows,
    breakers: {
      // Every breaker, in the state it was in when the scenario started (closed unless an event says otherwise).
      initial: {
        ...Object.fromEntries(Object.keys(breakerStates).map((n) => [n, 'closed'])),
        ...initialOf(breakerEvents, 'breaker'),
      },
      transitions: breakerEvents.filter(during).map((e) => ({
        t: rel(e),
        at: new Date(e.at).toISOString(),
        breaker: e.breaker,
        from: e.from,
        to: e.to,
        reason: e.reason,
      })),
    },
    pools: {
      initial: initialOf(poolEvents, 'pool'),
      changes: poolEvents.filter(during).map((e) => ({
        t: rel(e),
        at: new Date(e.at).toISOString(),
        pool: e.pool,
        from: e.from,
        to: e.to,
        output: e.output,
      })),
    },
    health: health.length
      ? { samples: health.map((h) => ({ t: round(h.t, 2), ms: round(h.ms, 2), status: h.status })) }
      : undefined,
    runtime,
    extra: ctx.extra,
    generatorStalls: stalls,
    connectionsEnded,
    // What the service's own metrics counted (breakwater_rejections_total), to compare with what clients saw.
    serverRefusals:
      countedBefore && countedAfter
        ? Object.fromEntries(
            REASONS.map((r) => [r, (countedAfter.refusals[r] ?? 0) - (countedBefore.refusals[r] ?? 0)]),
          )
        : undefined,
    // And the fallbacks it served (breakwater_fallbacks_total{result="served"}).
    serverFallbacks: countedBefore && countedAfter ? countedAfter.served - countedBefore.served : undefined,
    unansweredErrors: [...new Set(unanswered.map((u) => u.error))].slice(0, 5),
    error: error ? String(error.stack ?? error) : undefined,
  };
  /** Numbers of the responses in `[from, to)` seconds, optionally of one stream. */
  const between = (from, to, stream) =>
    summarize(
      samples.filter((s) => s.t >= from && s.t < to && (stream === undefined || s.stream === stream)),
      to - from,
      unanswered.filter((u) => u.t >= from && u.t < to && (stream === undefined || u.stream === stream))
        .length,
    );
  const healthBetween = (from, to) => {
    const lat = health
      .filter((h) => h.t >= from && h.t < to)
      .map((h) => h.ms)
      .sort((a, b) => a - b);
    return {
      probes: lat.length,
      p50: round(percentile(lat, 50), 2),
      p95: round(percentile(lat, 95), 2),
      p99: round(percentile(lat, 99), 2),
      max: round(lat.at(-1) ?? 0, 2),
    };
  };
  try {
    result.checks = error
      ? [check('scenario ran to the end', false, error.message, 'no error')]
      : [
          ...(await scenario.check(result, { between, healthBetween })),
          metricsAgree(result),
          fallbacksAgree(result),
        ];
  } catch (e) {
    result.checks = [check('thresholds could be checked', false, e.message, 'no error')];
  }
  result.passed = result.checks.every((c) => c.ok);
  admin.close();
  probe.close();
  return result;
}
