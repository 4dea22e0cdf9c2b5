import { BreakwaterError, isBreakwaterError } from '../errors.js';

/**
 * The registry already holds a metric with one of Breakwater's names that Breakwater did
 * not create (another library, or another copy of Breakwater with other settings).
 */
export class MetricsConflictError extends BreakwaterError {
  declare readonly code: 'METRICS_CONFLICT';
  constructor(readonly metric: string) {
    super(
      'METRICS_CONFLICT',
      `The metrics registry already holds a metric named '${metric}' that Breakwater did not create: ` +
        `pass breakwater({ registry: new Registry() }) or another { prefix }`,
    );
  }
}

/** True for a {@link MetricsConflictError} from any copy of Breakwater. */
export function isMetricsConflictError(e: unknown): e is MetricsConflictError {
  return isBreakwaterError(e) && e.code === 'METRICS_CONFLICT';
}
