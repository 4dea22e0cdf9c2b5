import { ConfigError } from '@breakwater/core';

/** A call's priority for pacing: lower is served first (the same scale as core's route priorities). */
export type CallPriority = 'critical' | 'normal' | 'sheddable' | 0 | 1 | 2;

/** Numeric value of each priority name. */
export const PRIORITY = { critical: 0, normal: 1, sheddable: 2 } as const;

/** The queue index (0..2) of a request's `priority` option; throws a ConfigError on anything else. */
export function priorityIndex(p: unknown): number {
  if (p === 0 || p === 1 || p === 2) return p;
  if (p === 'critical') return 0;
  if (p === 'normal') return 1;
  if (p === 'sheddable') return 2;
  throw new ConfigError('request.priority', p, "'critical', 'normal', 'sheddable' or 0..2");
}
