#!/usr/bin/env node
/**
 * Runs the "beyond the anchors" scenarios one after another — each compares a Breakwater
 * feature with the static alternative — prints their tables side by side and writes
 * `examples/reports/beyond.md` and `.json`. Exits non-zero if a scenario misses a check.
 *
 *   node examples/load/beyond/run.mjs [--quick] [--only=adaptive-concurrency,chaos]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const SCENARIOS = [
  'adaptive-concurrency',
  'load-shedding',
  'adaptive-timeout',
  'chaos',
  'outbound-pacing',
  'live-reload',
  'fleet-breakers',
];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args
  .find((a) => a.startsWith('--only='))
  ?.slice(7)
  .split(',');
const reportDir = fileURLToPath(new URL('../../reports/', import.meta.url));

/** A markdown table of rows (objects with the same keys). */
export function table(rows) {
  if (rows.length === 0) return '(no rows)';
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cell = (v) => (v === undefined ? '' : typeof v === 'number' ? fmt(v) : String(v));
  return [
    `| ${keys.join(' | ')} |`,
    `| ${keys.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${keys.map((k) => cell(r[k])).join(' | ')} |`),
  ].join('\n');
}

function fmt(n) {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2);
}

const results = [];
let failed = false;
for (const name of SCENARIOS) {
  if (only && !only.includes(name)) continue;
  const file = new URL(`./${name}.mjs`, import.meta.url);
  let mod;
  try {
    mod = await import(file.href);
  } catch (e) {
    if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(`${name}.mjs`)) continue;
    throw e;
  }
  const t0 = Date.now();
  process.stdout.write(`\n== ${name}${quick ? ' (quick)' : ''} ...\n`);
  const r = await mod.run({ quick });
  r.seconds = Math.round((Date.now() - t0) / 1000);
  results.push(r);
  const bad = (r.checks ?? []).filter((c) => !c.pass);
  if (bad.length > 0) failed = true;
  console.log(`\n### ${r.title}\n\n${table(r.rows)}\n`);
  for (const c of r.checks ?? [])
    console.log(`  ${c.pass ? 'PASS' : 'FAIL'} ${c.name}: ${c.value} (want ${c.want})`);
}

const md = [
  '# Beyond the anchors: scenario results',
  '',
  `${new Date().toISOString()} · Node ${process.versions.node}${quick ? ' · quick' : ''}`,
  '',
  ...results.flatMap((r) => [
    `## ${r.title}`,
    '',
    `\`${r.command}\` (${r.seconds} s)`,
    '',
    table(r.rows),
    '',
    ...(r.checks ?? []).map((c) => `- ${c.pass ? '✅' : '❌'} ${c.name}: ${c.value} (want ${c.want})`),
    '',
  ]),
].join('\n');
await mkdir(reportDir, { recursive: true });
await writeFile(`${reportDir}beyond.md`, md);
await writeFile(`${reportDir}beyond.json`, JSON.stringify(results, null, 2));
console.log(`\nwrote ${reportDir}beyond.md`);
process.exitCode = failed ? 1 : 0;
