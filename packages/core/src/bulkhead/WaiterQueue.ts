/** A queued call. The object is its own queue node, so queueing allocates nothing more. */
export interface BulkheadWaiter {
  bhPrev: BulkheadWaiter | null;
  bhNext: BulkheadWaiter | null;
  /**
   * When it joined the queue. An adaptive bulkhead reuses it once the slot is granted:
   * from then on it is when the call got its slot, where the call's RTT starts.
   */
  bhQueuedAt: number;
  /** 0 (critical) is served first, then 1 (normal), then 2 (sheddable); anything else counts as 1. */
  priority: number;
  /** The slot is now this waiter's: it must `release()` it once when done. */
  onGranted(): void;
  /** The wait expired; the waiter has left the queue and holds no slot. */
  onQueueTimeout(): void;
}

/**
 * The bulkhead's queue: one intrusive linked list per priority level, served lowest level
 * first and FIFO within a level. Every operation is O(1) (three levels at most to look at),
 * so the usual single-priority queue costs what one list did.
 */
export class WaiterQueue {
  size = 0;
  private readonly heads: Array<BulkheadWaiter | null> = [null, null, null];
  private readonly tails: Array<BulkheadWaiter | null> = [null, null, null];

  push(w: BulkheadWaiter): void {
    const p = w.priority;
    const level = p === 0 ? 0 : p === 2 ? 2 : 1;
    const tail = this.tails[level]!;
    w.bhNext = null;
    w.bhPrev = tail;
    if (tail !== null) tail.bhNext = w;
    else this.heads[level] = w;
    this.tails[level] = w;
    this.size++;
  }

  /** The waiter to serve next, or null. */
  peek(): BulkheadWaiter | null {
    const h = this.heads;
    return h[0] ?? h[1] ?? h[2] ?? null;
  }

  /**
   * The waiter that has waited longest, or null. Each level is in queue order, so it is one
   * of the heads: the queue timeout expires waiters in this order, whatever their priority.
   */
  oldest(): BulkheadWaiter | null {
    let out: BulkheadWaiter | null = null;
    for (let i = 0; i < 3; i++) {
      const w = this.heads[i]!;
      if (w !== null && (out === null || w.bhQueuedAt < out.bhQueuedAt)) out = w;
    }
    return out;
  }

  /** Whether `w` is in this queue. */
  has(w: BulkheadWaiter): boolean {
    if (w.bhPrev !== null) return true;
    const h = this.heads;
    return h[0] === w || h[1] === w || h[2] === w;
  }

  /**
   * Unlinks `w`, which must be queued. The level is found from the heads and tails rather
   * than from `w.priority`, so a priority changed while queued cannot corrupt the lists.
   */
  remove(w: BulkheadWaiter): void {
    const prev = w.bhPrev;
    const next = w.bhNext;
    if (prev !== null) prev.bhNext = next;
    else this.heads[this.heads.indexOf(w)] = next;
    if (next !== null) next.bhPrev = prev;
    else this.tails[this.tails.indexOf(w)] = prev;
    w.bhPrev = w.bhNext = null;
    this.size--;
  }
}
