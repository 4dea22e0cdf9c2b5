/**
 * The HTML report: one self-contained file (inline CSS and SVG, no script, nothing
 * fetched) with, per scenario, latency and throughput over time, refusals stacked by
 * reason beside the fallbacks served (degraded answers), the breaker and pool state timeline, and the tables of the terminal report.
 * The raw results ride along as JSON in a <script type="application/json"> block.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REASONS } from '../load/stats.mjs';

/** Where reports go by default (gitignored). */
export const REPORTS_DIR = fileURLToPath(new URL('../reports/', import.meta.url));

const W = 600;
const H = 210;
const M = { l: 52, r: 14, t: 14, b: 30 };
const COLORS = {
  p50: '#2b8a3e',
  p95: '#e67700',
  p99: '#c92a2a',
  rps: '#1864ab',
  ok: '#2b8a3e',
  rate_limited: '#f08c00',
  circuit_open: '#c92a2a',
  bulkhead_full: '#7048e8',
  timeout: '#495057',
  errors: '#e64980',
  fallbacks: '#15aabf',
  closed: '#2f9e44',
  'half-open': '#f59f00',
  open: '#e03131',
  pass: '#2f9e44',
  warn: '#f59f00',
  fail: '#e03131',
  health: '#0b7285',
  heap: '#5f3dc4',
  handles: '#087f5b',
};

const esc = (s) =>
  String(s).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
const f1 = (v) => (Math.round(v * 10) / 10).toString();

/** A "nice" axis maximum and its ticks. */
function ticks(max, count = 4) {
  if (!(max > 0)) return { top: 1, list: [0, 1] };
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const top = Math.ceil(max / step) * step;
  const list = [];
  for (let v = 0; v <= top + step / 2; v += step) list.push(Math.round(v * 1000) / 1000);
  return { top, list };
}

function frame(xMax, yTicks, yLabel, markers) {
  const iw = W - M.l - M.r;
  const ih = H - M.t - M.b;
  const x = (t) => M.l + (t / xMax) * iw;
  const y = (v) => M.t + ih - (v / yTicks.top) * ih;
  const xt = ticks(xMax, 6);
  let s = `<rect class="plot" x="${M.l}" y="${M.t}" width="${iw}" height="${ih}"/>`;
  for (const v of yTicks.list)
    s += `<line class="grid" x1="${M.l}" x2="${M.l + iw}" y1="${y(v)}" y2="${y(v)}"/><text class="tick" x="${M.l - 6}" y="${y(v) + 4}" text-anchor="end">${esc(v)}</text>`;
  for (const v of xt.list.filter((v) => v <= xMax))
    s += `<text class="tick" x="${x(v)}" y="${H - M.b + 16}" text-anchor="middle">${esc(v)}s</text>`;
  s += `<text class="axis" x="12" y="${M.t + ih / 2}" transform="rotate(-90 12 ${M.t + ih / 2})" text-anchor="middle">${esc(yLabel)}</text>`;
  (markers ?? []).forEach((m, i) => {
    s += `<g class="marker"><line x1="${x(m.t)}" x2="${x(m.t)}" y1="${M.t}" y2="${M.t + ih}"/><text x="${x(m.t) + 3}" y="${M.t + 10}">${i + 1}</text><title>${i + 1}: +${m.t}s ${esc(m.label)}</title></g>`;
  });
  return { s, x, y, iw, ih };
}

function svg(kind, body, legend) {
  const items = legend
    .map(([name, color]) => `<span class="key"><i style="background:${color}"></i>${esc(name)}</span>`)
    .join('');
  return `<svg class="chart" data-chart="${kind}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(kind)}" xmlns="http://www.w3.org/2000/svg">${body}</svg><div class="legend">${items}</div>`;
}

