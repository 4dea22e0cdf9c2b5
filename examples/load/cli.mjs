#!/usr/bin/env node
/**
 * Runs load scenarios against a service and checks their thresholds; exits 1 when one
 * is missed.
 *
 *   node load/cli.mjs <basic|spike|chaos|endurance|all> [--target URL] [--upstream URL]
 *        [--token ADMIN_TOKEN] [--scale full|demo|test] [--duration SECONDS]
 *        [--framework express|koa|fastify|hono] [--koa] [--html FILE]
 *
 * Without --target it starts the upstream and the service on Express (or the --framework
 * given; --koa is short for --framework koa) itself,
 * as child processes, and stops them at the end. With --target, give --token (or
 * ADMIN_TOKEN) and, for chaos, --upstream.
 */
import { parseArgs } from 'node:util';
import { FRAMEWORKS, startStack } from '../demo/processes.mjs';
import { writeHtmlReport } from '../report/html.mjs';
import { scenarioReport, summaryTable } from '../report/text.mjs';
import { runScenario } from './runner.mjs';
import { scenarios } from './scenarios.mjs';

const { values, positionals } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  allowPositionals: true,
  options: {
    target: { type: 'string' },
    upstream: { type: 'string' },
    token: { type: 'string' },
    scale: { type: 'string', default: 'full' },
    duration: { type: 'string' },
    framework: { type: 'string' },
    koa: { type: 'boolean', default: false },
    html: { type: 'string' },
  },
});

const names = positionals[0] === undefined || positionals[0] === 'all' ? Object.keys(scenarios) : positionals;
for (const name of names) {
  if (!scenarios[name]) {
    console.error(
      `load: unknown scenario ${JSON.stringify(name)}; one of ${Object.keys(scenarios).join(', ')}, all`,
    );
    process.exit(2);
  }
}
if (!['full', 'demo', 'test'].includes(values.scale)) {
  console.error(`load: --scale: expected full, demo or test, got ${JSON.stringify(values.scale)}`);
  process.exit(2);
}
const framework = values.framework ?? (values.koa ? 'koa' : 'express');
if (!Object.hasOwn(FRAMEWORKS, framework) || (values.koa && framework !== 'koa')) {
  console.error(
    `load: --framework: expected ${Object.keys(FRAMEWORKS).join(', ')}${values.koa ? ' (--koa is --framework koa)' : ''}, got ${JSON.stringify(framework)}`,
  );
  process.exit(2);
}
const duration = values.duration === undefined ? undefined : Number(values.duration);
if (duration !== undefined && !(duration > 0)) {
  console.error(`load: --duration: expected seconds > 0, got ${JSON.stringify(values.duration)}`);
  process.exit(2);
}

let stack;
let target = values.target;
let upstream = values.upstream;
let token = values.token ?? process.env.ADMIN_TOKEN;
if (target === undefined) {
  stack = await startStack({ framework, log: (l) => console.error(l) });
  ({ target, upstream, token } = stack);
}
process.once('SIGINT', async () => {
  await stack?.stop();
  process.exit(130);
});

const results = [];
try {
  for (const name of names) {
    console.error(`load: ${name} (${duration ?? scenarios[name].duration[values.scale]} s)`);
    const r = await runScenario(scenarios[name], {
      target,
      upstream,
      adminToken: token,
      scale: values.scale,
      duration,
      progress: (line) => console.error(`  … ${line}`),
    });
    results.push(r);
    console.log(`\n${scenarioReport(r)}\n`);
  }
  if (results.length > 1) console.log(summaryTable(results));
  if (values.html)
    console.log(`HTML report: ${await writeHtmlReport(results, { file: values.html, meta: { target } })}`);
} finally {
  await stack?.stop();
}
process.exitCode = results.every((r) => r.passed) ? 0 : 1;
