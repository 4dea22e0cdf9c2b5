import { describe, expect, test } from 'vitest';
import { HealthMonitor, type ProbeResult } from './HealthMonitor.js';

const options = { intervalMs: 1000, timeoutMs: 100, unhealthyThreshold: 3, healthyThreshold: 1, jitter: 0 };

describe('HealthMonitor thresholds', () => {
  test('failures below the threshold warn; a decisive failure (a Cluster down) fails at once', async () => {
    let next: ProbeResult = { ok: false, latencyMs: 1, error: 'PING timed out' };
    const m = new HealthMonitor(
      async () => next,
      options,
      () => {},
    );
    await m.check();
    expect(m.report().status).toBe('warn');
    next = { ok: false, latencyMs: 1, error: 'cluster_state:fail', decisive: true };
    await m.check();
    expect(m.report()).toMatchObject({ status: 'fail', output: 'cluster_state:fail' });
    next = { ok: true, latencyMs: 1 };
    await m.check();
    expect(m.report().status).toBe('pass');
    // Without the decisive flag it takes unhealthyThreshold failures in a row.
    next = { ok: false, latencyMs: 1, error: 'x' };
    await m.check();
    await m.check();
    expect(m.report().status).toBe('warn');
    await m.check();
    expect(m.report().status).toBe('fail');
    m.stop();
  });
});
