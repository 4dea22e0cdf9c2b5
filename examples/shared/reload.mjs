/**
 * Live reload of the route policies: watches the configuration file (and takes SIGHUP),
 * reads and checks it again, and hands `breakwater.routes`, `defaults` and `breakers` to
 * `bw.reconfigure()`. A bad file is logged and the running policies stay. Routes whose
 * policies did not change keep their state (open breakers, rate-limit counts). Other
 * settings (ports, pools, Redis) are read at start only: a change to them is logged as
 * needing a restart.
 */
import { watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isConfigError } from '@breakwater/core';
import { sameOptions } from '@breakwater/core/extend';
import { readConfigFile, resolveConfig, ServiceConfigError } from './config.mjs';

/** The `breakwater` options a reload applies; the others need a restart. */
const RELOADED = ['routes', 'defaults', 'breakers'];

/**
 * Starts watching `file`. `config`: the running configuration (from `loadConfig`);
 * `bw`: the adapter instance; `debounceMs`: editors write a file in several steps, so
 * changes are applied once it has been quiet this long; `signal`: a signal that reloads
 * too (`false`: none); `watchFile: false`: the signal only. `onReload({ ok, result?, error?, restart, reason })` is told of each
 * attempt. Returns `{ reload(reason), close() }`; `reload` resolves with the same report.
 */
export function watchConfig({
  file,
  config,
  bw,
  env = process.env,
  log = () => {},
  debounceMs = 100,
  signal = 'SIGHUP',
  watchFile = true,
  onReload = () => {},
}) {
  let running = config;
  let timer;
  let closed = false;

  function reload(reason = 'reload') {
    let report;
    try {
      const next = resolveConfig(readConfigFile(file), env, file);
      let result;
      try {
        const b = next.breakwater;
        result = bw.reconfigure({ routes: b.routes, defaults: b.defaults, breakers: b.breakers });
      } catch (e) {
        throw isConfigError(e) ? ServiceConfigError.from(file, 'breakwater', e) : e;
      }
      const restart = needsRestart(running, next);
      running = next;
      report = { ok: true, reason, result, restart };
      const r = result;
      log(
        `config reloaded (${reason}): ${r.changed.length} route(s) changed${list(r.changed)}, ` +
          `${r.unchanged.length} unchanged, ${r.added.length} added${list(r.added)}, ` +
          `${r.removed.length} removed${list(r.removed)}` +
          (r.breakers.changed.length + r.breakers.added.length + r.breakers.removed.length > 0
            ? `; breakers added${list(r.breakers.added)} changed${list(r.breakers.changed)} removed${list(r.breakers.removed)}`
            : ''),
      );
      if (restart.length > 0) log(`config: ${restart.join(', ')} changed: applied at the next restart`);
    } catch (e) {
      report = { ok: false, reason, error: e, restart: [] };
      log(`config reload (${reason}) rejected, the running policies stay: ${e.message}`);
    }
    onReload(report);
    return report;
  }

  // The directory, not the file: editors save by renaming a new file over the old one,
  // which a watch on the file itself would stop following.
  const name = basename(file);
  const watcher = watchFile
    ? watch(dirname(file), { persistent: false }, (_event, changed) => {
        if (closed || (changed !== null && changed !== name)) return;
        clearTimeout(timer);
        timer = setTimeout(() => reload('file changed'), debounceMs);
        timer.unref();
      })
    : undefined;
  watcher?.on('error', (e) => log(`config: watching ${file} failed (${e.message}); SIGHUP still reloads`));
  const onSignal = () => reload(signal);
  if (signal) process.on(signal, onSignal);

  return {
    reload: (reason) => reload(reason),
    close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      watcher?.close();
      if (signal) process.off(signal, onSignal);
    },
  };
}

function list(names) {
  return names.length === 0 ? '' : ` (${names.join(', ')})`;
}

/** Settings that changed but are read only at start. */
function needsRestart(before, after) {
  const out = [];
  for (const k of Object.keys({ ...before, ...after })) {
    if (k === 'breakwater' || k === 'source') continue;
    if (!sameOptions(before[k], after[k])) out.push(k);
  }
  const b = before.breakwater ?? {};
  const a = after.breakwater ?? {};
  for (const k of Object.keys({ ...b, ...a }))
    if (!RELOADED.includes(k) && !sameOptions(b[k], a[k])) out.push(`breakwater.${k}`);
  return out;
}
