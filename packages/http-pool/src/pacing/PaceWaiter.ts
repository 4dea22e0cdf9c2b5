import type { Waiter } from '../WaitQueue.js';

/**
 * A call waiting for a pacing token: the queue node and the promise its caller awaits.
 * Created only when a call must wait; a call that finds a token allocates nothing.
 */
export class PaceWaiter implements Waiter {
  qPrev: Waiter | null = null;
  qNext: Waiter | null = null;
  queued = false;
  /** Settles when the waiter is granted a token (or refused, cancelled, closed). */
  readonly promise: Promise<void>;
  /** When it was granted its token (the call leaves then). */
  grantedAt = 0;
  resolve!: () => void;
  reject!: (reason: unknown) => void;

  constructor(
    /** Queue index: 0 critical, 1 normal, 2 sheddable. */
    readonly priority: number,
    readonly enqueuedAt: number,
    /** Epoch ms: granted later than this, the wait was in vain, so the pacer refuses it before. */
    readonly deadline: number,
  ) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}
