import { type EventLoopUtilization, type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';

/** One reading of the process's load, over the window since the previous reading. */
export interface LoadSample {
  /** 99th percentile of the event-loop delay over the window, in milliseconds. */
  eventLoopDelayMs: number;
  /** Share of the window the event loop spent busy, from 0 to 1. */
  eventLoopUtilization: number;
  /** V8 heap in use, in bytes; 0 when the heap is not watched. */
  heapUsedBytes: number;
}

/**
 * Where a {@link LoadMonitor} reads the load. The default reads the process itself;
 * tests inject one that returns whatever readings they need.
 */
export interface LoadSampler {
  /** Begins measuring (e.g. enables the delay histogram). Called once, before the first `sample()`. */
  start?(): void;
  /** Reads the window since the previous call (or `start`) and begins a new one. */
  sample(): LoadSample;
  /** Stops measuring; called on close. */
  stop?(): void;
}

/** What {@link processSampler} reads. */
export interface ProcessSamplerOptions {
  /** Milliseconds between the delay histogram's own probes. Default 10 (Node's default). */
  resolutionMs?: number;
  /** Read `process.memoryUsage().heapUsed` on each sample. Default false (it is not free). */
  heap?: boolean;
}

/**
 * Reads this process: `perf_hooks.monitorEventLoopDelay` (p99 over the window, reset on
 * each sample), `performance.eventLoopUtilization()` (the delta since the previous
 * sample) and, when asked, the V8 heap in use.
 */
export function processSampler(options: ProcessSamplerOptions = {}): LoadSampler {
  const resolution = Math.max(1, Math.round(options.resolutionMs ?? 10));
  const heap = options.heap === true;
  let histogram: IntervalHistogram | undefined;
  let lastElu: EventLoopUtilization | undefined;
  return {
    start() {
      if (histogram !== undefined) return;
      histogram = monitorEventLoopDelay({ resolution });
      histogram.enable();
      lastElu = performance.eventLoopUtilization();
    },
    sample() {
      const h = histogram;
      // No probe fired yet (or a loop blocked for the whole window): the monitor's own
      // lateness still shows the delay, and utilisation shows the busy loop.
      const delayMs = h !== undefined && h.count > 0 ? h.percentile(99) / 1e6 : 0;
      h?.reset();
      const now = performance.eventLoopUtilization();
      const elu = lastElu === undefined ? 0 : performance.eventLoopUtilization(now, lastElu).utilization;
      lastElu = now;
      return {
        eventLoopDelayMs: delayMs,
        eventLoopUtilization: elu,
        heapUsedBytes: heap ? process.memoryUsage().heapUsed : 0,
      };
    },
    stop() {
      histogram?.disable();
      histogram = undefined;
    },
  };
}
