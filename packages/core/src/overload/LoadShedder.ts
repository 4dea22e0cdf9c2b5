import { overloadedRefusal, type PolicyRefusal } from '../guard/problem.js';
import { Emitter, type Event } from '../util/events.js';
import type { OverloadSettings } from './options.js';
import type { LoadSample } from './sampler.js';

/** How much is shed: 0 nothing, 1 `sheddable` routes, 2 `sheddable` and `normal` ones. `critical` never. */
export type ShedLevel = 0 | 1 | 2;

/** A change of {@link LoadShedder.level}, with the sample that caused it. */
export interface ShedLevelChange {
  from: ShedLevel;
  to: ShedLevel;
  sample: LoadSample;
  /** The sample's load as a fraction of its nearest threshold (1 = at the threshold). */
  pressure: number;
}

/** A sample this far past a threshold escalates without waiting for consecutive samples. */
const SEVERE = 2;
/** `shedFrom` by level: priorities at or above it are refused (critical is 0, so never). */
const SHED_FROM = [3, 2, 1] as const;
/**
 * Shares of the shed priority admitted again, step by step, before a level is left.
 * Admitting a shed priority all at once lets every waiting client in within one turn of
 * the loop, and the stall that follows is what shedding was protecting against.
 */
const RAMP = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2] as const;

/**
 * Decides what to shed from a stream of load samples. Escalates one level after
 * `escalateAfter` consecutive samples past a threshold (at once past twice one). After
 * `recoverAfter` consecutive samples below `recoverBelow` of every threshold it admits the
 * shed priority again gradually — 1/32, 1/16, 1/8, 1/4, 1/2 of its requests, one step per calm
 * sample, one step back per sample past a threshold — and leaves the level only after
 * the last step. Between `recoverBelow` and the threshold everything holds, so it does not flap.
 *
 * Guards compare a request's priority with {@link shedFrom} (one comparison when nothing
 * is shed) and ask {@link refuses} only for priorities at or past it.
 */
export class LoadShedder {
  private current: ShedLevel = 0;
  /** Requests whose priority is at or above this may be refused (3: none, 2: sheddable, 1: normal too). */
  shedFrom: number = SHED_FROM[0];
  /** The refusal shed requests get, built once per level. */
  refusal: PolicyRefusal;
  /** The latest sample, and its pressure; undefined before the first. */
  lastSample: LoadSample | undefined;
  lastPressure = 0;
  /** Seconds a shed client is told to wait (`Retry-After`). */
  readonly retryAfterSec: number;
  private over = 0;
  private under = 0;
  /** The step of {@link RAMP} while re-admitting the priority at `shedFrom`; -1 when not. */
  private step = -1;
  /** Admissions owed to the re-admitted priority: each request adds the step's share. */
  private credit = 0;
  /** The refusals of levels 1 and 2. */
  private readonly refusals: readonly [PolicyRefusal, PolicyRefusal];
  private readonly changes = new Emitter<ShedLevelChange>();
  /** Fires when the level changes. */
  readonly onLevelChange: Event<ShedLevelChange> = this.changes.event;

  constructor(readonly settings: OverloadSettings) {
    // A shed client is told to come back once recovery could have begun.
    const sec = Math.max(1, Math.ceil((settings.sampleIntervalMs * settings.recoverAfter) / 1000));
    this.retryAfterSec = sec;
    this.refusals = [overloadedRefusal(1, sec), overloadedRefusal(2, sec)];
    this.refusal = this.refusals[0];
  }

  get level(): ShedLevel {
    return this.current;
  }

  /** The share of the priority at `shedFrom` admitted while recovering: 0 fully shed, 1 when nothing is shed. */
  get admitted(): number {
    return this.current === 0 ? 1 : this.step === -1 ? 0 : RAMP[this.step]!;
  }

  /**
   * Whether to refuse a request of `priority`; call only when `priority >= shedFrom`.
   * While recovering, the priority at the line is admitted in the ramp's share,
   * spread evenly over its requests (a credit, not a coin toss, so short runs get their share).
   */
  refuses(priority: number): boolean {
    if (this.step === -1 || priority !== this.shedFrom) return true;
    this.credit += RAMP[this.step]!;
    if (this.credit < 1) return true;
    this.credit -= 1;
    return false;
  }

  /** The load of `sample` as a fraction of its nearest threshold: the largest ratio of reading to threshold. */
  pressure(sample: LoadSample): number {
    const s = this.settings;
    let p = 0;
    if (s.maxEventLoopDelayMs !== undefined) p = Math.max(p, sample.eventLoopDelayMs / s.maxEventLoopDelayMs);
    if (s.maxEventLoopUtilization !== undefined)
      p = Math.max(p, sample.eventLoopUtilization / s.maxEventLoopUtilization);
    if (s.maxHeapUsedBytes !== undefined) p = Math.max(p, sample.heapUsedBytes / s.maxHeapUsedBytes);
    return Number.isFinite(p) ? p : 0;
  }

  /** Takes one sample into account; may change the level or the recovery step. */
  observe(sample: LoadSample): void {
    const p = this.pressure(sample);
    this.lastSample = sample;
    this.lastPressure = p;
    const s = this.settings;
    if (p >= 1) {
      this.under = 0;
      if (this.step !== -1) {
        // Recovering admitted too much: one step back (past the first, the priority is shed again).
        this.over = 0;
        this.setStep(p >= SEVERE ? -1 : this.step - 1);
        return;
      }
      this.over++;
      if (this.over >= s.escalateAfter || p >= SEVERE) {
        this.over = 0;
        if (this.current < 2) this.setLevel((this.current + 1) as ShedLevel, sample, p);
      }
    } else if (p < s.recoverBelow) {
      this.over = 0;
      if (this.step !== -1) {
        if (this.step + 1 < RAMP.length) this.setStep(this.step + 1);
        else this.setLevel((this.current - 1) as ShedLevel, sample, p);
        return;
      }
      this.under++;
      if (this.under >= s.recoverAfter && this.current > 0) {
        this.under = 0;
        this.setStep(0);
      }
    } else {
      // Between recovery and the threshold: neither direction gathers evidence.
      this.over = 0;
      this.under = 0;
    }
  }

  private setStep(step: number): void {
    this.step = step;
    this.credit = 0;
  }

  private setLevel(to: ShedLevel, sample: LoadSample, pressure: number): void {
    const from = this.current;
    this.current = to;
    this.shedFrom = SHED_FROM[to];
    this.step = -1;
    this.credit = 0;
    this.under = 0;
    if (to > 0) this.refusal = this.refusals[to - 1]!;
    if (this.changes.size > 0) this.changes.fire({ from, to, sample, pressure });
  }
}
