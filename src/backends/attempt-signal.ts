/**
 * The abort signal of one HTTP request attempt to a registry: aborted by the attempt's time limit
 * or by the caller's signal, whichever comes first, and able to tell which it was.
 */

/** Thrown when a request was aborted by its caller's signal rather than failing. */
export class RequestAbortedError extends Error {
  constructor() {
    super('the request was aborted');
    this.name = 'RequestAbortedError';
  }
}

export class AttemptSignal {
  readonly #controller = new AbortController();
  readonly #outer: AbortSignal | undefined;
  readonly #timer: NodeJS.Timeout;
  readonly #onAbort = (): void => this.#controller.abort();
  #timedOut = false;

  /** Starts the time limit (unref'd: it never keeps the process alive) and follows `outer`. */
  constructor(timeoutMs: number, outer: AbortSignal | undefined) {
    this.#outer = outer;
    this.#timer = setTimeout(() => {
      this.#timedOut = true;
      this.#controller.abort();
    }, timeoutMs);
    this.#timer.unref();
    if (outer?.aborted === true) this.#controller.abort();
    else outer?.addEventListener('abort', this.#onAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Whether the time limit aborted the attempt. */
  get timedOut(): boolean {
    return this.#timedOut;
  }

  /** Whether the caller aborted the attempt (before its time limit did). */
  get abortedByCaller(): boolean {
    return this.#outer?.aborted === true && !this.#timedOut;
  }

  /** Ends the time limit only: a streamed answer outlives it but still ends with the caller's signal. */
  stopTimer(): void {
    clearTimeout(this.#timer);
  }

  /** Ends the time limit and stops following the caller's signal. */
  release(): void {
    clearTimeout(this.#timer);
    this.#outer?.removeEventListener('abort', this.#onAbort);
  }
}
