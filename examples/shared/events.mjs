/**
 * What the demo report needs to tell the story: every circuit-breaker transition and
 * every pool health change, with timestamps, kept in a bounded log the admin endpoint
 * serves (`GET /admin/events?since=<epoch ms>`).
 */
export class EventLog {
  constructor(max = 5000) {
    this.max = max;
    this.events = [];
    this.seq = 0;
  }

  push(event) {
    const e = { seq: ++this.seq, at: Date.now(), ...event };
    this.events.push(e);
    if (this.events.length > this.max) this.events.splice(0, this.events.length - this.max);
    return e;
  }

  /** Events at or after `since` (epoch milliseconds). */
  since(since = 0) {
    return this.events.filter((e) => e.at >= since);
  }
}

/** Records the transitions of every breaker of `registry`, present and future. Returns a stop function. */
export function watchBreakers(registry, log) {
  const subs = [];
  const seen = new WeakSet();
  const watch = (b) => {
    if (seen.has(b)) return;
    seen.add(b);
    subs.push(
      b.onStateChange((c) =>
        log.push({ type: 'breaker', breaker: c.breaker, from: c.from, to: c.to, reason: c.reason }),
      ),
    );
  };
  for (const b of registry) watch(b);
  subs.push(registry.onAdd(watch));
  return () => {
    for (const s of subs.splice(0)) s.dispose();
  };
}

/**
 * Records pool health changes (pass, warn, fail) by reading each pool's `health()` every
 * `intervalMs` (cheap: pools answer from their background checks). Returns a stop function.
 */
export function watchPools(pools, log, intervalMs = 200) {
  const last = new Map();
  let stopped = false;
  let running = false;
  const tick = async () => {
    if (running || stopped) return;
    running = true;
    try {
      for (const pool of pools) {
        let h;
        try {
          h = await pool.health();
        } catch (e) {
          h = { status: 'fail', output: e instanceof Error ? e.message : String(e) };
        }
        if (stopped) return;
        const before = last.get(pool.name);
        if (before !== h.status) {
          last.set(pool.name, h.status);
          log.push({ type: 'pool', pool: pool.name, from: before ?? null, to: h.status, output: h.output });
        }
      }
    } finally {
      running = false;
      // Re-armed only once a round has finished, so rounds never overlap.
      if (!stopped) timer.refresh();
    }
  };
  const timer = setTimeout(tick, intervalMs);
  timer.unref();
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
