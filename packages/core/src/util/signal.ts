/** A signal that never aborts: the default for `execute(fn, signal)`. */
export const neverAbortedSignal: AbortSignal = new AbortController().signal;

/**
 * A call whose AbortSignal is built on first read: an AbortController costs microseconds
 * and most work never looks at its signal. The call keeps the reason it was aborted with,
 * so a signal read afterwards is born aborted.
 */
export interface LazyAbort {
  ac: AbortController | undefined;
  abortReason: unknown;
}

/** The call's signal, built now if nobody has read it before. */
export function lazySignal(call: LazyAbort): AbortSignal {
  if (call.ac === undefined) {
    call.ac = new AbortController();
    if (call.abortReason !== undefined) call.ac.abort(call.abortReason);
  }
  return call.ac.signal;
}

/** Aborts the call (once): its signal if built, and any signal built later. */
export function abortLazy(call: LazyAbort, reason: unknown): void {
  if (call.abortReason !== undefined) return;
  call.abortReason = reason;
  call.ac?.abort(reason);
}
