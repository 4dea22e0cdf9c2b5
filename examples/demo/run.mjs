#!/usr/bin/env node
/**
 * `pnpm demo`: starts the flaky upstream and the demo service on Express (`--framework koa`,
 * `fastify` or `hono`: on that framework; `--koa` is short for `--framework koa`), runs the
 * load scenarios briefly, prints a report per scenario and a summary, writes an HTML report
 * with charts under examples/reports/, and stops everything it started.
 * Exits 1 when a scenario missed a threshold.
 *
 *   pnpm demo [-- --framework express|koa|fastify|hono] [--scenarios basic,spike,chaos,endurance]
 *             [--scale demo|full|test] [--out FILE]
 *
 * Redis: REDIS_URL (default redis://127.0.0.1:6379); with none reachable the service
 * runs on its in-process fallbacks and the report says so.
 */
import { parseArgs } from 'node:util';
import { runScenario } from '../load/runner.mjs';
import { scenarios } from '../load/scenarios.mjs';
import { writeHtmlReport } from '../report/html.mjs';
import { bold, dim, green, red, scenarioReport, summaryTable, yellow } from '../report/text.mjs';
import { FRAMEWORKS, startStack } from './processes.mjs';

const started = performance.now();
let args;
try {
  args = parseArgs({
    // `pnpm demo -- --framework koa` arrives with its `--` through the workspace scripts.
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      framework: { type: 'string' },
      koa: { type: 'boolean', default: false },
      scenarios: { type: 'string', default: 'basic,spike,chaos,endurance' },
      scale: { type: 'string', default: 'demo' },
      out: { type: 'string' },
      quiet: { type: 'boolean', default: false },
    },
  }).values;
} catch (e) {
  console.error(`demo: ${e.message}`);
  process.exit(2);
}
if (args.koa && args.framework !== undefined && args.framework !== 'koa') {
  console.error(`demo: --koa is --framework koa; it contradicts --framework ${args.framework}`);
  process.exit(2);
}
const framework = args.framework ?? (args.koa ? 'koa' : 'express');
if (!Object.hasOwn(FRAMEWORKS, framework)) {
  console.error(
    `demo: --framework: expected ${Object.keys(FRAMEWORKS).join(', ')}, got ${JSON.stringify(framework)}`,
  );
  process.exit(2);
}
const names = args.scenarios
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
for (const n of names)
  if (!scenarios[n]) {
    console.error(
      `demo: --scenarios: unknown scenario ${JSON.stringify(n)}; known: ${Object.keys(scenarios).join(', ')}`,
    );
    process.exit(2);
  }
if (!['demo', 'full', 'test'].includes(args.scale)) {
  console.error(`demo: --scale: expected demo, full or test, got ${JSON.stringify(args.scale)}`);
  process.exit(2);
}

const say = (line = '') => console.log(line);
const secs = () => ((performance.now() - started) / 1000).toFixed(1);
const plan = names.reduce((n, s) => n + scenarios[s].duration[args.scale], 0);

say(
  bold(
    `Breakwater demo: the ${FRAMEWORKS[framework]} service under ${names.length === 1 ? 'one load scenario' : `${names.length} load scenarios`} (about ${plan + 10} s)`,
  ),
);
let stack;
const stop = async () => {
  await stack?.stop();
};
process.once('SIGINT', async () => {
  console.error('\ndemo: interrupted, stopping the services');
  await stop();
  process.exit(130);
});

const results = [];
let failure;
try {
  stack = await startStack({ framework, log: args.quiet ? () => {} : (l) => console.error(dim(l)) });
  const redisNote =
    stack.redis === 'redis'
      ? green('Redis: connected (rate limits shared through Redis, cache in Redis)')
      : yellow(
          `Redis: ${stack.redis === 'off' ? 'off' : 'unreachable'} (rate limits in memory, cache on the in-process fallback; /health says warn)`,
        );
  say(
    `  upstream ${stack.upstream} (pid ${stack.pids[0]}) · service ${stack.target} (pid ${stack.pids[1]}) · ${redisNote}`,
  );
  say('');
  for (const name of names) {
    const sc = scenarios[name];
    say(dim(`… ${sc.title} (${sc.duration[args.scale]} s)`));
    const r = await runScenario(sc, {
      target: stack.target,
      upstream: stack.upstream,
      adminToken: stack.token,
      scale: args.scale,
      progress: sc.duration[args.scale] >= 10 ? (line) => console.error(dim(`  … ${line}`)) : undefined,
    });
    results.push(r);
    say('');
    say(scenarioReport(r));
    say('');
  }
} catch (e) {
  failure = e;
} finally {
  await stop();
}

if (results.length) {
  say(bold('Summary'));
  say(summaryTable(results));
  say('');
  const file = await writeHtmlReport(results, {
    file: args.out,
    meta: {
      framework,
      redis: stack?.redis === 'redis' ? 'connected' : 'unreachable: in-process fallbacks',
      startedAt: new Date(Date.now() - (performance.now() - started)).toISOString(),
      durationS: Number(secs()),
      node: process.versions.node,
    },
  });
  say(`HTML report (charts): ${file}`);
}
if (failure) console.error(red(`demo: ${failure.stack ?? failure}`));
const passed = !failure && results.every((r) => r.passed);
say(
  `${passed ? green('All scenarios met their thresholds.') : red('Some thresholds were missed (see ✗ above).')} ` +
    `Took ${secs()} s; every process the demo started has stopped.`,
);
process.exitCode = passed ? 0 : 1;
