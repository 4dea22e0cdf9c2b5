#!/usr/bin/env node
/**
 * Runs the flaky upstream on its own: `PORT=4000 node upstream/server.mjs`.
 * Env: PORT (default 4000), HOST, LATENCY_MS, JITTER_MS, ERROR_RATE.
 * Prints one JSON line `{"event":"listening","url":...}` once it listens.
 */
import { startUpstream } from './upstream.mjs';

function num(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) {
    console.error(`upstream: ${name} must be a number, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

try {
  const up = await startUpstream({
    port: num('PORT', 4000),
    host: process.env.HOST || '127.0.0.1',
    latencyMs: num('LATENCY_MS', 20),
    jitterMs: num('JITTER_MS', 10),
    errorRate: num('ERROR_RATE', 0),
  });
  console.log(JSON.stringify({ event: 'listening', service: 'upstream', url: up.url }));
  const stop = () => up.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Started by the demo: its end of our stdin closes when it exits, however it exits.
  if (process.env.BW_EXIT_WITH_STDIN === '1') process.stdin.on('end', stop).resume();
} catch (e) {
  console.error(`upstream: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
}
