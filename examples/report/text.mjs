/**
 * The terminal report: one block per scenario (totals, a table per stream, refusals by
 * reason and fallbacks served, breaker transitions and pool health changes with timestamps, thresholds) and
 * a summary table of all scenarios.
 */
import { REASONS } from '../load/stats.mjs';

const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code) => (s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
export const green = paint('32');
export const red = paint('31');
export const yellow = paint('33');
export const bold = paint('1');
export const dim = paint('2');

const n = (v) => Number(v).toLocaleString('en-US');
const msf = (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
const hhmmss = (iso) => iso.slice(11, 23);

// The colour codes painted above, to measure a cell's printed width.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** A plain text table: `rows` of cells, the first row the header; numbers right-aligned. */
export function table(rows, indent = '  ') {
  const strip = (s) => String(s).replace(ANSI, '');
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => strip(r[i] ?? '').length)));
  const right = rows[0].map((_, i) =>
    rows.slice(1).every((r) => /^[\d.,+\-%]+( ms| MB| req\/s)?$|^—$/.test(strip(r[i] ?? ''))),
  );
  const line = (r) =>
    indent +
    r
      .map((c, i) => {
        const pad = ' '.repeat(widths[i] - strip(c ?? '').length);
        return right[i] ? pad + (c ?? '') : (c ?? '') + pad;
      })
      .join('  ')
      .trimEnd();
  return [
    line(rows[0].map((h) => bold(h))),
    indent + widths.map((w) => '─'.repeat(w)).join('  '),
    ...rows.slice(1).map(line),
  ].join('\n');
}

function refusalCells(r) {
  return REASONS.map((k) => (r.refusals[k] ? n(r.refusals[k]) : '—'));
}

/** One row of the traffic table: a stream's (or the whole run's) stats. */
function statsRow(label, st) {
  return [
    label,
    n(st.requests),
    n(st.throughput),
    msf(st.latency.p50),
    msf(st.latency.p95),
    msf(st.latency.p99),
    n(st.ok),
    st.errors ? n(st.errors) : '—',
    st.fallbacks ? n(st.fallbacks) : '—',
    ...refusalCells(st),
  ];
}

/** One scenario's block. */
export function scenarioReport(r) {
  const s = r.summary;
  const out = [];
  const verdict = r.passed ? green('PASS') : red('FAIL');
  out.push(
    `${bold(`▌ ${r.title}`)}  ${verdict}  ${dim(`(${r.durationS} s, started ${r.startedAt.slice(11, 19)} UTC)`)}`,
  );
  out.push(dim(`  ${r.description}`));
  out.push('');
  const rows = [
    ['traffic', 'requests', 'req/s', 'p50', 'p95', 'p99', 'ok', 'errors', 'fallbacks', ...REASONS],
  ];
  for (const [name, st] of Object.entries(r.streams)) rows.push(statsRow(name, st));
  rows.push(statsRow(bold('all'), s));
  out.push(table(rows));
  if (r.generatorStalls?.count)
    out.push(
      yellow(
        `  note: the load generator itself stalled ${r.generatorStalls.count}× (longest ${r.generatorStalls.maxMs} ms): the machine is busy, and the latencies include it`,
      ),
    );
  if (s.fallbacks) {
    const by = Object.entries(s.fallbacksBy ?? {})
      .map(([k, v]) => `${k} ${n(v)}`)
      .join(', ');
    out.push(
      `  fallbacks served (degraded answers in place of a refusal or a failure): ${n(s.fallbacks)} (${by})`,
    );
  }
  if (s.unanswered) out.push(red(`  unanswered: ${s.unanswered} (${r.unansweredErrors.join(', ')})`));
  if (r.extra?.healthDuringHeavy) {
    const h = r.extra.healthDuringHeavy;
    const rt = r.extra.heavyBurstRuntime;
    out.push(
      `  /health while heavy-computation is saturated: p50 ${msf(h.p50)}, p95 ${msf(h.p95)}, p99 ${msf(h.p99)} over ${h.probes} probes` +
        (rt ? `; event-loop delay p99 ${msf(rt.eldP99)}` : ''),
    );
  }
  if (r.extra?.before && r.extra?.after) {
    const { before: b, after: a } = r.extra;
    out.push(
      `  heap after GC ${b.heapMB} → ${a.heapMB} MB, rss ${b.rssMB} → ${a.rssMB} MB, open handles ${b.handles} → ${a.handles}`,
    );
  }
  out.push('');
  if (r.breakers.transitions.length) {
    out.push(
      table([
        ['breaker transition', 'at (UTC)', 'breaker', 'from → to', 'why'],
        ...r.breakers.transitions.map((t) => [
          `+${t.t.toFixed(2)} s`,
          hhmmss(t.at),
          t.breaker,
          `${t.from} → ${t.to}`,
          t.reason,
        ]),
      ]),
    );
  } else out.push(dim('  breaker transitions: none'));
  if (r.pools.changes.length) {
    out.push(
      table([
        ['pool health change', 'at (UTC)', 'pool', 'from → to', 'detail'],
        ...r.pools.changes.map((c) => [
          `+${c.t.toFixed(2)} s`,
          hhmmss(c.at),
          c.pool,
          `${c.from ?? 'start'} → ${c.to}`,
          (c.output ?? '').slice(0, 60),
        ]),
      ]),
    );
  } else out.push(dim('  pool health changes: none'));
  const degraded = Object.entries(r.pools.initial).filter(([, state]) => state !== 'pass');
  if (degraded.length)
    out.push(
      yellow(`  pools degraded from the start: ${degraded.map(([p, st]) => `${p} ${st}`).join(', ')}`),
    );
  if (r.markers.length)
    out.push(
      dim(`  timeline: ${r.markers.map((m, i) => `(${i + 1}) +${m.t.toFixed(1)} s ${m.label}`).join(' · ')}`),
    );
  out.push('');
  out.push(
    table([
      ['threshold', 'measured', 'expected', ''],
      ...r.checks.map((c) => [c.name, c.actual, c.expected, c.ok ? green('✓') : red('✗')]),
    ]),
  );
  return out.join('\n');
}

/** The summary table of every scenario. */
export function summaryTable(results) {
  const rows = [
    [
      'scenario',
      'result',
      'requests',
      'req/s',
      'p50',
      'p95',
      'p99',
      'errors',
      'fallbacks',
      ...REASONS,
      'breaker transitions',
    ],
  ];
  for (const r of results) {
    const s = r.summary;
    rows.push([
      r.name,
      r.passed ? green('PASS') : red('FAIL'),
      n(s.requests),
      n(s.throughput),
      msf(s.latency.p50),
      msf(s.latency.p95),
      msf(s.latency.p99),
      s.errors + s.unanswered ? n(s.errors + s.unanswered) : '—',
      s.fallbacks ? n(s.fallbacks) : '—',
      ...refusalCells(s),
      r.breakers.transitions.length ? String(r.breakers.transitions.length) : '—',
    ]);
  }
  return table(rows);
}
