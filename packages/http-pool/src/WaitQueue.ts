/** A node of the {@link WaitQueue}: the waiter itself, so queueing allocates nothing more. */
export interface Waiter {
  qPrev: Waiter | null;
  qNext: Waiter | null;
  queued: boolean;
}

/** A FIFO of waiters for a connection, with O(1) removal of any waiter (abort, timeout). */
export class WaitQueue<W extends Waiter> {
  private head: W | null = null;
  private tail: W | null = null;
  size = 0;

  push(w: W): void {
    w.qPrev = this.tail;
    w.qNext = null;
    if (this.tail) this.tail.qNext = w;
    else this.head = w;
    this.tail = w;
    w.queued = true;
    this.size++;
  }

  /** The oldest waiter, left in place. */
  first(): W | undefined {
    return this.head ?? undefined;
  }

  shift(): W | undefined {
    const w = this.head;
    if (w === null) return undefined;
    this.remove(w);
    return w;
  }

  /** Removes `w` if it is queued; returns whether it was. */
  remove(w: W): boolean {
    if (!w.queued) return false;
    if (w.qPrev) w.qPrev.qNext = w.qNext;
    else this.head = w.qNext as W | null;
    if (w.qNext) w.qNext.qPrev = w.qPrev;
    else this.tail = w.qPrev as W | null;
    w.qPrev = w.qNext = null;
    w.queued = false;
    this.size--;
    return true;
  }
}
