/** Something that can be undone, such as an event subscription. */
export interface Disposable {
  dispose(): void;
}

/** A listener registration: call it with a listener, get back a {@link Disposable}. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/**
 * A minimal typed event. `fire` is a no-op costing one length check when nobody
 * listens, so policies can announce every decision without slowing the hot path.
 */
export class Emitter<T> {
  private listeners: Array<(value: T) => void> = [];

  /** Subscribe; returns a Disposable that unsubscribes. */
  readonly event: Event<T> = (listener) => {
    this.listeners = [...this.listeners, listener];
    return {
      dispose: () => {
        this.listeners = this.listeners.filter((l) => l !== listener);
      },
    };
  };

  get size(): number {
    return this.listeners.length;
  }

  fire(value: T): void {
    const ls = this.listeners;
    // Copy-on-write above makes iterating the captured array safe while listeners change.
    for (let i = 0; i < ls.length; i++) ls[i]!(value);
  }
}
