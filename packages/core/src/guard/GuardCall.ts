import type { CircuitBreaker } from '../breaker/CircuitBreaker.js';
import type { BulkheadWaiter } from '../bulkhead/Bulkhead.js';
import type { DeadlineNode } from '../timeout/DeadlineList.js';
import { abortLazy, type LazyAbort, lazySignal } from '../util/signal.js';
import { Priority } from './priority.js';
import type { Refusal } from './problem.js';
import type { RouteGuard } from './RouteGuard.js';

/** What a handler sees of its request's guard: `req.breakwater` in Express, `ctx.state.breakwater` in Koa. */
export interface BreakwaterContext {
  /** Aborts when the route's timeout fires or the client goes away. */
  readonly signal: AbortSignal;
  /** Epoch milliseconds by which the request must be answered (`Infinity` without a timeout). */
  readonly deadline: number;
  /** Milliseconds left before the deadline (never negative). */
  remainingMs(): number;
  /** The route's name, as in metrics. */
  readonly route: string;
  /** An inbound request header by lower-case name, e.g. to forward `traceparent` upstream. */
  header(name: string): string | undefined;
  /**
   * The route's circuit breaker, if it has one. An outbound pool given this context skips a
   * breaker the route already holds, so a shared breaker counts each call once.
   */
  readonly breaker?: CircuitBreaker | undefined;
}

/** Where a request is in the guard. `Late`: answered by the timeout, the handler still runs and holds its slot. */
export const Phase = { Limiting: 0, Queued: 1, Running: 2, Late: 3, Done: 4 } as const;
export type Phase = (typeof Phase)[keyof typeof Phase];

/** Reason a request's signal aborts when the client goes away. */
export class ClientClosedError extends Error {
  readonly code = 'CLIENT_CLOSED';
  constructor() {
    super('The client closed the connection');
    this.name = 'ClientClosedError';
  }
}

/**
 * One request passing through a {@link RouteGuard}. The same object is the handler's
 * context, the timeout list node and the bulkhead queue node, so guarding a request
 * allocates this one object (and an AbortController only if someone reads `signal`).
 *
 * Adapters subclass it and translate their framework's request and response.
 */
export abstract class GuardCall implements BreakwaterContext, DeadlineNode, BulkheadWaiter, LazyAbort {
  deadline = Number.POSITIVE_INFINITY;
  phase: Phase = Phase.Limiting as Phase;
  /** Breaker ticket; -1 when there is none. */
  ticket = -1;
  hasSlot = false;
  startedAt = 0;
  /** The request's priority (see {@link Priority}); the bulkhead queue serves lower values first. */
  priority: Priority = Priority.normal as Priority;
  // DeadlineNode
  deadlineAt = 0;
  dlPrev: DeadlineNode | null = null;
  dlNext: DeadlineNode | null = null;
  // BulkheadWaiter
  bhPrev: BulkheadWaiter | null = null;
  bhNext: BulkheadWaiter | null = null;
  bhQueuedAt = 0;
  /** @internal */
  ac: AbortController | undefined;
  /** @internal */
  abortReason: unknown;

  constructor(readonly guard: RouteGuard) {}

  get route(): string {
    return this.guard.name;
  }

  get breaker(): CircuitBreaker | undefined {
    return this.guard.breaker;
  }

  get signal(): AbortSignal {
    return lazySignal(this);
  }

  remainingMs(): number {
    return Math.max(0, this.deadline - this.guard.clock.now());
  }

  /** Aborts the request's signal (once). */
  abort(reason: unknown): void {
    abortLazy(this, reason);
  }

  get aborted(): boolean {
    return this.abortReason !== undefined;
  }

  // --- what adapters implement -------------------------------------------------------

  /** The framework's idea of the client IP (trust-proxy settings applied). */
  abstract clientIp(): string | undefined;
  /** A request header by lower-case name (the first value when repeated). */
  abstract header(name: string): string | undefined;
  /** The native request handed to key and cost functions. */
  abstract nativeRequest(): unknown;
  /** Sets a response header on the eventual response. */
  abstract setHeader(name: string, value: string): void;
  /** Sends a refusal (or hands it to `onReject`). The handler never runs. */
  abstract refuse(refusal: Refusal): void;
  /** Runs the handler. The adapter calls `guard.finish(call, …)` when it ends. */
  abstract proceed(): void;
  /**
   * The deadline passed while the handler runs: answer with the refusal now, and keep
   * anything the handler writes later from reaching the client or throwing.
   */
  abstract timedOut(refusal: Refusal): void;

  // --- callbacks from the policies ---------------------------------------------------

  onDeadline(): void {
    this.guard.deadlinePassed(this);
  }
  onGranted(): void {
    this.guard.slotGranted(this);
  }
  onQueueTimeout(): void {
    this.guard.queueExpired(this);
  }
}
