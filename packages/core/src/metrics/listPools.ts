import type { PoolManager } from '../pools/PoolManager.js';
import type { Pool } from '../pools/types.js';
import type { Disposable, Event } from '../util/events.js';

/**
 * The pools a manager holds. Read through whichever accessor the manager offers
 * (iteration, `values()` or `list()`), so metrics and health work against any
 * PoolManager that can enumerate its pools.
 */
export function listPools(manager: PoolManager): Pool[] {
  const m = manager as unknown as {
    [Symbol.iterator]?: () => Iterator<Pool>;
    values?: () => Iterable<Pool>;
    list?: () => Iterable<Pool>;
  };
  if (typeof m[Symbol.iterator] === 'function') return [...(m as Iterable<Pool>)];
  if (typeof m.values === 'function') return [...m.values()];
  if (typeof m.list === 'function') return [...m.list()];
  return [];
}

/** Subscribes to pools added later, when the manager announces them; otherwise does nothing. */
export function onPoolAdded(manager: PoolManager, listener: (pool: Pool) => void): Disposable | undefined {
  const onAdd = (manager as unknown as { onAdd?: Event<Pool> }).onAdd;
  return typeof onAdd === 'function' ? onAdd(listener) : undefined;
}
