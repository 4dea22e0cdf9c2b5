import type { StreamEnd } from '../engine/StreamStats.js';
import { TimeoutError } from '../errors.js';
import type { DeadlineNode } from '../timeout/DeadlineList.js';
import { ClientClosedError, type GuardCall } from './GuardCall.js';

/** What an adapter does when core cuts a stream off. */
export interface StreamSink {
  /**
   * The stream stayed silent past the route's `timeout.idle`: end the answer now, cleanly
   * (a chunked body terminated, so the client keeps every complete event) and close the
   * connection after it; keep the handler's later writes from reaching the client.
   */
  cutStream(): void;
}

const BEFORE = 0;
const STREAMING = 1;
const ENDED = 2;

/**
 * One answer on a route whose timeout has `firstByte` or `idle` (an engine with `stream`),
 * framework-neutral: the adapter reports the headers going out, each write's size and how
 * the response ended; this decides the rest. Headers out in time start the stream (the
 * deadline stops bounding the call); the idle bound is checked lazily, a write costing a
 * clock read, and a stream silent past it is cut (a timeout for the breaker, the signal
 * aborted, the slot released at once). Whoever ends the stream (the handler, the client,
 * the idle bound, a failure) ends the call exactly once, and the end is counted by reason.
 *
 * It is the idle list's node itself, so a stream allocates this object and nothing more.
 */
export class StreamWatch implements DeadlineNode {
  deadlineAt = 0;
  dlPrev: DeadlineNode | null = null;
  dlNext: DeadlineNode | null = null;
  private state = BEFORE;
  /** Milliseconds from the deadline's start to the headers: what the breaker judges. */
  private headersMs = 0;
  private lastWriteAt = 0;

  constructor(
    readonly call: GuardCall,
    private readonly sink: StreamSink,
  ) {}

  /** True while the answer streams (its headers went out in time and it has not ended). */
  get streaming(): boolean {
    return this.state === STREAMING;
  }

  /** The answer's headers are going out. */
  headers(): void {
    if (this.state !== BEFORE) return;
    const call = this.call;
    // After a timeout or the client's leaving this answer is not one of the route's streams.
    if (!call.isRunning) {
      this.state = ENDED;
      return;
    }
    this.state = STREAMING;
    const e = call.engine;
    // In time: the deadline no longer bounds the call, which now runs until the stream ends.
    e.deadlines?.release(call);
    // The handler may read `deadline` while it streams: none bounds it now.
    call.deadlineAt = Number.POSITIVE_INFINITY;
    const now = e.clock.now();
    this.headersMs = now - call.startedAt;
    this.lastWriteAt = now;
    e.idleDeadlines?.add(this, now + e.idleMs!);
  }

  /** The handler wrote `bytes` bytes of body. */
  wrote(bytes: number): void {
    if (this.state !== STREAMING) return;
    const e = this.call.engine;
    e.streamStats!.bytes += bytes;
    // Checked lazily when the idle deadline comes: a write only moves the mark.
    if (e.idleDeadlines !== undefined) this.lastWriteAt = e.clock.now();
  }

  /** The whole answer reached the client: the call ends with its status. */
  completed(status: number): void {
    if (this.state !== STREAMING) return;
    this.end('completed');
    this.finishCall(status, undefined);
  }

  /** The client left mid-stream: the signal aborts and the slot is released at once. */
  gone(): void {
    if (this.state !== STREAMING) return;
    this.end('client_gone');
    const call = this.call;
    call.abandon(new ClientClosedError());
    // Nobody reads the rest: the stream's end is the call's, whatever the handler does next.
    call.finish(0, undefined);
  }

  /** The stream failed (its source errored, the response was destroyed): a failure for the breaker. */
  failed(error: unknown): void {
    if (this.state !== STREAMING) return;
    this.end('error');
    const call = this.call;
    const reason = error ?? new Error('The stream failed');
    this.finishCall(500, reason);
    call.abort(reason);
  }

  /** The idle deadline came (the DeadlineNode protocol): cut, unless a write came since. */
  onDeadline(): void {
    if (this.state !== STREAMING) return;
    const e = this.call.engine;
    const due = this.lastWriteAt + e.idleMs!;
    if (due > e.clock.now()) {
      e.idleDeadlines!.add(this, due);
      return;
    }
    this.end('idle');
    // Answer first: abort listeners run synchronously and must find the stream ended.
    this.sink.cutStream();
    // A timeout for the breaker (its code TIMEOUT), and the slot released now.
    const reason = new TimeoutError(e.idleMs!);
    this.finishCall(undefined, reason);
    this.call.abort(reason);
  }

  /**
   * Ends the call. The breaker judges a stream by its time to the headers (a long stream is
   * no slow call), and `finish()` measures from `startedAt`: it is moved so that the
   * measure is that time, which costs the calls that do not stream nothing.
   */
  private finishCall(status: number | undefined, error: unknown): void {
    const call = this.call;
    call.startedAt = call.engine.clock.now() - this.headersMs;
    call.finish(status, error);
  }

  private end(reason: StreamEnd): void {
    this.state = ENDED;
    const e = this.call.engine;
    e.idleDeadlines?.release(this);
    e.streamStats![reason]++;
  }
}
