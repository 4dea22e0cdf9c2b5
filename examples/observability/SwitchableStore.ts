/**
 * A stand-in for a shared rate-limit store (Redis, in a real service) that can be switched
 * off: while `down`, every decision fails as a store outage does, and the limiter decides
 * by its `onStoreError` instead. The health entry `rateLimitStore:<limiter>` and the gauge
 * `breakwater_rate_limit_store_fallback{limiter}` show which is deciding.
 */
import { MemoryStore, type RateLimitDecision, type RateLimitStore } from '@breakwater/express';

type Windows = Parameters<RateLimitStore['consume']>[1];

export class SwitchableStore implements RateLimitStore {
  /** Set to simulate an outage of the store. */
  down = false;
  private readonly inner = new MemoryStore();

  consume(key: string, windows: Windows, cost: number): Promise<RateLimitDecision> {
    if (this.down)
      return Promise.reject(Object.assign(new Error('store unreachable'), { code: 'STORE_UNAVAILABLE' }));
    return Promise.resolve(this.inner.consume(key, windows, cost));
  }

  close(): void {
    this.inner.close();
  }
}
