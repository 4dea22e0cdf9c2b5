import { describe, expect, test } from 'vitest';
import { isPoolClosedError } from './errors.js';
import { PoolLifecycle, type PoolLifecycleHooks } from './PoolLifecycle.js';

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Hooks that record their calls; drain and release wait for the test unless told otherwise. */
function hooks(over: Partial<PoolLifecycleHooks> = {}) {
  const calls: string[] = [];
  const drain = deferred<boolean>();
  const release = deferred();
  let signal: AbortSignal | undefined;
  const h: PoolLifecycleHooks = {
    drain: (s) => {
      signal = s;
      calls.push('drain');
      return drain.promise;
    },
    release: () => {
      calls.push('release');
      return release.promise;
    },
    destroy: () => {
      calls.push('destroy');
    },
    ...over,
  };
  return { h, calls, drain, release, signal: () => signal };
}

const turns = async (n = 5) => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('PoolLifecycle', () => {
  test('close(): closing at once (refusing new work), drain, then release, then closed; the same promise twice', async () => {
    const t = hooks();
    const lc = new PoolLifecycle('p', t.h);
    expect([lc.state, lc.isOpen, lc.isDrained]).toEqual(['open', true, false]);
    expect(() => lc.assertOpen()).not.toThrow();
    const closing = lc.close();
    expect(lc.close()).toBe(closing);
    // The drain hook runs synchronously inside close().
    expect([lc.state, lc.isOpen, lc.isDrained, t.calls]).toEqual(['closing', false, false, ['drain']]);
    let err: unknown;
    try {
      lc.assertOpen();
    } catch (e) {
      err = e;
    }
    expect(isPoolClosedError(err)).toBe(true);
    expect((err as Error).message).toContain("'p'");
    t.drain.resolve(true);
    await turns();
    expect([lc.state, lc.isDrained, t.calls]).toEqual(['closing', true, ['drain', 'release']]);
    t.release.resolve();
    await closing;
    expect(lc.state).toBe('closed');
    // Nothing is left to destroy after a finished close.
    await lc.destroy();
    expect([lc.state, t.calls]).toEqual(['closed', ['drain', 'release']]);
  });

  test('destroy() in the middle of a drain: destroyed at once, the close settles with it, release is skipped', async () => {
    const t = hooks();
    const lc = new PoolLifecycle('p', t.h);
    const closing = lc.close();
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    const destroying = lc.destroy();
    expect(lc.destroy()).toBe(destroying);
    expect([lc.state, lc.isDrained, t.signal()!.aborted]).toEqual(['destroyed', true, true]);
    expect(isPoolClosedError(t.signal()!.reason)).toBe(true);
    await destroying;
    await turns();
    expect(closed).toBe(true);
    // The drain ending later changes nothing.
    t.drain.resolve(true);
    await turns();
    expect([lc.state, t.calls]).toEqual(['destroyed', ['drain', 'destroy']]);
  });

  test('destroy() while releasing still destroys, and the close settles with it', async () => {
    const t = hooks();
    const lc = new PoolLifecycle('p', t.h);
    const closing = lc.close();
    t.drain.resolve(true);
    await turns();
    expect(t.calls).toEqual(['drain', 'release']);
    await lc.destroy();
    await closing;
    t.release.resolve();
    await turns();
    expect([lc.state, t.calls]).toEqual(['destroyed', ['drain', 'release', 'destroy']]);
  });

  test('a drain that reports work still running destroys instead of releasing', async () => {
    const t = hooks({ drain: () => false });
    const lc = new PoolLifecycle('p', t.h);
    await lc.close();
    expect([lc.state, t.calls]).toEqual(['destroyed', ['destroy']]);
  });

  test('close() after destroy() returns the destroy; destroy() when open skips the close steps', async () => {
    const t = hooks();
    const lc = new PoolLifecycle('p', t.h);
    const destroying = lc.destroy();
    expect(lc.close()).toBe(destroying);
    await destroying;
    expect([lc.state, t.calls]).toEqual(['destroyed', ['destroy']]);
  });

  test('a failing step rejects the close and leaves it to destroy()', async () => {
    const boom = new Error('boom');
    const t = hooks({
      drain: () => {
        throw boom;
      },
    });
    const lc = new PoolLifecycle('p', t.h);
    const closing = lc.close();
    await expect(closing).rejects.toBe(boom);
    expect(lc.close()).toBe(closing);
    expect(lc.state).toBe('closing');
    await lc.destroy();
    expect([lc.state, t.calls]).toEqual(['destroyed', ['destroy']]);
  });

  test('a failing destroy rejects both its promise and the close it overtook', async () => {
    const boom = new Error('boom');
    const t = hooks({
      destroy: async () => {
        throw boom;
      },
    });
    const lc = new PoolLifecycle('p', t.h);
    const closing = lc.close();
    const destroying = lc.destroy();
    await expect(destroying).rejects.toBe(boom);
    await expect(closing).rejects.toBe(boom);
  });
});
