import { ConfigError, Priority, type PriorityName } from '@breakwater/core';

/** A call's priority for pacing: lower is served first (core's route priorities, by name or value). */
export type CallPriority = PriorityName | Priority;

/** The queue index (0..2) of a request's `priority` option; throws a ConfigError on anything else. */
export function priorityIndex(p: unknown): number {
  if (p === 0 || p === 1 || p === 2) return p;
  if (typeof p === 'string' && Object.hasOwn(Priority, p)) return Priority[p as PriorityName];
  throw new ConfigError('request.priority', p, "'critical', 'normal', 'sheddable' or 0..2");
}
