/**
 * Where the instances of a fleet share which of their breakers are open, so a breaker can
 * open everywhere once enough instances saw its dependency fail (see {@link BreakerFleet}).
 * Core ships only this interface; `@breakwater/redis-pool` implements it over Redis.
 *
 * An implementation must time its calls out: a hung exchange holds up the fleet's polling.
 */
export interface BreakerCoordinator {
  /** This instance's id, unique in the fleet (a report is per instance and breaker). */
  readonly instanceId: string;
  /**
   * One exchange about breaker `name`: `open` true reports this instance's breaker open for
   * `ttlMs` (renewing an earlier report), false withdraws this instance's report, undefined
   * only asks. Resolves with how many instances report `name` open now, this one included.
   */
  exchange(name: string, open: boolean | undefined, ttlMs: number): Promise<number>;
}
