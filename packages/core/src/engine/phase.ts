/**
 * Where a call is in the engine. `Late`: the deadline answered it while its work still
 * runs (and may hold a slot); `Abandoned`: its caller left while its work still runs.
 * Only the call's own transitions change it.
 */
export const Phase = { Limiting: 0, Queued: 1, Running: 2, Late: 3, Abandoned: 4, Done: 5 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** Why the engine refused a call before its work ran. */
export const Refused = {
  Overloaded: 0,
  RateLimited: 1,
  CircuitOpen: 2,
  BulkheadFull: 3,
  QueueTimeout: 4,
  /** The deadline passed while the call waited for a slot. */
  Timeout: 5,
  /** The rate limit could not be had: a `limit` function failed (`RATE_LIMIT_ERROR`). */
  LimitError: 6,
} as const;
export type Refused = (typeof Refused)[keyof typeof Refused];
