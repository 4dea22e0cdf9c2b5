/**
 * When the next connect may be tried after failures: `initial` doubling per consecutive
 * failure up to `max`, with jitter (half fixed, half random) so many pools spread out.
 */
export class Backoff {
  private failures = 0;
  /** Epoch milliseconds before which no connect should start. */
  nextAt = 0;

  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
  ) {}

  get consecutiveFailures(): number {
    return this.failures;
  }

  /** Records a failure at `now`; returns the pause until the next attempt. */
  fail(now: number): number {
    this.failures++;
    const cap = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = Math.round(cap / 2 + (Math.random() * cap) / 2);
    this.nextAt = now + delay;
    return delay;
  }

  succeed(): void {
    this.failures = 0;
    this.nextAt = 0;
  }

  /** Milliseconds to wait before an attempt started at `now`. */
  waitMs(now: number): number {
    return Math.max(0, this.nextAt - now);
  }
}
