import { BreakwaterError } from '../errors.js';
import type { Pool } from './types.js';

/** Holds pools by name and closes them together. (Metrics and health wiring: see issue 5.) */
export class PoolManager {
  private readonly pools = new Map<string, Pool>();

  add<P extends Pool>(pool: P): P {
    if (this.pools.has(pool.name))
      throw new BreakwaterError('POOL_EXISTS', `A pool named '${pool.name}' is already registered`);
    this.pools.set(pool.name, pool);
    return pool;
  }

  get<P extends Pool = Pool>(name: string): P {
    const p = this.pools.get(name);
    if (!p) throw new BreakwaterError('POOL_NOT_FOUND', `No pool named '${name}'`);
    return p as P;
  }

  has(name: string): boolean {
    return this.pools.has(name);
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.pools.values()].map((p) => p.close()));
  }
}