/** Lines: `series` = [{ name, color, points: [[t, v], ...] }]. */
export function lineChart(kind, series, { xMax, yLabel, markers }) {
  const max = Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1])));
  const yt = ticks(max * 1.05);
  const fr = frame(xMax, yt, yLabel, markers);
  let body = fr.s;
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([t, v], i) => `${i === 0 ? 'M' : 'L'}${f1(fr.x(t))},${f1(fr.y(v))}`).join(' ');
    const dash = s.dash ? ' stroke-dasharray="6 4"' : '';
    body += `<path class="line" data-series="${esc(s.name)}" d="${d}" stroke="${s.color}"${dash}><title>${esc(s.name)}</title></path>`;
  }
  return svg(
    kind,
    body,
    series.map((s) => [s.name, s.color]),
  );
}

/** Stacked bars per bucket: `buckets` = [{ t, values: { key: n } }], `width` seconds each. */
export function stackedBars(kind, buckets, keys, { xMax, width, yLabel, markers }) {
  const max = Math.max(1, ...buckets.map((b) => keys.reduce((n, k) => n + (b.values[k] ?? 0), 0)));
  const yt = ticks(max);
  const fr = frame(xMax, yt, yLabel, markers);
  let body = fr.s;
  const bw = Math.max(1, (width / xMax) * fr.iw - 1);
  for (const b of buckets) {
    let acc = 0;
    for (const k of keys) {
      const v = b.values[k] ?? 0;
      if (v === 0) continue;
      const y0 = fr.y(acc);
      const y1 = fr.y(acc + v);
      body += `<rect class="bar" data-key="${k}" x="${f1(fr.x(b.t))}" y="${f1(y1)}" width="${f1(bw)}" height="${f1(y0 - y1)}" fill="${COLORS[k]}"><title>+${b.t}s ${k}: ${v}</title></rect>`;
      acc += v;
    }
  }
  return svg(
    kind,
    body,
    keys.map((k) => [k, COLORS[k]]),
  );
}

/** State timeline: `rows` = [{ name, initial, changes: [{ t, to }] }]. */
export function timeline(kind, rows, { xMax, markers }) {
  const rowH = 24;
  const h = M.t + rows.length * (rowH + 8) + M.b;
  const iw = W - 170 - M.r;
  const x = (t) => 170 + (Math.max(0, Math.min(xMax, t)) / xMax) * iw;
  let body = '';
  rows.forEach((row, i) => {
    const y = M.t + i * (rowH + 8);
    body += `<text class="rowname" x="164" y="${y + rowH / 2 + 4}" text-anchor="end">${esc(row.name.length > 24 ? `${row.name.slice(0, 23)}…` : row.name)}</text>`;
    const segs = [];
    let state = row.initial;
    let from = 0;
    for (const c of row.changes) {
      segs.push({ from, to: c.t, state });
      state = c.to;
      from = c.t;
    }
    segs.push({ from, to: xMax, state });
    for (const s of segs) {
      if (s.to <= s.from || !s.state) continue;
      body += `<rect class="segment" data-state="${esc(s.state)}" x="${f1(x(s.from))}" y="${y}" width="${f1(Math.max(s.state === 'half-open' ? 3 : 1, x(s.to) - x(s.from)))}" height="${rowH}" fill="${COLORS[s.state] ?? '#adb5bd'}"><title>${esc(row.name)}: ${esc(s.state)} from +${f1(s.from)}s to +${f1(s.to)}s</title></rect>`;
    }
  });
  const xt = ticks(xMax, 6);
  for (const v of xt.list.filter((v) => v <= xMax))
    body += `<text class="tick" x="${x(v)}" y="${h - M.b + 16}" text-anchor="middle">${esc(v)}s</text>`;
  (markers ?? []).forEach((m, i) => {
    body += `<g class="marker"><line x1="${x(m.t)}" x2="${x(m.t)}" y1="${M.t}" y2="${h - M.b}"/><title>${i + 1}: +${m.t}s ${esc(m.label)}</title></g>`;
  });
  const legend = ['closed', 'half-open', 'open', 'pass', 'warn', 'fail'].map((k) => [k, COLORS[k]]);
  return `<svg class="chart" data-chart="${kind}" viewBox="0 0 ${W} ${h}" width="${W}" height="${h}" role="img" aria-label="${esc(kind)}" xmlns="http://www.w3.org/2000/svg">${body}</svg><div class="legend">${legend.map(([n, c]) => `<span class="key"><i style="background:${c}"></i>${n}</span>`).join('')}</div>`;
}

