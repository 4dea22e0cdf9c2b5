import { sig } from './stats.mjs';

/** `12.3k` style for large numbers, 3 significant figures otherwise. */
function fmt(x) {
  if (typeof x !== 'number' || !Number.isFinite(x)) return String(x ?? '–');
  const a = Math.abs(x);
  if (a >= 1e6) return `${sig(x / 1e6)}M`;
  if (a >= 1e4) return `${sig(x / 1e3)}k`;
  return String(sig(x));
}

function range(s) {
  return s ? `${fmt(s.min)}–${fmt(s.max)}` : '–';
}

function ratioCell(r) {
  return r ? `${sig(r.median, 3)}× (${sig(r.min, 3)}–${sig(r.max, 3)})` : '–';
}

function goalCell(c) {
  if (c.goal === undefined) return '';
  const g = c.goal.min !== undefined ? `≥ ${c.goal.min}×` : `≤ ${c.goal.max}×`;
  return `${g} ${c.met ? '✅' : '❌'}`;
}

/** One suite in the standard shape as markdown. */
export function suiteMarkdown(s) {
  const out = [`### ${s.title}`, ''];
  if (s.description) out.push(s.description, '');
  if (s.status && s.status !== 'ok') {
    out.push(`_${s.status}${s.reason ? `: ${s.reason}` : ''}_`, '');
    if (s.status !== 'invalid') {
      if (s.output) out.push('```', s.output.trim().slice(-4000), '```', '');
      return out.join('\n');
    }
  }
  if (s.variants) {
    const extra = s.columns ?? [];
    out.push(
      `| ${['subject', `${s.unit} (median)`, 'min–max', ...extra.map((c) => c.title)].join(' | ')} |`,
      `|${' --- |'.repeat(3 + extra.length)}`,
    );
    for (const [name, v] of Object.entries(s.variants)) {
      out.push(
        `| ${[name, fmt(v.median), range(v), ...extra.map((c) => fmt(v[c.key]?.median ?? v[c.key]))].join(' | ')} |`,
      );
    }
    out.push('');
  }
  if (s.comparisons?.length) {
    out.push('| comparison | ratio (median, min–max) | goal |', '| --- | --- | --- |');
    for (const c of s.comparisons) out.push(`| ${c.name} | ${ratioCell(c.ratio)} | ${goalCell(c)} |`);
    out.push('');
  }
  if (s.table) {
    out.push(`| ${s.table.head.join(' | ')} |`, `|${' --- |'.repeat(s.table.head.length)}`);
    for (const row of s.table.rows)
      out.push(`| ${row.map((x) => (typeof x === 'number' ? fmt(x) : x)).join(' | ')} |`);
    out.push('');
  }
  if (s.notes?.length) out.push(...s.notes.map((n) => `- ${n}`), '');
  // A standalone script's own report: markdown tables are kept as they are.
  if (s.output && !s.variants && !s.table) {
    const text = s.output.trim().slice(-6000);
    if (/^\|.*\|$/m.test(text)) out.push(text, '');
    else out.push('```', text, '```', '');
  }
  return out.join('\n');
}

/** The whole report. */
export function reportMarkdown(result) {
  const m = result.meta;
  const out = [
    `## Benchmark results`,
    '',
    `${m.date} · Node ${m.node} · ${m.cpus}× ${m.cpuModel} · ${m.quick ? 'quick run (harness check, numbers not meaningful)' : `${m.rounds} alternating rounds`} · ${Math.round(m.seconds)} s`,
    '',
  ];
  for (const s of Object.values(result.suites)) out.push(suiteMarkdown(s));
  return out.join('\n');
}
