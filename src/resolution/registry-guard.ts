/**
 * How the resolver calls its registry: through a circuit breaker around a time limit (breaker
 * outside, so a registry that hangs counts as failing), and with a memory of the last hang, so
 * that callers stop waiting for a registry known to stall. Retrying is not done here: the stale
 * and environment tiers answer at once, and one background call asks again.
 */
import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, TaskCancelledError, circuitBreaker, handleAll, type CircuitBreakerPolicy } from 'cockatiel';
import { messageOf } from '../core/errors.js';
import { withinTimeLimit } from './time-limit.js';
import type { BreakerState } from './types.js';

/** Settings of a {@link RegistryGuard}, from the resolver's options. */
export interface RegistryGuardSettings {
  readonly breakerThreshold: number;
  readonly breakerHalfOpenAfterMs: number;
  readonly registryTimeoutMs: number;
}

export class RegistryGuard {
  readonly #breaker: CircuitBreakerPolicy;
  readonly #consecutiveFailures: ConsecutiveBreaker;
  readonly #timeoutMs: number;
  readonly #disposeListeners: () => void;
  #state: BreakerState = 'closed';
  #hanging: string | undefined;

  /** `onChange` hears every change of the breaker's state. */
  constructor(settings: RegistryGuardSettings, onChange: (state: BreakerState) => void) {
    this.#timeoutMs = settings.registryTimeoutMs;
    this.#consecutiveFailures = new ConsecutiveBreaker(settings.breakerThreshold);
    this.#breaker = circuitBreaker(handleAll, { halfOpenAfter: settings.breakerHalfOpenAfterMs, breaker: this.#consecutiveFailures });
    const changed = (state: BreakerState): void => {
      this.#state = state;
      onChange(state);
    };
    const listeners = [
      this.#breaker.onBreak((reason) => {
        // `isolated` is our own doing in answered(), on the way to closed: not a break.
        if (!('isolated' in reason)) changed('open');
      }),
      this.#breaker.onHalfOpen(() => changed('half-open')),
      this.#breaker.onReset(() => changed('closed')),
    ];
    this.#disposeListeners = () => listeners.forEach((listener) => listener.dispose());
  }

  /** The breaker's state, as last reported. */
  get state(): BreakerState {
    return this.#state;
  }

  /**
   * Why callers should not wait for the registry, set when a call timed out; `undefined` while
   * it answers. Cleared when a call or watch delivery succeeds, or a call fails fast (an
   * answering registry stalls nobody).
   */
  get hanging(): string | undefined {
    return this.#hanging;
  }

  /** Runs one registry call within the time limit, through the breaker. */
  async call<T>(work: () => Promise<T>): Promise<T> {
    let result: T;
    try {
      result = await this.#breaker.execute(() => withinTimeLimit(work(), this.#timeoutMs));
    } catch (error) {
      if (error instanceof TaskCancelledError) this.#hanging = this.describe(error);
      // An open breaker fails fast, but its half-open trial may hang again: it keeps the mark.
      else if (!(error instanceof BrokenCircuitError)) this.#hanging = undefined;
      throw error;
    }
    this.#hanging = undefined;
    return result;
  }

  /** The registry answered some other way (a watch delivery): it is not hanging, and the breaker closes. */
  answered(): void {
    this.#hanging = undefined;
    if (this.#breaker.state === CircuitState.Closed) return;
    this.#consecutiveFailures.success();
    // cockatiel's one public way to close a breaker: isolate, then release; its onReset reports `closed`.
    this.#breaker.isolate().dispose();
  }

  /** Why a registry call failed, in words for a tier's reason. */
  describe(error: unknown): string {
    if (error instanceof BrokenCircuitError) return 'circuit breaker open after repeated registry failures';
    if (error instanceof TaskCancelledError) return `no answer within registryTimeoutMs (${this.#timeoutMs} ms)`;
    return messageOf(error);
  }

  dispose(): void {
    this.#disposeListeners();
  }
}