function htmlTable(head, rows, cls = '') {
  return `<table class="${cls}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map(
      (r) =>
        `<tr>${r.map((c) => (typeof c === 'object' && c !== null ? `<td class="${c.cls}">${esc(c.v)}</td>` : `<td>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('')}</tbody></table>`;
}

const msf = (v) => `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`;
const n = (v) => Number(v).toLocaleString('en-US');

function scenarioSection(r) {
  const xMax = Math.max(1, r.durationS);
  const width = r.series.length > 1 ? r.series[1].t - r.series[0].t : xMax;
  const mid = (b) => Math.min(xMax, b.t + width / 2);
  const charts = [];
  charts.push(
    `<figure><figcaption>Latency over time (per ${width} s)</figcaption>${lineChart(
      'latency',
      [
        {
          name: 'p50',
          color: COLORS.p50,
          points: r.series.filter((b) => b.requests).map((b) => [mid(b), b.p50]),
        },
        {
          name: 'p95',
          color: COLORS.p95,
          points: r.series.filter((b) => b.requests).map((b) => [mid(b), b.p95]),
        },
        {
          name: 'p99',
          color: COLORS.p99,
          points: r.series.filter((b) => b.requests).map((b) => [mid(b), b.p99]),
        },
      ],
      { xMax, yLabel: 'ms', markers: r.markers },
    )}</figure>`,
  );
  charts.push(
    `<figure><figcaption>Throughput over time</figcaption>${lineChart(
      'throughput',
      [
        { name: 'ok', color: COLORS.ok, points: r.series.map((b) => [mid(b), b.ok / width]) },
        {
          name: 'all responses',
          color: COLORS.rps,
          dash: true,
          points: r.series.map((b) => [mid(b), b.rps]),
        },
      ],
      { xMax, yLabel: 'req/s', markers: r.markers },
    )}</figure>`,
  );
  charts.push(
    `<figure><figcaption>Refusals by reason, fallbacks served (degraded answers) and errors, stacked</figcaption>${stackedBars(
      'refusals',
      r.series.map((b) => ({
        t: b.t,
        values: { ...b.refusals, fallbacks: b.fallbacks ?? 0, errors: b.errors },
      })),
      [...REASONS, 'fallbacks', 'errors'],
      { xMax, width, yLabel: 'responses', markers: r.markers },
    )}</figure>`,
  );
  const breakerNames = [
    ...new Set([...Object.keys(r.breakers.initial), ...r.breakers.transitions.map((t) => t.breaker)]),
  ];
  const poolNames = [...new Set([...Object.keys(r.pools.initial), ...r.pools.changes.map((c) => c.pool)])];
  const rows = [
    ...breakerNames.map((name) => ({
      name: `breaker ${name}`,
      initial: r.breakers.initial[name] ?? 'closed',
      changes: r.breakers.transitions.filter((t) => t.breaker === name).map((t) => ({ t: t.t, to: t.to })),
    })),
    ...poolNames.map((name) => ({
      name: `pool ${name}`,
      initial: r.pools.initial[name] ?? r.pools.changes.find((c) => c.pool === name)?.from ?? 'pass',
      changes: r.pools.changes.filter((c) => c.pool === name).map((c) => ({ t: c.t, to: c.to })),
    })),
  ];
  if (rows.length === 0) rows.push({ name: 'breakers', initial: 'closed', changes: [] });
  charts.push(
    `<figure><figcaption>Breaker and pool state timeline</figcaption>${timeline('breakers', rows, { xMax, markers: r.markers })}</figure>`,
  );
  if (r.health?.samples?.length)
    charts.push(
      `<figure><figcaption>GET /health latency, probed every 50 ms</figcaption>${lineChart(
        'health',
        [{ name: 'GET /health', color: COLORS.health, points: r.health.samples.map((h) => [h.t, h.ms]) }],
        { xMax, yLabel: 'ms', markers: r.markers },
      )}</figure>`,
    );
  if (r.runtime?.length)
    charts.push(
      `<figure><figcaption>Service heap and open handles</figcaption>${lineChart(
        'runtime',
        [
          { name: 'heap used (MB)', color: COLORS.heap, points: r.runtime.map((p) => [p.t, p.heapMB]) },
          { name: 'open handles', color: COLORS.handles, points: r.runtime.map((p) => [p.t, p.handles]) },
        ],
        { xMax, yLabel: 'MB / handles', markers: r.markers },
      )}</figure>`,
    );

  const streamRows = Object.entries(r.streams).map(([name, s]) => [
    name,
    n(s.requests),
    n(s.throughput),
    msf(s.latency.p50),
    msf(s.latency.p95),
    msf(s.latency.p99),
    n(s.ok),
    n(s.errors + s.unanswered),
    n(s.fallbacks ?? 0),
    ...REASONS.map((k) => n(s.refusals[k])),
  ]);
  const s = r.summary;
  streamRows.push([
    'all',
    n(s.requests),
    n(s.throughput),
    msf(s.latency.p50),
    msf(s.latency.p95),
    msf(s.latency.p99),
    n(s.ok),
    n(s.errors + s.unanswered),
    n(s.fallbacks ?? 0),
    ...REASONS.map((k) => n(s.refusals[k])),
  ]);

  return `<section class="scenario" id="scenario-${esc(r.name)}" data-scenario="${esc(r.name)}">
<h2>${esc(r.title)} <span class="badge ${r.passed ? 'pass' : 'fail'}">${r.passed ? 'PASS' : 'FAIL'}</span></h2>
<p class="desc">${esc(r.description)}</p>
<p class="meta">started ${esc(r.startedAt)} · ${esc(r.durationS)} s · ${n(s.requests)} responses · ${n(s.throughput)} req/s${r.markers.length ? ` · ${r.markers.map((m, i) => `<b>${i + 1}</b> +${m.t}s ${esc(m.label)}`).join(' · ')}` : ''}</p>
${htmlTable(['traffic', 'requests', 'req/s', 'p50', 'p95', 'p99', 'ok', 'errors', 'fallbacks', ...REASONS], streamRows, 'streams')}
<div class="charts">${charts.join('\n')}</div>
<div class="cols">
<div><h3>Breaker transitions</h3>${
    r.breakers.transitions.length
      ? htmlTable(
          ['+t', 'at (UTC)', 'breaker', 'from → to', 'why'],
          r.breakers.transitions.map((t) => [
            `+${t.t.toFixed(2)} s`,
            t.at.slice(11, 23),
            t.breaker,
            `${t.from} → ${t.to}`,
            t.reason,
          ]),
        )
      : '<p class="none">none</p>'
  }</div>
<div><h3>Pool health changes</h3>${
    r.pools.changes.length
      ? htmlTable(
          ['+t', 'at (UTC)', 'pool', 'from → to', 'detail'],
          r.pools.changes.map((c) => [
            `+${c.t.toFixed(2)} s`,
            c.at.slice(11, 23),
            c.pool,
            `${c.from ?? 'start'} → ${c.to}`,
            c.output ?? '',
          ]),
        )
      : '<p class="none">none</p>'
  }</div>
</div>
<h3>Thresholds</h3>
${htmlTable(
  ['threshold', 'measured', 'expected', ''],
  r.checks.map((c) => [c.name, c.actual, c.expected, { v: c.ok ? '✓' : '✗', cls: c.ok ? 'ok' : 'bad' }]),
  'checks',
)}
</section>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#212529;margin:0;background:#f8f9fa}
main{max-width:1400px;margin:0 auto;padding:24px}
h1{margin:0 0 4px}h2{margin:0 0 6px}h3{margin:18px 0 6px;font-size:15px}
.meta,.desc{color:#495057;margin:4px 0}.none{color:#868e96}
section{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:18px;margin:18px 0}
table{border-collapse:collapse;margin:8px 0;font-variant-numeric:tabular-nums}
th,td{padding:3px 10px;border-bottom:1px solid #e9ecef;text-align:left;white-space:nowrap}
table.streams td,table.summary td{text-align:right}table.streams td:first-child,table.summary td:first-child{text-align:left}
table.checks td{white-space:normal;max-width:520px}td.ok{color:#2b8a3e;font-weight:bold}td.bad{color:#c92a2a;font-weight:bold}
.badge{font-size:12px;padding:2px 8px;border-radius:10px;color:#fff;vertical-align:middle}.badge.pass{background:#2b8a3e}.badge.fail{background:#c92a2a}
.charts{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;border:1px solid #e9ecef;border-radius:6px;padding:8px}
figcaption{font-weight:600;margin-bottom:4px}
.cols{display:flex;flex-wrap:wrap;gap:32px}
svg.chart{display:block;max-width:100%;height:auto}
.plot{fill:#fff;stroke:#ced4da}.grid{stroke:#f1f3f5}.tick{font-size:10px;fill:#868e96}.axis{font-size:11px;fill:#495057}
.line{fill:none;stroke-width:1.8}.marker line{stroke:#adb5bd;stroke-dasharray:4 3}.marker text{font-size:10px;fill:#868e96}.rowname{font-size:11px;fill:#343a40}
.legend{font-size:12px;color:#495057;margin-top:4px}.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:-1px}
`;

/** The whole document. `meta`: `{ framework, redis, target, startedAt, durationS, node }`. */
export function renderHtml(results, meta = {}) {
  const passed = results.every((r) => r.passed);
  const summary = htmlTable(
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
    results.map((r) => {
      const s = r.summary;
      return [
        r.name,
        { v: r.passed ? 'PASS' : 'FAIL', cls: r.passed ? 'ok' : 'bad' },
        n(s.requests),
        n(s.throughput),
        msf(s.latency.p50),
        msf(s.latency.p95),
        msf(s.latency.p99),
        n(s.errors + s.unanswered),
        n(s.fallbacks ?? 0),
        ...REASONS.map((k) => n(s.refusals[k])),
        n(r.breakers.transitions.length),
      ];
    }),
    'summary',
  );
  const data = JSON.stringify({ meta, results }).replace(/</g, '\\u003c');
  const info = [
    meta.framework && `${meta.framework} service`,
    meta.redis && `Redis: ${meta.redis}`,
    meta.startedAt && `started ${meta.startedAt}`,
    meta.durationS && `${meta.durationS} s`,
    meta.node && `Node ${meta.node}`,
  ].filter(Boolean);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Breakwater demo report</title><style>${CSS}</style></head>
<body><main>
<h1>Breakwater demo report <span class="badge ${passed ? 'pass' : 'fail'}">${passed ? 'ALL PASSED' : 'THRESHOLDS MISSED'}</span></h1>
<p class="meta">${esc(info.join(' · '))}</p>
<section id="summary"><h2>Summary</h2>${summary}</section>
${results.map(scenarioSection).join('\n')}
</main>
<script type="application/json" id="report-data">${data}</script>
</body></html>
`;
}

/** Writes the report; resolves with its absolute path. Default: reports/demo-<time>.html. */
export async function writeHtmlReport(results, { file, meta } = {}) {
  const path = resolve(file ?? `${REPORTS_DIR}demo-${new Date().toISOString().replace(/[:.]/g, '-')}.html`);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, renderHtml(results, meta));
  return path;
}
