/** What a breaker's sliding window knows: calls, failures and slow calls within it. */
export interface BreakerWindow {
  record(now: number, failure: boolean, slow: boolean): void;
  /** Totals within the window as of `now`. */
  totals(now: number): { calls: number; failures: number; slow: number };
  reset(): void;
}

const FAILURE = 1;
const SLOW = 2;

/** The last `size` calls, in a ring of flags. */
export class CountWindow implements BreakerWindow {
  private readonly ring: Uint8Array;
  private next = 0;
  private filled = 0;
  private failures = 0;
  private slow = 0;
  private readonly out = { calls: 0, failures: 0, slow: 0 };

  constructor(readonly size: number) {
    this.ring = new Uint8Array(size);
  }

  record(_now: number, failure: boolean, slow: boolean): void {
    const old = this.ring[this.next]!;
    if (this.filled === this.size) {
      if (old & FAILURE) this.failures--;
      if (old & SLOW) this.slow--;
    } else this.filled++;
    const flags = (failure ? FAILURE : 0) | (slow ? SLOW : 0);
    this.ring[this.next] = flags;
    if (failure) this.failures++;
    if (slow) this.slow++;
    this.next = this.next + 1 === this.size ? 0 : this.next + 1;
  }

  totals(): { calls: number; failures: number; slow: number } {
    this.out.calls = this.filled;
    this.out.failures = this.failures;
    this.out.slow = this.slow;
    return this.out;
  }

  reset(): void {
    this.ring.fill(0);
    this.next = this.filled = this.failures = this.slow = 0;
  }
}

const BUCKETS = 10;

/**
 * Calls in the last `windowMs`, in ten buckets of a tenth each (resilience4j keeps one
 * per second; a fixed count keeps memory constant whatever the window).
 */
export class TimeWindow implements BreakerWindow {
  private readonly bucketMs: number;
  private readonly epochs = new Float64Array(BUCKETS).fill(-1);
  private readonly calls = new Uint32Array(BUCKETS);
  private readonly failures = new Uint32Array(BUCKETS);
  private readonly slows = new Uint32Array(BUCKETS);
  private readonly out = { calls: 0, failures: 0, slow: 0 };

  constructor(readonly windowMs: number) {
    this.bucketMs = Math.max(1, windowMs / BUCKETS);
  }

  record(now: number, failure: boolean, slow: boolean): void {
    const epoch = Math.floor(now / this.bucketMs);
    const i = epoch % BUCKETS;
    if (this.epochs[i] !== epoch) {
      this.epochs[i] = epoch;
      this.calls[i] = this.failures[i] = this.slows[i] = 0;
    }
    this.calls[i]!++;
    if (failure) this.failures[i]!++;
    if (slow) this.slows[i]!++;
  }

  totals(now: number): { calls: number; failures: number; slow: number } {
    const epoch = Math.floor(now / this.bucketMs);
    let c = 0;
    let f = 0;
    let s = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (epoch - this.epochs[i]! < BUCKETS) {
        c += this.calls[i]!;
        f += this.failures[i]!;
        s += this.slows[i]!;
      }
    }
    this.out.calls = c;
    this.out.failures = f;
    this.out.slow = s;
    return this.out;
  }

  reset(): void {
    this.epochs.fill(-1);
    this.calls.fill(0);
    this.failures.fill(0);
    this.slows.fill(0);
  }
}
