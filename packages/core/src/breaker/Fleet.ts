import type { Disposable, Event } from '../util/events.js';

/**
 * A breaker's fleet, as the breaker and the registry use it (`BreakerFleet` is the
 * implementation). Declared apart so the breaker's options need not import the fleet,
 * which imports the breaker.
 */
export interface Fleet {
  attach(breaker: object): Disposable;
  detach(breaker: object): void;
  /** A quorum of instances reported a breaker open. */
  readonly onOpen: Event<{ readonly breaker: string }>;
  /** An exchange with the coordinator failed. */
  readonly onError: Event<unknown>;
}
