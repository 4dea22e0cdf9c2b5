import type { CallInterceptor, InterceptedCall } from '../engine/interceptor.js';
import type { Refusal } from '../guard/problem.js';
import type { Clock, TimerHandle } from '../util/clock.js';
import { Emitter, type Event } from '../util/events.js';
import { chaosFaultAnswer } from './faultAnswer.js';
import { type ChaosOptions, type ChaosSettings, checkChaosOptions } from './options.js';

/** A request chaos can hold back or answer itself: what the route's call offers it. */
export interface ChaosCall extends InterceptedCall {
  /** Ends the call as if its handler had answered with `status`. */
  finish(status: number, error: unknown): void;
  /** Sends an answer instead of the handler's. */
  refuse(answer: Refusal): void;
}

/** What chaos injected into a call. */
export type ChaosKind = 'latency' | 'fault';

/** A chaos policy's settings and counts, as `bw.chaos.list()` shows them. */
export interface ChaosState {
  route: string;
  enabled: boolean;
  latency: { rate: number; ms: number };
  fault: { rate: number; status: number };
  /** Calls injected so far, by kind. */
  injected: { latency: number; fault: number };
}

/**
 * One route's chaos: injects latency and faults at the handler's position, when enabled.
 * The guard hands it each call about to run its handler ({@link intercept}); disabled, it
 * is not asked at all.
 *
 * - Latency delays the handler by `ms` on the guard's clock. The route's timeout keeps
 *   running meanwhile: a deadline that passes answers the call as usual and the handler
 *   never runs; a client that leaves lets the handler run at once (it sees the aborted
 *   signal), so the adapter ends the call as it would any other.
 * - A fault answers with the configured status instead of running the handler; the
 *   breaker records it like a real answer with that status, and the bulkhead slot is
 *   released before the answer goes out.
 */
export class Chaos implements CallInterceptor<ChaosCall> {
  /** Read by the guard on each call: a plain field, not a getter. */
  enabled: boolean;
  readonly injected = { latency: 0, fault: 0 };
  private settings: ChaosSettings;
  private answer: Refusal;
  private readonly injectEmitter = new Emitter<ChaosKind>();
  /** Fires on every injection. */
  readonly onInject: Event<ChaosKind> = this.injectEmitter.event;

  constructor(
    options: ChaosOptions,
    readonly route: string,
    path = 'chaos',
  ) {
    this.settings = checkChaosOptions(options, path);
    this.enabled = this.settings.enabled;
    this.answer = this.makeAnswer();
  }

  /**
   * Changes settings at run time; what `overrides` does not name is kept. Validated like
   * the route's options (a ConfigError names the bad one).
   */
  configure(overrides: ChaosOptions, path = 'chaos'): void {
    this.settings = checkChaosOptions(overrides, path, this.settings);
    this.enabled = this.settings.enabled;
    this.answer = this.makeAnswer();
  }

  get state(): ChaosState {
    const s = this.settings;
    return {
      route: this.route,
      enabled: this.enabled,
      latency: { rate: s.latencyRate, ms: s.latencyMs },
      fault: { rate: s.faultRate, status: s.faultStatus },
      injected: { ...this.injected },
    };
  }

  /**
   * Called by the guard in place of running a call's handler (the call is `Running`).
   * True when chaos took the call over: it will run the handler later or answer itself.
   */
  intercept(call: ChaosCall, clock: Clock): boolean {
    const s = this.settings;
    const when = s.when;
    if (when !== undefined) {
      try {
        if (!when(call.nativeRequest())) return false;
      } catch {
        // A throwing predicate is the application's bug: no chaos rather than a crash.
        return false;
      }
    }
    const delay = s.latencyRate > 0 && s.random() < s.latencyRate;
    const fault = s.faultRate > 0 && s.random() < s.faultRate;
    if (delay) {
      this.count('latency');
      new DelayedCall(this, clock, call, fault).start(s.latencyMs);
      return true;
    }
    if (fault) {
      this.fail(call);
      return true;
    }
    return false;
  }

  /** Answers the (running) call with the fault instead of its handler. */
  fail(call: ChaosCall): void {
    this.count('fault');
    // Finish first: the breaker records the fault's status and the slot and deadline are
    // released, so nothing is left to release when the answer's 'close' arrives.
    call.finish(this.settings.faultStatus, undefined);
    call.refuse(this.answer);
  }

  private count(kind: ChaosKind): void {
    this.injected[kind]++;
    if (this.injectEmitter.size > 0) this.injectEmitter.fire(kind);
  }

  private makeAnswer(): Refusal {
    return chaosFaultAnswer(this.route, this.settings.faultStatus, this.settings.faultBody);
  }
}

/** A call whose handler chaos holds back: one per delayed call (chaos is not the hot path). */
class DelayedCall {
  private timer: TimerHandle | undefined;
  private signal: AbortSignal | undefined;

  constructor(
    private readonly chaos: Chaos,
    private readonly clock: Clock,
    private readonly call: ChaosCall,
    private readonly fault: boolean,
  ) {}

  start(ms: number): void {
    const signal = this.call.signal;
    if (signal.aborted) return this.onAbort();
    this.signal = signal;
    // The call's signal aborts on its deadline and when the client leaves.
    signal.addEventListener('abort', this.onAbort, { once: true });
    this.timer = this.clock.setTimeout(this.onTimer, ms);
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.signal?.removeEventListener('abort', this.onAbort);
    if (!this.call.isRunning) return;
    if (this.fault) this.chaos.fail(this.call);
    else this.call.resume();
  };

  private readonly onAbort = (): void => {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    // Timed out: resume() just ends the call, freeing its slot (the handler never runs).
    // The client left: resume() runs the handler with its aborted signal, so the adapter
    // ends the call the way it ends any call whose client left. In a microtask: the adapter
    // is still inside its 'close' handling, and waits on the handler's end only after it.
    queueMicrotask(this.resumeLater);
  };

  private readonly resumeLater = (): void => {
    this.call.resume();
  };
}
