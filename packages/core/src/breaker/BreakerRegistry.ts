import { ConfigError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import { Emitter, type Event } from '../util/events.js';
import { isPlainObject } from '../util/validate.js';
import { CircuitBreaker } from './CircuitBreaker.js';
import type { CircuitBreakerOptions } from './options.js';

/**
 * Breakers by name, so a route and an outbound pool can share one: both name it, and
 * one upstream's failures open it for both.
 */
export class BreakerRegistry {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly addEmitter = new Emitter<CircuitBreaker>();
  /** Fires when a breaker is added (metrics and health subscribe here). */
  readonly onAdd: Event<CircuitBreaker> = this.addEmitter.event;

  constructor(private readonly clock?: Clock) {}

  /** Creates and registers a breaker; a name already taken throws. */
  create(name: string, options: CircuitBreakerOptions = {}, path = `breakers.${name}`): CircuitBreaker {
    if (this.breakers.has(name)) throw new ConfigError(path, name, 'a breaker name not already registered');
    if (!isPlainObject(options)) throw new ConfigError(path, options, 'breaker options (an object)');
    const b = new CircuitBreaker(
      this.clock && !options.clock ? { ...options, clock: this.clock } : options,
      name,
      path,
    );
    this.add(b);
    return b;
  }

  /** Registers an existing breaker under its name. */
  add(breaker: CircuitBreaker): CircuitBreaker {
    const existing = this.breakers.get(breaker.name);
    if (existing === breaker) return breaker;
    if (existing)
      throw new ConfigError('circuitBreaker.name', breaker.name, 'a breaker name not already registered');
    this.breakers.set(breaker.name, breaker);
    // Registered breakers are the ones in use (validation builds others): they join their fleet.
    breaker.options.fleet?.attach(breaker);
    this.addEmitter.fire(breaker);
    return breaker;
  }

  get(name: string): CircuitBreaker | undefined {
    return this.breakers.get(name);
  }

  /** The breaker with this name, created with default options if there is none yet. */
  getOrCreate(name: string, options?: CircuitBreakerOptions): CircuitBreaker {
    return this.breakers.get(name) ?? this.create(name, options);
  }

  /** Removes a breaker by name (a route's own breaker whose route was rebuilt). */
  remove(name: string): boolean {
    const b = this.breakers.get(name);
    b?.options.fleet?.detach(b);
    return this.breakers.delete(name);
  }

  has(name: string): boolean {
    return this.breakers.has(name);
  }

  [Symbol.iterator](): IterableIterator<CircuitBreaker> {
    return this.breakers.values();
  }

  get size(): number {
    return this.breakers.size;
  }
}
