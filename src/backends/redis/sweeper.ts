/**
 * Expiry without polling. Redis says nothing when a lease deadline passes, and heartbeats keep
 * moving deadlines, so a watcher that re-read each service at its earliest known deadline would
 * read every service about once per lease period, in every process: reads grow with processes ×
 * services, and processes that read the same deadlines read in herds.
 *
 * Instead, every write keeps the namespace's expiry index exact (service → its earliest deadline),
 * and one backend of the namespace, the holder of a short lease, sweeps: a timer at the earliest
 * deadline, a prune of the services due, whose change messages make every watcher read. While
 * nothing expires the holder makes one small call per third of a lease and nobody reads.
 *
 * Every backend that watches takes part: it looks at the lease now and then, and takes it when
 * nobody holds it. Each one's look comes at a random interval of about one lease per participant,
 * so the namespace makes about one look per lease whatever the number of processes, and a holder
 * that died is replaced within a few leases. A holder that closes gives the lease up and says so
 * on the namespace channel, and the others look at once (jittered). A message on that channel
 * carries nothing: it only makes a participant look sooner, at the cost of one small call.
 */
import { unrefTimeout } from '../../core/clock.js';

/** How long the sweeper's lease lasts without renewal. */
export const SWEEP_LEASE_MS = 3_000;
/** Fired after a deadline, so the sweep surely sees it passed: timers and clocks are not exact. */
export const EXPIRY_MARGIN_MS = 25;
/** Most services one look returns as due; more are taken by the next look, at once. */
export const DUE_LIMIT = 100;
/** Looks in a row while services keep coming due, before a pause (bounded work per turn). */
const ROUNDS_PER_TURN = 10;
/** Longest wait before a participant looks after a message on the namespace channel. */
export const NUDGE_SPREAD_MS = 1_000;
/** Longest delay `setTimeout` honours. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What one look at the lease found. */
export interface SweepCheck {
  /** Whether this backend holds the lease (now renewed). */
  readonly held: boolean;
  /** Backends taking part in the namespace, this one included. */
  readonly participants: number;
  /** The Redis server's clock (epoch ms). */
  readonly serverNow: number;
  /** The namespace's earliest lease deadline (server epoch ms), when held and known. */
  readonly nextExpiry: number | undefined;
  /** Services whose earliest deadline passed, with it (when held). */
  readonly due: readonly { readonly service: string; readonly deadline: number }[];
}

export interface SweeperOptions {
  /** Looks at the lease (and takes or renews it); bounded by the backend's operation timeout. */
  check(): Promise<SweepCheck>;
  /** Prunes what expired in one service and updates its expiry entry. */
  sweep(service: string, deadline: number): Promise<void>;
  /** Gives up the lease if held, and leaves the participants. */
  release(): Promise<void>;
  /** Receives failed looks and sweeps (the next look retries). */
  onError(error: unknown): void;
  /** @default Math.random */
  random?: () => number;
}

export class Sweeper {
  readonly #options: SweeperOptions;
  readonly #random: () => number;
  #active = false;
  #held = false;
  #running = false;
  #again = false;
  #checkTimer: NodeJS.Timeout | undefined;
  /** When (performance.now()) the check timer fires. */
  #checkAt = Number.POSITIVE_INFINITY;
  #sweepTimer: NodeJS.Timeout | undefined;
  /** Looks at the lease made. */
  checks = 0;
  /** Services swept while holding the lease. */
  sweeps = 0;

  constructor(options: SweeperOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** Whether this backend held the lease at its last look. */
  get held(): boolean {
    return this.#held;
  }

  /** Starts taking part (the backend watches something): looks at once. */
  start(): void {
    if (this.#active) return;
    this.#active = true;
    this.#schedule(0);
  }

  /** Stops taking part: no more looks, and the lease is given up if held. */
  async stop(): Promise<void> {
    if (!this.#active) return;
    this.#active = false;
    this.#clearTimers();
    this.#held = false;
    await this.#options.release();
  }

  /** A message on the namespace channel: the holder looks at once, the others soon. */
  nudge(): void {
    if (!this.#active) return;
    this.#schedule(this.#held ? 0 : this.#random() * NUDGE_SPREAD_MS);
  }

  /** Looks at the lease within `delayMs`, unless a look is due sooner already. */
  #schedule(delayMs: number): void {
    const at = performance.now() + delayMs;
    if (this.#checkTimer !== undefined && this.#checkAt <= at) return;
    clearTimeout(this.#checkTimer);
    this.#checkAt = at;
    this.#checkTimer = unrefTimeout(() => {
      this.#checkTimer = undefined;
      this.#checkAt = Number.POSITIVE_INFINITY;
      void this.#turn();
    }, Math.min(delayMs, MAX_TIMER_MS));
  }

  // One turn at a time; a reason to look arriving during a turn causes exactly one more.
  async #turn(): Promise<void> {
    if (!this.#active) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = true;
    this.#again = false;
    clearTimeout(this.#sweepTimer);
    this.#sweepTimer = undefined;
    try {
      await this.#look();
    } catch (error) {
      this.#held = false;
      this.#options.onError(error);
      if (this.#active) this.#schedule((SWEEP_LEASE_MS / 3) * (0.5 + this.#random()));
    } finally {
      this.#running = false;
      if (this.#again && this.#active) void this.#turn();
    }
  }

  async #look(): Promise<void> {
    for (let round = 0; ; round++) {
      const found = await this.#options.check();
      this.checks++;
      if (!this.#active) return;
      this.#held = found.held;
      if (!found.held) {
        // About one look per lease in the whole namespace, whatever the number of participants.
        this.#schedule(SWEEP_LEASE_MS * Math.max(1, found.participants) * (0.5 + this.#random()));
        return;
      }
      for (const { service, deadline } of found.due) {
        await this.#options.sweep(service, deadline);
        this.sweeps++;
        if (!this.#active) return;
      }
      if (found.due.length === 0 || round + 1 >= ROUNDS_PER_TURN) {
        this.#schedule(SWEEP_LEASE_MS / 3);
        // More due than a turn sweeps: the rest after a short pause; otherwise at the next deadline.
        const wait = found.due.length > 0 ? EXPIRY_MARGIN_MS : found.nextExpiry === undefined ? undefined : Math.max(0, found.nextExpiry - found.serverNow) + EXPIRY_MARGIN_MS;
        if (wait !== undefined) this.#sweepTimer = unrefTimeout(() => void this.#turn(), Math.min(wait, MAX_TIMER_MS));
        return;
      }
    }
  }

  #clearTimers(): void {
    clearTimeout(this.#checkTimer);
    clearTimeout(this.#sweepTimer);
    this.#checkTimer = undefined;
    this.#sweepTimer = undefined;
    this.#checkAt = Number.POSITIVE_INFINITY;
  }
}
