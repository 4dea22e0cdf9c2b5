/** Where {@link promiseFor} stores a promise's settle functions. */
export interface Settles<T> {
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}

let target: Settles<any> | undefined;
function bind(resolve: (value: any) => void, reject: (error: unknown) => void): void {
  target!.resolve = resolve;
  target!.reject = reject;
}

/**
 * A new promise whose `resolve` and `reject` are stored on `holder` (a call object that
 * settles it later). The executor runs synchronously inside `new Promise`, so the holder is
 * handed over in a variable: one shared executor, where a closure per call would allocate a
 * function and its context on every call of a hot path.
 */
export function promiseFor<T>(holder: Settles<T>): Promise<T> {
  target = holder;
  const p = new Promise<T>(bind);
  target = undefined;
  return p;
}
