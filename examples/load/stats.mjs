/**
 * Turns the raw responses of a scenario into what the report shows: totals, latency
 * percentiles, refusals by reason, per-stream numbers and time series.
 */

/** The refusal reasons Breakwater answers with, by the `code` of the problem body. */
export const REASONS = ['rate_limited', 'circuit_open', 'bulkhead_full', 'timeout'];
const BY_CODE = {
  RATE_LIMITED: 'rate_limited',
  CIRCUIT_OPEN: 'circuit_open',
  BULKHEAD_FULL: 'bulkhead_full',
  TIMEOUT: 'timeout',
};

/** The refusal reason of a response, or null: 429 and 503/504 answers carry a problem `code`. */
export function refusalReason(status, body) {
  if (status !== 429 && status !== 503 && status !== 504) return null;
  const m = /"code"\s*:\s*"([A-Z_]+)"/.exec(body ?? '');
  return m ? (BY_CODE[m[1]] ?? null) : null;
}

/**
 * The reason of a degraded answer (a route's fallback: `Breakwater-Fallback: <reason>`), or
 * null. Such an answer stands in for a refusal or a failure: counted as a fallback, not as ok.
 */
export function fallbackReason(headers) {
  if (!headers) return null;
  // autocannon hands the raw headers: names as the server spelled them.
  let v = headers['breakwater-fallback'] ?? headers['Breakwater-Fallback'];
  if (v === undefined)
    for (const k of Object.keys(headers)) if (k.toLowerCase() === 'breakwater-fallback') v = headers[k];
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** The q-th percentile (0..100) of an ascending array. */
export function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1));
  return sorted[i];
}

const round = (v, d = 1) => Math.round(v * 10 ** d) / 10 ** d;

/** Numbers of one set of samples. */
export function summarize(samples, durationS, unanswered = 0) {
  const lat = samples.map((s) => s.ms).sort((a, b) => a - b);
  const refusals = Object.fromEntries(REASONS.map((r) => [r, 0]));
  const fallbacksBy = {};
  const statuses = {};
  let ok = 0;
  let errors = 0;
  let fallbacks = 0;
  for (const s of samples) {
    statuses[s.status] = (statuses[s.status] ?? 0) + 1;
    if (s.reason) refusals[s.reason]++;
    else if (s.fallback) {
      fallbacks++;
      fallbacksBy[s.fallback] = (fallbacksBy[s.fallback] ?? 0) + 1;
    } else if (s.status >= 500) errors++;
    else ok++;
  }
  const sent = samples.length + unanswered;
  const refusedLat = samples
    .filter((s) => s.reason)
    .map((s) => s.ms)
    .sort((a, b) => a - b);
  return {
    requests: samples.length,
    unanswered,
    ok,
    errors,
    refused: samples.length - ok - errors - fallbacks,
    // Degraded answers (a route's fallback) in place of a refusal or a failure, by reason.
    fallbacks,
    fallbacksBy,
    errorRate: sent === 0 ? 0 : (errors + unanswered) / sent,
    throughput: durationS > 0 ? round(samples.length / durationS) : 0,
    latency: {
      p50: round(percentile(lat, 50)),
      p95: round(percentile(lat, 95)),
      p99: round(percentile(lat, 99)),
      max: round(lat.at(-1) ?? 0),
    },
    refusedLatencyP50: round(percentile(refusedLat, 50)),
    refusedLatencyP99: round(percentile(refusedLat, 99)),
    refusals,
    statuses,
  };
}

/** Per-bucket numbers for the charts: `bucketS` seconds wide, `t` the bucket's start. */
export function series(samples, durationS, bucketS) {
  // A last sliver of a bucket (the run's tail) joins the bucket before it.
  const n = Math.max(1, Math.round(durationS / bucketS));
  const buckets = Array.from({ length: n }, (_, i) => ({
    t: round(i * bucketS, 2),
    lat: [],
    ok: 0,
    errors: 0,
    fallbacks: 0,
    refusals: Object.fromEntries(REASONS.map((r) => [r, 0])),
  }));
  for (const s of samples) {
    const b = buckets[Math.min(n - 1, Math.floor(s.t / bucketS))];
    b.lat.push(s.ms);
    if (s.reason) b.refusals[s.reason]++;
    else if (s.fallback) b.fallbacks++;
    else if (s.status >= 500) b.errors++;
    else b.ok++;
  }
  return buckets.map((b) => {
    const lat = b.lat.sort((x, y) => x - y);
    return {
      t: b.t,
      requests: lat.length,
      rps: round(lat.length / bucketS),
      p50: round(percentile(lat, 50)),
      p95: round(percentile(lat, 95)),
      p99: round(percentile(lat, 99)),
      ok: b.ok,
      errors: b.errors,
      fallbacks: b.fallbacks,
      refusals: b.refusals,
    };
  });
}
