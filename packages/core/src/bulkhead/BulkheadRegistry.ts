import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { isPlainObject } from '../util/validate.js';
import { Bulkhead, type BulkheadOptions } from './Bulkhead.js';

/**
 * Bulkheads by name, so several routes can share one (`bulkhead: 'db'`): they then share
 * its slots, and its queue serves the more important route's requests first.
 */
export class BulkheadRegistry {
  private readonly bulkheads = new Map<string, Bulkhead>();

  constructor(private readonly clock?: Clock) {}

  /** Creates and registers a bulkhead; a name already taken throws. */
  create(name: string, options: BulkheadOptions, path = `bulkheads.${name}`): Bulkhead {
    if (this.bulkheads.has(name)) throw new ConfigError(path, name, 'a bulkhead name not already registered');
    if (!isPlainObject(options))
      throw new ConfigError(path, options, 'bulkhead options like { maxConcurrent: 10 }');
    const b = new Bulkhead(
      this.clock && !options.clock ? { ...options, clock: this.clock } : options,
      name,
      path,
    );
    this.bulkheads.set(name, b);
    return b;
  }

  get(name: string): Bulkhead | undefined {
    return this.bulkheads.get(name);
  }

  has(name: string): boolean {
    return this.bulkheads.has(name);
  }

  /** Names, for error messages. */
  names(): string[] {
    return [...this.bulkheads.keys()];
  }

  [Symbol.iterator](): IterableIterator<Bulkhead> {
    return this.bulkheads.values();
  }

  get size(): number {
    return this.bulkheads.size;
  }
}
