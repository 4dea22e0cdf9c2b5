import { describe, expect, test } from 'vitest';
import { isBreakwaterError } from '../errors.js';
import { isPoolClosedError, isPoolExistsError, isPoolNotFoundError } from './errors.js';
import { PoolManager } from './PoolManager.js';
import type { Pool, PoolHealth, PoolStats } from './types.js';

/** A pool whose close can be made to hang, recording what the manager does to it. */
class FakePool implements Pool {
  closed = 0;
  destroyed = 0;
  hangClose = false;
  health_: () => Promise<PoolHealth> = async () => ({ status: 'pass', time: new Date().toISOString() });
  constructor(readonly name: string) {}
  stats(): PoolStats {
    return { active: 1, idle: 2, pending: 3, max: 10 };
  }
  health(): Promise<PoolHealth> {
    return this.health_();
  }
  close(): Promise<void> {
    this.closed++;
    return this.hangClose ? new Promise(() => {}) : Promise.resolve();
  }
  async destroy(): Promise<void> {
    this.destroyed++;
  }
}

describe('PoolManager', () => {
  test('add, get (typed), has, size, iteration and onAdd', () => {
    const m = new PoolManager();
    const added: string[] = [];
    m.onAdd((p) => added.push(p.name));
    const a = m.add(new FakePool('a'));
    m.add(new FakePool('b'));
    const got: FakePool = m.get<FakePool>('a');
    expect(got).toBe(a);
    expect(m.has('b')).toBe(true);
    expect(m.has('c')).toBe(false);
    expect(m.size).toBe(2);
    expect([...m].map((p) => p.name)).toEqual(['a', 'b']);
    expect(added).toEqual(['a', 'b']);
  });

  test('duplicate names and missing pools give typed errors with stable codes', () => {
    const m = new PoolManager();
    m.add(new FakePool('a'));
    const dup = (() => {
      try {
        m.add(new FakePool('a'));
      } catch (e) {
        return e;
      }
    })();
    expect(isPoolExistsError(dup)).toBe(true);
    expect((dup as { code: string }).code).toBe('POOL_EXISTS');
    const missing = (() => {
      try {
        m.get('nope');
      } catch (e) {
        return e;
      }
    })();
    expect(isPoolNotFoundError(missing)).toBe(true);
    expect(isBreakwaterError(missing)).toBe(true);
    expect((missing as Error).message).toMatch(/nope/);
  });

  test('stats() and health() by name; a hanging or throwing health reports fail', async () => {
    const m = new PoolManager({ healthTimeout: 30 });
    m.add(new FakePool('ok'));
    const slow = m.add(new FakePool('slow'));
    slow.health_ = () => new Promise(() => {});
    const bad = m.add(new FakePool('bad'));
    bad.health_ = () => Promise.reject(new Error('boom'));
    expect(m.stats()).toEqual({
      ok: { active: 1, idle: 2, pending: 3, max: 10 },
      slow: { active: 1, idle: 2, pending: 3, max: 10 },
      bad: { active: 1, idle: 2, pending: 3, max: 10 },
    });
    const h = await m.health();
    expect(h.ok!.status).toBe('pass');
    expect(h.slow).toMatchObject({ status: 'fail', output: 'no answer within 30ms' });
    expect(h.bad).toMatchObject({ status: 'fail', output: 'boom' });
  });

  test('close() closes every pool, destroys one that overruns the bound, and is safe twice', async () => {
    const m = new PoolManager({ closeTimeout: 30 });
    const a = m.add(new FakePool('a'));
    const hung = m.add(new FakePool('hung'));
    hung.hangClose = true;
    const t0 = Date.now();
    const p = m.close();
    expect(m.close()).toBe(p);
    await p;
    expect(Date.now() - t0).toBeLessThan(500);
    expect([a.closed, a.destroyed]).toEqual([1, 0]);
    expect([hung.closed, hung.destroyed]).toEqual([1, 1]);
    expect(m.closed).toBe(true);
  });

  test('a closed manager refuses add and get with POOL_CLOSED', async () => {
    const m = new PoolManager();
    m.add(new FakePool('a'));
    await m.close();
    expect(() => m.add(new FakePool('b'))).toThrow(expect.objectContaining({ code: 'POOL_CLOSED' }));
    let e: unknown;
    try {
      m.get('a');
    } catch (x) {
      e = x;
    }
    expect(isPoolClosedError(e)).toBe(true);
  });
});
