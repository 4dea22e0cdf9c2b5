import { ConfigError } from '../errors.js';
import { BackgroundCheck } from '../util/BackgroundCheck.js';
import { type Clock, systemClock } from '../util/clock.js';
import type { Duration } from '../util/duration.js';
import { type Disposable, Emitter, type Event } from '../util/events.js';
import { checkKeys, expectObject, optDuration, optInt } from '../util/validate.js';
import type { BreakerCoordinator } from './BreakerCoordinator.js';
import type { CircuitBreaker, StateChange } from './CircuitBreaker.js';

/** Options of a {@link BreakerFleet}. */
export interface BreakerFleetOptions {
  /** Where the instances share their reports, e.g. a `RedisBreakerCoordinator`. Required. */
  coordinator: BreakerCoordinator;
  /** Instances that must report a breaker open before it opens here too. Default 2. */
  quorum?: number;
  /** How often reports are renewed and counts read, for all breakers in one go. Default `'1s'`. */
  pollInterval?: Duration;
  /** How long a report counts unless renewed: an instance that dies stops counting after it. Default 3 × `pollInterval`. */
  reportTtl?: Duration;
  /** Clock for tests. */
  clock?: Clock;
}

/** A breaker the fleet opened, as announced by {@link BreakerFleet.onOpen}. */
export interface FleetOpenEvent {
  breaker: string;
  /** Instances that reported it open. */
  instances: number;
  quorum: number;
}

interface Member {
  readonly breaker: CircuitBreaker;
  readonly sub: Disposable;
  /** This instance reports the breaker open: it tripped by itself and has not closed since. */
  reporting: boolean;
}

const KNOWN = ['coordinator', 'quorum', 'pollInterval', 'reportTtl', 'clock'];

/**
 * Fleet-aware breakers: each breaker that trips by itself reports "open" to a shared
 * {@link BreakerCoordinator} (renewed while it stays open, withdrawn when it closes), and a
 * closed breaker opens, as its own trip would, once `quorum` instances report it open. A
 * breaker opened by the fleet does not report, so one bad node cannot open the breaker for
 * everyone, nor can the fleet keep itself open.
 *
 * Nothing happens per request: one unref'd timer ({@link BackgroundCheck}) reads every
 * breaker's count per `pollInterval`, never overlapping itself, and only while the fleet
 * has breakers. When the coordinator fails (Redis down), each
 * breaker goes on by its local state alone.
 */
export class BreakerFleet {
  readonly coordinator: BreakerCoordinator;
  readonly quorum: number;
  readonly pollIntervalMs: number;
  readonly reportTtlMs: number;
  private readonly members = new Map<CircuitBreaker, Member>();
  private readonly poll: BackgroundCheck;
  private closed = false;
  private ok = true;
  private readonly openEmitter = new Emitter<FleetOpenEvent>();
  private readonly errorEmitter = new Emitter<unknown>();
  /** Fires when the fleet opens a breaker of this instance. */
  readonly onOpen: Event<FleetOpenEvent> = this.openEmitter.event;
  /** Fires on each failed exchange (the breakers go on by their local state). */
  readonly onError: Event<unknown> = this.errorEmitter.event;

  constructor(options: BreakerFleetOptions, path = 'fleet') {
    const o = expectObject(options, path);
    checkKeys(o, KNOWN, path);
    const c = o.coordinator as BreakerCoordinator | undefined;
    if (typeof c !== 'object' || c === null || typeof c.exchange !== 'function')
      throw new ConfigError(`${path}.coordinator`, c, 'a BreakerCoordinator');
    this.coordinator = c;
    this.quorum = optInt(o.quorum, `${path}.quorum`, 2, 1);
    this.pollIntervalMs = optDuration(o.pollInterval, `${path}.pollInterval`, 1000)!;
    if (this.pollIntervalMs < 10)
      throw new ConfigError(`${path}.pollInterval`, o.pollInterval, 'a duration of at least 10ms');
    this.reportTtlMs = optDuration(o.reportTtl, `${path}.reportTtl`, 3 * this.pollIntervalMs)!;
    if (this.reportTtlMs <= this.pollIntervalMs)
      throw new ConfigError(
        `${path}.reportTtl`,
        o.reportTtl,
        `a duration longer than pollInterval (${this.pollIntervalMs}ms)`,
      );
    const clock = (o.clock as Clock | undefined) ?? systemClock;
    this.poll = new BackgroundCheck(this.tick, { intervalMs: this.pollIntervalMs, clock });
  }

  /** False while the last exchange failed (the breakers are on their local state). */
  get available(): boolean {
    return this.ok;
  }

  /** Breakers in the fleet. */
  get size(): number {
    return this.members.size;
  }

  /** Adds a breaker (a registry does this for breakers whose options name this fleet). */
  attach(breaker: CircuitBreaker): Disposable {
    const dispose = { dispose: () => this.detach(breaker) };
    if (this.closed || this.members.has(breaker)) return dispose;
    const m: Member = {
      breaker,
      reporting: false,
      sub: breaker.onStateChange((c) => this.changed(m, c)),
    };
    this.members.set(breaker, m);
    this.poll.start();
    return dispose;
  }

  /** Removes a breaker, withdrawing its report. */
  detach(breaker: CircuitBreaker): void {
    const m = this.members.get(breaker);
    if (m === undefined) return;
    this.members.delete(breaker);
    m.sub.dispose();
    if (m.reporting) this.send(m, false);
    if (this.members.size === 0) void this.poll.stop();
  }

  /** Stops polling and withdraws this instance's reports (best effort). Safe to call twice. */
  close(): void {
    if (this.closed) return;
    for (const b of [...this.members.keys()]) this.detach(b);
    this.closed = true;
    void this.poll.stop();
  }

  private changed(m: Member, c: StateChange): void {
    // Only the breaker's own judgement counts: not the fleet's (it would keep itself open),
    // not an operator's manual open (isolation of this instance, not news of the upstream).
    if (c.to === 'open' && c.reason !== 'fleet' && c.reason !== 'manual') {
      m.reporting = true;
      this.send(m, true);
    } else if (c.to === 'closed' && m.reporting) {
      m.reporting = false;
      this.send(m, false);
    }
  }

  private send(m: Member, open: boolean): void {
    this.exchange(m, open).catch(() => {});
  }

  private async exchange(m: Member, open: boolean | undefined): Promise<void> {
    let n: number;
    try {
      n = await this.coordinator.exchange(m.breaker.name, open, this.reportTtlMs);
    } catch (e) {
      this.ok = false;
      if (this.errorEmitter.size > 0) this.errorEmitter.fire(e);
      return;
    }
    this.ok = true;
    if (n >= this.quorum && this.members.get(m.breaker) === m && m.breaker.state === 'closed') {
      m.breaker.openByFleet();
      if (this.openEmitter.size > 0)
        this.openEmitter.fire({ breaker: m.breaker.name, instances: n, quorum: this.quorum });
    }
  }

  /** One round: the next starts once this one is over, whatever became of it. */
  private readonly tick = (): Promise<unknown> => {
    const all: Promise<void>[] = [];
    for (const m of this.members.values()) {
      // Renew while open by its own trip; a half-open breaker lets its report run out.
      const renew = m.reporting && m.breaker.state === 'open';
      all.push(this.exchange(m, renew ? true : undefined));
    }
    return Promise.allSettled(all);
  };
}
