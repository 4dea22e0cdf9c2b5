/** A signal that never aborts: the default for `execute(fn, signal)`. */
export const neverAbortedSignal: AbortSignal = new AbortController().signal;
