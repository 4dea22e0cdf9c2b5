import type { BreakerRegistry } from '../breaker/BreakerRegistry.js';
import type { ChaosControl } from '../chaos/ChaosControl.js';
import type { FallbackEvent } from '../guard/fallback.js';
import type { RejectionEvent } from '../guard/problem.js';
import type { RouteGuard } from '../guard/RouteGuard.js';
import type { LoadShedder } from '../overload/LoadShedder.js';
import type { PoolManager } from '../pools/PoolManager.js';
import type { Clock } from '../util/clock.js';
import type { Event } from '../util/events.js';

/** What the metrics read of a Breakwater instance (`BreakwaterCore` implements it). */
export interface MetricsHost {
  /** The instance's options: a clock given there drives the request histogram too. */
  readonly options: { readonly clock?: Clock | undefined };
  readonly clock: Clock;
  readonly breakers: BreakerRegistry;
  readonly guards: readonly RouteGuard[];
  readonly onGuard: Event<RouteGuard>;
  readonly onRejected: Event<RejectionEvent>;
  readonly onFallback: Event<FallbackEvent>;
  readonly pools: PoolManager;
  readonly chaos: ChaosControl;
  readonly overload: { readonly shedder: LoadShedder } | undefined;
}
