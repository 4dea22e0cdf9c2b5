import type { RoutePolicy } from './policy.js';
import type { RouteGuard } from './RouteGuard.js';

/** A `routes` entry: its guard, and whether a `route()` middleware has taken the route over. */
export interface EntrySlot {
  key: string;
  /** The guard's name, and the option path for errors. */
  name: string;
  path: string;
  /** The entry as configured (merged under a claiming route()'s policy). */
  policy: RoutePolicy | undefined;
  /** `defaults` ⊕ the entry: what the middleware applies. Undefined for a route()'s claim. */
  merged: RoutePolicy | undefined;
  /** Built at the entry's first request. */
  guard: RouteGuard | undefined;
  claimed: boolean;
}
