import type { BreakerRegistry } from '../breaker/BreakerRegistry.js';
import { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { CircuitBreakerOptions } from '../breaker/options.js';
import { ConfigError } from '../errors.js';
import { sameOptions } from '../util/sameOptions.js';
import { checkKeys, expectObject, isPlainObject } from '../util/validate.js';
import { type BuildContext, buildPolicies } from './build.js';
import type { EntrySlot } from './EntrySlot.js';
import { checkRoutePolicy, hasProtection, mergePolicy, type RoutePolicy } from './policy.js';
import type { GuardPolicies, RouteGuard } from './RouteGuard.js';
import type { ResolvedRoute, RouteGuardCache } from './RouteGuardCache.js';
import { parseRouteKey, RouteTable } from './RouteTable.js';

/**
 * What `reconfigure()` replaces. A member left out keeps its current value; a member given
 * as `undefined` clears it (a config file without a `defaults` section has no defaults).
 */
export interface ReconfigureOptions<Policy = RoutePolicy> {
  /** The whole `routes` table, as in `breakwater({ routes })`. */
  routes?: Record<string, Policy> | undefined;
  /** Merged under every `routes` entry and every `route()` policy. */
  defaults?: Policy | undefined;
  /** Shared breakers by name. A changed one is rebuilt (closed, counts empty); see `reconfigure()`. */
  breakers?: Record<string, CircuitBreakerOptions> | undefined;
}

/** What a reconfiguration did, by route (`'GET /api/x'`, as configured) and by breaker name. */
export interface ReconfigureResult {
  /** Routes whose policies changed: the changed policies start afresh, the others keep their state. */
  changed: string[];
  /** Routes whose effective policies did not change: their guard (breaker state, limiter counts) is kept. */
  unchanged: string[];
  /** `routes` entries the new table adds. */
  added: string[];
  /** `routes` entries the new table drops: their policies no longer apply. */
  removed: string[];
  /** Shared breakers added, rebuilt with new options, and dropped. */
  breakers: { added: string[]; changed: string[]; removed: string[] };
}

/** What `reconfigure()` reads and rebuilds in a `BreakwaterCore`. */
export interface ReloadHost {
  readonly ctx: BuildContext;
  readonly defaults: RoutePolicy | undefined;
  readonly routes: Record<string, RoutePolicy> | undefined;
  readonly table: RouteTable<EntrySlot> | undefined;
  readonly breakerOptions: Readonly<Record<string, CircuitBreakerOptions>>;
  /** Every `route()` middleware's guards. */
  readonly caches: Iterable<RouteGuardCache>;
  /** Makes a guard of built policies and announces it (metrics and admin subscribe). */
  addGuard(name: string, policies: GuardPolicies): RouteGuard;
  /** Forgets a guard that takes no more requests (those under way finish with it). */
  dropGuard(guard: RouteGuard): void;
}

/** A validated reconfiguration: nothing has changed until `apply()`. */
export interface ReloadPlan {
  readonly defaults: RoutePolicy | undefined;
  readonly routes: Record<string, RoutePolicy> | undefined;
  readonly table: RouteTable<EntrySlot> | undefined;
  readonly breakerOptions: Record<string, CircuitBreakerOptions>;
  /** Swaps guards and breakers; never throws. The host installs the fields above with it. */
  apply(): ReconfigureResult;
}

const KNOWN = ['routes', 'defaults', 'breakers'];
const ROUTES = 'breakwater.routes';

/**
 * Validates every `routes` entry (merged over `defaults`) and makes the table the
 * middleware looks requests up in. Entries are built at their first request: a `route()`
 * that takes one over first means its policies are never built twice.
 */
export function buildEntryTable(
  routes: unknown,
  defaults: RoutePolicy | undefined,
  ctx: BuildContext,
): RouteTable<EntrySlot> {
  const table = new RouteTable<EntrySlot>();
  for (const [key, policy] of Object.entries(expectObject(routes, ROUTES))) {
    const path = `${ROUTES}['${key}']`;
    const { method, pattern } = parseRouteKey(key, ROUTES);
    const name = (policy as RoutePolicy | undefined)?.name ?? `${method ?? 'ALL'} ${pattern}`;
    const merged = mergePolicy(defaults, checkRoutePolicy(policy, path));
    if (hasProtection(merged)) buildPolicies(merged, name, path, ctx, false);
    let added = false;
    table.getOrAdd(method, pattern, () => {
      added = true;
      return { key, name, path, policy: policy as RoutePolicy, merged, guard: undefined, claimed: false };
    });
    if (!added) throw new ConfigError(path, key, 'a route listed once');
  }
  return table;
}

/** The slot a `route()` middleware makes for a route no entry names by its method. */
export function claimedSlot(method: string, pattern: string, policy: RoutePolicy | undefined): EntrySlot {
  const key = `${method} ${pattern}`;
  return { key, name: key, path: 'route', policy, merged: undefined, guard: undefined, claimed: true };
}

/** One guard to rebuild at `apply()`. */
interface Rebuild {
  old: RouteGuard | undefined;
  oldMerged: RoutePolicy;
  merged: RoutePolicy;
  name: string;
  path: string;
  install(guard: RouteGuard | undefined): void;
}

/**
 * Checks a reconfiguration against the instance's current state and works out what
 * changes, touching nothing: every error is thrown here, with the option path, before any
 * guard is swapped.
 */
export function planReconfigure(host: ReloadHost, options: ReconfigureOptions): ReloadPlan {
  const o = expectObject(options, 'reconfigure');
  checkKeys(o, KNOWN, 'reconfigure');
  const ctx = host.ctx;
  const result: ReconfigureResult = {
    changed: [],
    unchanged: [],
    added: [],
    removed: [],
    breakers: { added: [], changed: [], removed: [] },
  };

  // Shared breakers first: a route naming a rebuilt breaker must be rebuilt too.
  let breakerOptions = host.breakerOptions as Record<string, CircuitBreakerOptions>;
  const newBreakers: CircuitBreaker[] = [];
  if (Object.hasOwn(o, 'breakers')) {
    const next = o.breakers === undefined ? {} : expectObject(o.breakers, 'breakwater.breakers');
    for (const [name, bo] of Object.entries(next)) {
      const path = `breakwater.breakers.${name}`;
      const old = Object.hasOwn(host.breakerOptions, name) ? host.breakerOptions[name] : undefined;
      if (old !== undefined && sameOptions(old, bo)) continue;
      if (old === undefined && ctx.breakers.has(name))
        throw new ConfigError(path, name, 'a breaker name not already registered');
      if (!isPlainObject(bo)) throw new ConfigError(path, bo, 'breaker options (an object)');
      const opts = bo as CircuitBreakerOptions;
      newBreakers.push(new CircuitBreaker(opts.clock ? opts : { ...opts, clock: ctx.clock }, name, path));
      (old === undefined ? result.breakers.added : result.breakers.changed).push(name);
    }
    for (const name of Object.keys(host.breakerOptions))
      if (!Object.hasOwn(next, name)) result.breakers.removed.push(name);
    breakerOptions = next as Record<string, CircuitBreakerOptions>;
  }
  const touched = new Set([...result.breakers.changed, ...result.breakers.removed]);
  const rebuiltBreaker = (p: RoutePolicy) =>
    typeof p.circuitBreaker === 'string' && touched.has(p.circuitBreaker);

  let defaults = host.defaults;
  if (Object.hasOwn(o, 'defaults')) {
    defaults = o.defaults === undefined ? undefined : checkRoutePolicy(o.defaults, 'breakwater.defaults');
    if (defaults !== undefined) buildPolicies(defaults, 'defaults', 'breakwater.defaults', ctx, false);
  }
  let routes = host.routes;
  if (Object.hasOwn(o, 'routes'))
    routes =
      o.routes === undefined ? undefined : (expectObject(o.routes, ROUTES) as Record<string, RoutePolicy>);
  const table = routes === undefined ? undefined : buildEntryTable(routes, defaults, ctx);

  // A shared breaker the new configuration drops must be one no route names any more.
  const dropped = new Set(result.breakers.removed);
  const checkNamed = (p: RoutePolicy, path: string) => {
    if (typeof p.circuitBreaker === 'string' && dropped.has(p.circuitBreaker))
      throw new ConfigError(
        `${path}.circuitBreaker`,
        p.circuitBreaker,
        'a breaker listed in breakwater.breakers (the new configuration drops it)',
      );
  };
  if (defaults !== undefined) checkNamed(defaults, 'breakwater.defaults');

  const rebuilds: Rebuild[] = [];
  const note = (name: string, same: boolean) => {
    const list = same ? result.unchanged : result.changed;
    if (!list.includes(name)) list.push(name);
  };

  // route() middlewares: defaults, then the entry at their route, then their own policy.
  for (const cache of host.caches) {
    checkNamed(mergePolicy(defaults, cache.policy), 'route');
    if (defaults !== host.defaults)
      buildPolicies(mergePolicy(defaults, cache.policy), 'validation', 'route', ctx, false);
    for (const r of cache.routes()) {
      let entry: RoutePolicy | undefined;
      if (table !== undefined) {
        const anyMethod = table.get(undefined, r.pattern);
        const slot = table.getOrAdd(r.method, r.pattern, () =>
          claimedSlot(r.method, r.pattern, anyMethod?.policy),
        );
        slot.claimed = true;
        entry = slot.policy;
      }
      const oldMerged = mergePolicy(
        mergePolicy(host.defaults, host.table?.get(r.method, r.pattern)?.policy),
        cache.policy,
      );
      const merged = mergePolicy(mergePolicy(defaults, entry), cache.policy);
      const name = merged.name ?? `${r.method} ${r.pattern}`;
      const path = `${ROUTES}['${r.method} ${r.pattern}']`;
      checkNamed(merged, path);
      const same = sameOptions(oldMerged, merged) && !rebuiltBreaker(merged);
      note(`${r.method} ${r.pattern}`, same);
      if (same) continue;
      if (hasProtection(merged)) buildPolicies(merged, name, path, ctx, false);
      const route: ResolvedRoute = r;
      rebuilds.push({
        old: r.guard ?? undefined,
        oldMerged,
        merged,
        name,
        path,
        install: (g) => cache.replace(route, g ?? null),
      });
    }
  }

  // `routes` entries the app middleware applies.
  const retired: Array<{ guard: RouteGuard; merged: RoutePolicy }> = [];
  if (table !== undefined) {
    for (const slot of table.values()) {
      if (slot.merged === undefined) continue;
      checkNamed(slot.merged, slot.path);
      const { method, pattern } = parseRouteKey(slot.key, ROUTES);
      const old = host.table?.get(method, pattern);
      if (old?.merged === undefined) {
        result.added.push(slot.key);
        continue;
      }
      // A route() took it over: reported, and rebuilt if need be, with that route above.
      if (slot.claimed) continue;
      const same =
        old.name === slot.name && sameOptions(old.merged, slot.merged) && !rebuiltBreaker(slot.merged);
      note(slot.key, same);
      if (old.guard === undefined) continue; // never requested: built from the new entry at its first request
      if (same) slot.guard = old.guard;
      else
        rebuilds.push({
          old: old.guard,
          oldMerged: old.merged,
          merged: slot.merged,
          name: slot.name,
          path: slot.path,
          install: (g) => {
            slot.guard = g;
          },
        });
    }
  }
  if (host.table !== undefined) {
    for (const old of host.table.values()) {
      if (old.merged === undefined) continue;
      const { method, pattern } = parseRouteKey(old.key, ROUTES);
      if (table?.get(method, pattern)?.merged !== undefined) continue;
      result.removed.push(old.key);
      if (!old.claimed && old.guard !== undefined) retired.push({ guard: old.guard, merged: old.merged });
    }
  }

  return {
    defaults,
    routes,
    table,
    breakerOptions,
    apply(): ReconfigureResult {
      const reg = ctx.breakers;
      for (const name of touched) reg.remove(name);
      for (const b of newBreakers) reg.add(b);
      for (const r of retired) retire(host, r.guard, r.merged, true, true);
      for (const r of rebuilds) r.install(rebuild(host, r, rebuiltBreaker));
      for (const list of [result.changed, result.unchanged, result.added, result.removed]) list.sort();
      return result;
    },
  };
}

/**
 * The guard for a changed route. Its limiter, breaker and bulkhead are kept when their
 * own options (and the route's name, which labels them) did not change, so a new timeout
 * does not hand every client a fresh rate-limit allowance or close an open breaker.
 */
function rebuild(
  host: ReloadHost,
  r: Rebuild,
  rebuiltBreaker: (p: RoutePolicy) => boolean,
): RouteGuard | undefined {
  const old = r.old;
  const keep = old !== undefined && old.name === r.name;
  const sameLimiter = keep && sameOptions(r.oldMerged.rateLimit, r.merged.rateLimit);
  const sameBreaker =
    keep && sameOptions(r.oldMerged.circuitBreaker, r.merged.circuitBreaker) && !rebuiltBreaker(r.merged);
  const sameBulkhead = keep && sameOptions(r.oldMerged.bulkhead, r.merged.bulkhead);
  // Before building: a route's own breaker leaves the registry, so its successor keeps the name.
  if (old !== undefined) retire(host, old, r.oldMerged, !sameLimiter, !sameBreaker);
  if (!hasProtection(r.merged)) return undefined;
  const policies = buildPolicies(
    {
      ...r.merged,
      ...(sameLimiter && { rateLimit: false }),
      ...(sameBreaker && { circuitBreaker: false }),
      ...(sameBulkhead && { bulkhead: false }),
    },
    r.name,
    r.path,
    host.ctx,
  );
  if (sameLimiter) policies.limiter = old!.limiter;
  if (sameBreaker) policies.breaker = old!.breaker;
  if (sameBulkhead) policies.bulkhead = old!.bulkhead;
  return host.addGuard(r.name, policies);
}

/** Stops a guard taking requests; drops the limiter and own breaker no successor keeps. */
function retire(
  host: ReloadHost,
  guard: RouteGuard,
  merged: RoutePolicy,
  dropLimiter: boolean,
  dropBreaker: boolean,
): void {
  host.dropGuard(guard);
  if (dropBreaker) dropOwnBreaker(host.ctx.breakers, guard, merged);
  // Requests under way decided their rate limit at their start: nothing uses it any more.
  if (dropLimiter) guard.limiter?.close().catch(() => {});
}

/**
 * Takes a retired guard's own breaker (`circuitBreaker: {…}` in its policy, not a shared
 * one by name) out of the registry, unless another guard's breaker holds the name by now.
 */
export function dropOwnBreaker(
  breakers: BreakerRegistry,
  guard: RouteGuard,
  policy: RoutePolicy | undefined,
): void {
  const b = guard.breaker;
  if (b !== undefined && typeof policy?.circuitBreaker === 'object' && breakers.get(b.name) === b)
    breakers.remove(b.name);
}
