import { BreakwaterError, isBreakwaterError } from '../errors.js';

/** The error of a fault injected by a route's {@link Chaos} policy (the refusal's `error`). */
export class ChaosFaultError extends BreakwaterError {
  declare readonly code: 'CHAOS_FAULT';
  constructor(
    readonly route: string,
    readonly status: number,
  ) {
    super('CHAOS_FAULT', `Chaos injected a ${status} fault on '${route}'`);
  }
}

/** True for a {@link ChaosFaultError} from any copy of Breakwater. */
export function isChaosFaultError(e: unknown): e is ChaosFaultError {
  return isBreakwaterError(e) && e.code === 'CHAOS_FAULT';
}
