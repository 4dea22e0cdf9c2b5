import type { RouteGuard } from '../guard/RouteGuard.js';
import { Emitter, type Event } from '../util/events.js';
import { Chaos, type ChaosKind, type ChaosState } from './Chaos.js';
import { type ChaosOptions, checkChaosOptions } from './options.js';

/** What the control needs of a Breakwater instance: its guards, and word of new ones. */
export interface ChaosHost {
  readonly guards: readonly RouteGuard[];
  readonly onGuard: Event<RouteGuard>;
}

/** One injection, as announced to metrics. */
export interface ChaosInjection {
  route: string;
  kind: ChaosKind;
}

/**
 * Turns chaos on and off at run time, per route (by the route's name, as in metrics) or
 * for every route that has a `chaos` policy: `bw.chaos` in both adapters. Settings given
 * here are kept per route name, so a route whose guard is built later (guards are built
 * at a route's first request) starts with them.
 *
 * ```ts
 * bw.chaos.enable('GET /api/orders', { fault: { rate: 0.1, status: 503 }, latency: { rate: 0.1, ms: 300 } });
 * bw.chaos.disable('GET /api/orders');
 * ```
 */
export class ChaosControl {
  /** Run-time settings by route name: what `enable`/`disable` said, merged. */
  private readonly byRoute = new Map<string, ChaosOptions>();
  /** What the last `enable()`/`disable()` of all routes said (applies to later guards with chaos). */
  private all: ChaosOptions | undefined;
  private readonly watched = new WeakSet<Chaos>();
  private readonly injectedEmitter = new Emitter<ChaosInjection>();
  /** Fires on every injection, on every route. */
  readonly onInjected: Event<ChaosInjection> = this.injectedEmitter.event;

  constructor(private readonly host: ChaosHost) {
    for (const g of host.guards) this.adopt(g);
    host.onGuard((g) => this.adopt(g));
  }

  /**
   * Turns chaos on for the route named `route` (every route with a `chaos` policy when
   * omitted), with `overrides` over its settings. A route without a `chaos` policy gets
   * one from the overrides. Returns the states of the routes it changed (none yet when
   * the route has not served a request: the settings wait for its first one). Throws a
   * ConfigError on bad overrides, changing nothing.
   */
  enable(route?: string, overrides: ChaosOptions = {}): ChaosState[] {
    return this.set(route, { ...overrides, enabled: true });
  }

  /** Turns chaos off for the route named `route`, or for every route when omitted. */
  disable(route?: string): ChaosState[] {
    return this.set(route, { enabled: false });
  }

  /** The chaos state of every route that has some. */
  list(): ChaosState[] {
    const out: ChaosState[] = [];
    for (const g of this.host.guards) if (g.chaos !== undefined) out.push(g.chaos.state);
    return out;
  }

  private set(route: string | undefined, options: ChaosOptions): ChaosState[] {
    // Validate once up front so a bad override changes nothing.
    checkChaosOptions(options, route === undefined ? 'chaos' : `chaos['${route}']`);
    const changed: ChaosState[] = [];
    if (route === undefined) {
      this.all = { ...this.all, ...options };
      for (const [name, o] of this.byRoute) this.byRoute.set(name, { ...o, ...options });
      for (const g of this.host.guards)
        if (g.chaos !== undefined) {
          g.chaos.configure(options);
          changed.push(g.chaos.state);
        }
      return changed;
    }
    this.byRoute.set(route, { ...this.byRoute.get(route), ...options });
    for (const g of this.host.guards)
      if (g.name === route) {
        this.apply(g, options);
        changed.push(g.chaos!.state);
      }
    return changed;
  }

  private apply(g: RouteGuard, options: ChaosOptions): void {
    if (g.chaos === undefined) {
      g.chaos = new Chaos(options, g.name);
      this.watch(g.chaos);
    } else g.chaos.configure(options);
  }

  private adopt(g: RouteGuard): void {
    if (g.chaos !== undefined) this.watch(g.chaos);
    const own = this.byRoute.get(g.name);
    if (own !== undefined) this.apply(g, own);
    else if (this.all !== undefined && g.chaos !== undefined) g.chaos.configure(this.all);
  }

  private watch(chaos: Chaos): void {
    if (this.watched.has(chaos)) return;
    this.watched.add(chaos);
    const route = chaos.route;
    chaos.onInject((kind) => {
      if (this.injectedEmitter.size > 0) this.injectedEmitter.fire({ route, kind });
    });
  }
}
