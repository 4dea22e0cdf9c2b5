import type { Clock, TimerHandle } from '../util/clock.js';

/** A node in a {@link DeadlineList}: the object itself is linked, so linking allocates nothing. */
export interface DeadlineNode {
  deadlineAt: number;
  dlPrev: DeadlineNode | null;
  dlNext: DeadlineNode | null;
  /** Called once when the deadline passes while the node is still linked. */
  onDeadline(): void;
}

/**
 * Deadlines kept in order in a doubly-linked list with a single timer for the head. Adding
 * and removing allocate nothing, where a `setTimeout` per request would allocate a timer
 * object and touch Node's timer heap twice on the hot path. A new deadline is inserted by
 * walking back from the tail: when every deadline has one duration (a fixed timeout) they
 * arrive in order and that is one comparison; when durations vary slowly (an adaptive
 * timeout's move once per refresh) it stays O(1) in practice. A deadline that lands before
 * the head re-arms the timer for it, where a FIFO list would fire it late.
 */
export class DeadlineList {
  private head: DeadlineNode | null = null;
  private tail: DeadlineNode | null = null;
  private timer: TimerHandle | undefined;
  /** When the armed timer fires (slack included). */
  private timerAt = Number.POSITIVE_INFINITY;
  private count = 0;

  constructor(
    private readonly clock: Clock,
    /** Deadlines are checked this much late at most, so near-simultaneous deadlines share a wake-up. */
    private readonly slackMs = 1,
  ) {}

  get size(): number {
    return this.count;
  }

  add(node: DeadlineNode, deadlineAt: number): void {
    node.deadlineAt = deadlineAt;
    let after = this.tail;
    while (after !== null && after.deadlineAt > deadlineAt) after = after.dlPrev;
    node.dlPrev = after;
    if (after === null) {
      node.dlNext = this.head;
      if (this.head) this.head.dlPrev = node;
      this.head = node;
    } else {
      node.dlNext = after.dlNext;
      if (after.dlNext) after.dlNext.dlPrev = node;
      after.dlNext = node;
    }
    if (node.dlNext === null) this.tail = node;
    this.count++;
    if (this.timer === undefined) this.arm(deadlineAt);
    else if (this.head === node && deadlineAt + this.slackMs < this.timerAt) {
      // The armed timer would fire after this deadline: bring it forward.
      this.clock.clearTimeout(this.timer);
      this.arm(deadlineAt);
    }
  }

  /** Unlinks the node, and disarms the timer when the list is left empty; a node not in the list is ignored. */
  remove(node: DeadlineNode): void {
    if (!this.unlink(node)) return;
    if (this.count === 0 && this.timer !== undefined) this.disarm();
  }

  /**
   * Unlinks the node of a call that ended in time, leaving the (unref'd) timer armed even
   * when the list is left empty: it fires once, finds nothing due and stops. Calls that
   * follow one another then share one timer, where disarming would cost a
   * clearTimeout/setTimeout pair per call (Node drops and rebuilds its timer list for the
   * duration each time). A node not in the list is ignored.
   */
  release(node: DeadlineNode): void {
    this.unlink(node);
  }

  /** Unlinks everything without firing. */
  clear(): void {
    let n = this.head;
    while (n) {
      const next = n.dlNext;
      n.dlPrev = n.dlNext = null;
      n = next;
    }
    this.head = this.tail = null;
    this.count = 0;
    if (this.timer !== undefined) this.disarm();
  }

  private unlink(node: DeadlineNode): boolean {
    if (node.dlPrev === null && this.head !== node) return false;
    if (node.dlPrev) node.dlPrev.dlNext = node.dlNext;
    else this.head = node.dlNext;
    if (node.dlNext) node.dlNext.dlPrev = node.dlPrev;
    else this.tail = node.dlPrev;
    node.dlPrev = node.dlNext = null;
    this.count--;
    return true;
  }

  private disarm(): void {
    this.clock.clearTimeout(this.timer!);
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
  }

  private arm(at: number): void {
    const now = this.clock.now();
    const delay = Math.max(0, at - now) + this.slackMs;
    this.timerAt = now + delay;
    this.timer = this.clock.setTimeout(this.tick, delay);
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.clock.now();
    let n = this.head;
    while (n !== null && n.deadlineAt <= now) {
      this.remove(n);
      n.onDeadline();
      n = this.head;
    }
    if (this.head !== null && this.timer === undefined) this.arm(this.head.deadlineAt);
  };
}
