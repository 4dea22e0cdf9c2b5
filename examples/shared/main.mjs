/**
 * The command-line entry the demo services share: loads the configuration (CONFIG or
 * config/service.yaml, then the environment), starts, prints one JSON line once it
 * listens, and shuts down gracefully on SIGTERM or SIGINT. Configuration errors print
 * the setting's path and exit with status 2. While it runs, an edit to the configuration
 * file (or SIGHUP) reloads the route policies (see reload.mjs); CONFIG_WATCH=off: SIGHUP only.
 */
import { loadConfig } from './config.mjs';
import { watchConfig } from './reload.mjs';

export async function main(name, start) {
  const log = (msg) => console.error(`[${name}] ${msg}`);
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    console.error(`[${name}] configuration error: ${e.message}`);
    process.exit(2);
  }
  let svc;
  try {
    svc = await start(config, { log });
  } catch (e) {
    console.error(
      `[${name}] ${e.code === 'INVALID_CONFIG' ? 'configuration error' : 'failed to start'}: ${e.message}`,
    );
    process.exit(e.code === 'INVALID_CONFIG' ? 2 : 1);
  }
  console.log(
    JSON.stringify({
      event: 'listening',
      service: name,
      url: svc.url,
      redis: svc.demo.startupRedisMode,
      pid: process.pid,
    }),
  );
  log(`listening on ${svc.url} (health: ${svc.url}/health, metrics: ${svc.url}/metrics)`);
  const watcher = watchConfig({
    file: config.source,
    config,
    bw: svc.bw,
    log,
    ...(process.env.CONFIG_WATCH === 'off' && { watchFile: false }),
    onReload: (r) =>
      console.log(
        JSON.stringify({
          event: r.ok ? 'config-reloaded' : 'config-rejected',
          reason: r.reason,
          ...(r.ok ? { changed: r.result.changed, restart: r.restart } : { error: r.error.message }),
          at: Date.now(),
        }),
      ),
  });
  let stopping = false;
  const stop = (signal) => {
    if (stopping) return;
    stopping = true;
    watcher.close();
    log(`${signal}: closing`);
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    svc.close().then(
      () => process.exit(0),
      (e) => {
        log(`close failed: ${e.message}`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Started by the demo: its end of our stdin closes when it exits, however it exits.
  if (process.env.BW_EXIT_WITH_STDIN === '1') process.stdin.on('end', () => stop('parent gone')).resume();
}
