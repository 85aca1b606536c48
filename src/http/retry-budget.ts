/**
 * A retry budget (Finagle's and Linkerd's): retries may add at most `ratio` to the request rate,
 * plus a small floor so low traffic can still retry. Without one, a failing instance turns every
 * request into two and a struggling service into one with twice the load.
 */
import { systemClock, type Clock } from '../core/clock.js';
import { integerOption, numberOption } from '../core/options.js';

/** Options of a {@link RetryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed as a share of requests over the last `windowMs`. @default 0.2 */
  ratio?: number | undefined;
  /** Retries allowed per second on top of the ratio, so a quiet service can still retry. @default 10 */
  minPerSecond?: number | undefined;
  /** Window over which requests and retries are counted, in milliseconds. @default 10000 */
  windowMs?: number | undefined;
}

const BUCKETS = 10;

/**
 * Counts requests and retries in a sliding window of ten buckets. A retry is allowed while
 * `retries + 1 ≤ ratio × requests + minPerSecond × windowMs / 1000` over the window.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #bucketMs: number;
  readonly #clock: Clock;
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);
  #bucket = 0;
  #bucketStart: number;

  constructor(options: RetryBudgetOptions = {}, clock: Clock = systemClock) {
    this.#ratio = numberOption(options.ratio, 0.2, 'retry.budget.ratio', 0, 1);
    const windowMs = integerOption(options.windowMs, 10_000, 'retry.budget.windowMs', BUCKETS, 3_600_000);
    this.#reserve = (numberOption(options.minPerSecond, 10, 'retry.budget.minPerSecond', 0, 1_000_000) * windowMs) / 1_000;
    this.#bucketMs = windowMs / BUCKETS;
    this.#clock = clock;
    this.#bucketStart = clock.now();
  }

  /** Counts one request (a first attempt, not a retry). */
  recordRequest(): void {
    this.#advance();
    this.#requests[this.#bucket] = (this.#requests[this.#bucket] as number) + 1;
  }

  /** Spends one retry if the budget allows it; `false` means: do not retry. */
  tryRetry(): boolean {
    this.#advance();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      requests += this.#requests[i] as number;
      retries += this.#retries[i] as number;
    }
    if (retries + 1 > this.#ratio * requests + this.#reserve) return false;
    this.#retries[this.#bucket] = (this.#retries[this.#bucket] as number) + 1;
    return true;
  }

  #advance(): void {
    const now = this.#clock.now();
    const elapsed = Math.floor((now - this.#bucketStart) / this.#bucketMs);
    if (elapsed <= 0) return;
    for (let step = 0; step < Math.min(elapsed, BUCKETS); step++) {
      this.#bucket = (this.#bucket + 1) % BUCKETS;
      this.#requests[this.#bucket] = 0;
      this.#retries[this.#bucket] = 0;
    }
    this.#bucketStart += elapsed * this.#bucketMs;
  }
}
