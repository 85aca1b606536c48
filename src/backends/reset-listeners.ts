/** The `onReset` listeners of a backend: subscribed, told in order, one's failure kept from the others. */
import { InvalidArgumentError } from '../core/errors.js';
import type { RegistryReset, Unsubscribe } from './backend.js';

export class ResetListeners {
  readonly #listeners = new Set<{ readonly listener: (reset: RegistryReset) => void }>();
  readonly #onListenerError: (error: unknown) => void;
  #reported = 0;

  /** @param onListenerError receives what a listener threw; the other listeners still hear the reset. */
  constructor(onListenerError: (error: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Resets reported so far. */
  get reported(): number {
    return this.#reported;
  }

  /** Adds `listener` (the same function twice is two subscriptions); the returned function removes it. */
  subscribe(listener: (reset: RegistryReset) => void): Unsubscribe {
    if (typeof listener !== 'function') throw new InvalidArgumentError('listener', 'a function receiving a RegistryReset', listener);
    const entry = { listener };
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /** Tells every listener subscribed now. */
  report(reset: RegistryReset): void {
    this.#reported++;
    for (const { listener } of [...this.#listeners]) {
      try {
        listener(reset);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }
}
