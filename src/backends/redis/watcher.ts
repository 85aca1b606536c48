/**
 * Push for `watch()`: one pub/sub connection per backend serves every watched service. Every change
 * publishes the service's new version, and nothing else: the watcher reads the service (one
 * listing script) when a message names a version newer than the one it has. Anyone who can
 * PUBLISH can reach the channel, so a message is never taken for a listing; a forged one costs at
 * most a read, and reads of one service never overlap (messages arriving during a read cause
 * exactly one more).
 *
 * Redis says nothing when a deadline passes, so each watched service also has one timer at its
 * earliest known deadline (a delta of the server's clock, so the local clock does not matter,
 * bounded by the longest lease). The listing it runs prunes the expired instance and publishes the
 * new version, which every other watcher follows with a read. Without changes a service is
 * therefore read at most once per lease period; there is no polling.
 *
 * The subscriber connection never reconnects by itself: when it ends, every watcher hears an
 * error, and a new connection subscribes everything again and then reads every service, so a
 * change made while it was away is delivered.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import type { Redis } from 'ioredis';
import { unrefTimeout } from '../../core/clock.js';
import { TTL_LIMITS } from '../../core/instance.js';
import type { WatchSink, WatchSource } from '../watch-hub.js';
import type { Listing } from './records.js';

/** Fired after a deadline, so the listing surely sees it passed: timers and clocks are not exact. */
const EXPIRY_MARGIN_MS = 25;
/** Longest delay `setTimeout` honours; beyond it Node fires after 1 ms (and warns). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Pauses between attempts to bring the subscriber connection back. */
const RESUBSCRIBE_BACKOFF = { initialDelay: 100, maxDelay: 1_000 };
/** Pauses between attempts to read a service whose last read failed. */
const REFRESH_BACKOFF = { initialDelay: 200, maxDelay: 2_000 };

/** The next backoff step (with jitter, so watchers of many processes do not retry in step). */
function advance(current: IBackoff<unknown> | undefined, options: { initialDelay: number; maxDelay: number }): IBackoff<unknown> {
  return current === undefined ? new ExponentialBackoff(options).next() : current.next(undefined);
}

export interface WatcherOptions {
  /** Reads one service (bounded by the backend's operation timeout). */
  list(service: string): Promise<Listing>;
  /** The version a message of the service's channel names; undefined for one it could not read (and reported). */
  change(service: string, message: string): number | undefined;
  /** The service's pub/sub channel. */
  channel(service: string): string;
  /** A new subscriber connection that does not reconnect by itself and queues commands until connected. */
  connect(): Redis;
  /** Turns a subscriber connection failure into the error watchers hear. */
  connectionError(error: unknown): Error;
  /** One line per subscriber connection transition. */
  onTransition(up: boolean, error?: unknown): void;
}

interface WatchState {
  readonly service: string;
  readonly channel: string;
  readonly sink: WatchSink;
  running: boolean;
  again: boolean;
  /** Version of the last listing read; undefined when any message must cause a read. */
  version: number | undefined;
  /** Records of the last list delivered; undefined when the next list must be delivered anyway. */
  delivered: readonly string[] | undefined;
  failing: boolean;
  retry: IBackoff<unknown> | undefined;
  timer: NodeJS.Timeout | undefined;
  /** The deadline (server epoch ms) `timer` fires after while armed for one; else undefined. */
  timerDeadline: number | undefined;
}

export class RedisWatcher {
  readonly #options: WatcherOptions;
  readonly #byChannel = new Map<string, WatchState>();
  #subscriber: Redis | undefined;
  /** Subscribed to every watched channel: only then is a read worth delivering. */
  #subscriberUp = false;
  #wasDown = false;
  #lastError: unknown;
  #restartTimer: NodeJS.Timeout | undefined;
  #restart: IBackoff<unknown> | undefined;
  #closed = false;
  /** Listings run for watchers. */
  refreshes = 0;

  constructor(options: WatcherOptions) {
    this.#options = options;
  }

  /** The {@link WatchSource} for the backend's {@link WatchHub}. */
  readonly source: WatchSource = (service, sink) => {
    const state: WatchState = {
      service,
      channel: this.#options.channel(service),
      sink,
      running: false,
      again: false,
      version: undefined,
      delivered: undefined,
      failing: false,
      retry: undefined,
      timer: undefined,
      timerDeadline: undefined,
    };
    this.#byChannel.set(state.channel, state);
    const subscriber = this.#subscriber;
    if (subscriber === undefined) {
      if (this.#restartTimer === undefined) this.#connect();
    } else {
      // Subscribed before reading, so no change can fall between the read and the subscription.
      // If the connection fails instead, its replacement subscribes and reads everything.
      subscriber.subscribe(state.channel).then(
        () => this.#refresh(state),
        () => {},
      );
    }
    return () => this.#stop(state);
  };

  /** Reads again every service whose last read failed (the main connection is back). */
  refreshFailing(): void {
    for (const state of this.#byChannel.values()) if (state.failing) this.#refresh(state);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    for (const state of this.#byChannel.values()) this.#clearTimer(state);
    this.#byChannel.clear();
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) await disconnect(subscriber);
  }

  #connect(): void {
    this.#restartTimer = undefined;
    if (this.#closed || this.#byChannel.size === 0) return;
    let subscriber: Redis;
    try {
      subscriber = this.#options.connect();
    } catch (error) {
      this.#onEnd(undefined, error);
      return;
    }
    this.#subscriber = subscriber;
    subscriber.on('message', (channel: string, message: string) => {
      const state = this.#byChannel.get(channel);
      if (state !== undefined && this.#subscriberUp) this.#receive(state, message);
    });
    subscriber.on('error', (error: unknown) => {
      this.#lastError = error;
    });
    subscriber.once('end', () => this.#onEnd(subscriber, this.#lastError));
    subscriber.subscribe(...this.#byChannel.keys()).then(
      () => {
        if (this.#subscriber !== subscriber) return;
        this.#restart = undefined;
        this.#lastError = undefined;
        this.#subscriberUp = true;
        if (this.#wasDown) this.#options.onTransition(true);
        this.#wasDown = false;
        for (const state of this.#byChannel.values()) this.#refresh(state);
      },
      () => {},
    );
  }

  #onEnd(subscriber: Redis | undefined, error: unknown): void {
    if (this.#closed || this.#subscriber !== subscriber) return;
    this.#subscriber = undefined;
    const reported = this.#options.connectionError(error ?? new Error('the subscriber connection closed'));
    if (this.#subscriberUp) this.#options.onTransition(false, reported);
    this.#wasDown ||= this.#subscriberUp;
    this.#subscriberUp = false;
    for (const state of this.#byChannel.values()) {
      // Messages from the next connection's server cause reads, whatever their versions.
      state.version = undefined;
      this.#fail(state, reported);
    }
    if (this.#byChannel.size === 0) return;
    this.#restart = advance(this.#restart, RESUBSCRIBE_BACKOFF);
    const delay = this.#restart.duration;
    this.#restartTimer = unrefTimeout(() => this.#connect(), delay);
  }

  #stop(state: WatchState): void {
    if (this.#byChannel.get(state.channel) !== state) return;
    this.#byChannel.delete(state.channel);
    this.#clearTimer(state);
    this.#subscriber?.unsubscribe(state.channel).catch(() => {});
  }

  // A message only decides whether to read: a read the watcher already made may be as new.
  #receive(state: WatchState, message: string): void {
    const version = this.#options.change(state.service, message);
    if (version === undefined || state.version === undefined || version > state.version) this.#refresh(state);
  }

  // One read per service at a time; reasons to read arriving meanwhile cause exactly one more.
  #refresh(state: WatchState): void {
    // Without the subscription a delivered list would look pushed while nothing is; the
    // resubscription reads everything anyway.
    if (!this.#subscriberUp) return;
    if (state.running) {
      state.again = true;
      return;
    }
    state.running = true;
    state.again = false;
    this.#clearTimer(state);
    this.refreshes++;
    const active = (): boolean => !this.#closed && this.#byChannel.get(state.channel) === state;
    this.#options
      .list(state.service)
      .then(
        (listing) => {
          // Reads of one service never overlap, so each is newer than the last, or Redis lost data
          // and it is the truth anyway.
          if (active() && this.#subscriberUp) this.#apply(state, listing);
        },
        (error: unknown) => {
          if (!active()) return;
          this.#fail(state, error instanceof Error ? error : new Error(String(error)));
          state.retry = advance(state.retry, REFRESH_BACKOFF);
          this.#arm(state, state.retry.duration, undefined);
        },
      )
      .finally(() => {
        state.running = false;
        if (state.again && active()) this.#refresh(state);
      });
  }

  #apply(state: WatchState, listing: Listing): void {
    state.version = listing.version;
    state.failing = false;
    state.retry = undefined;
    if (!sameRecords(listing.records, state.delivered)) {
      state.delivered = listing.records;
      state.sink.change(listing.instances);
    }
    // Most changes leave the earliest deadline where it was, and its timer with it.
    if (listing.nextDeadline !== undefined && state.timerDeadline === listing.nextDeadline) return;
    if (listing.nextDeadline === undefined) this.#clearTimer(state);
    else this.#arm(state, Math.min(Math.max(0, listing.nextDeadline - listing.serverNow), TTL_LIMITS.max) + EXPIRY_MARGIN_MS, listing.nextDeadline);
  }

  #arm(state: WatchState, delay: number, deadline: number | undefined): void {
    this.#clearTimer(state);
    state.timerDeadline = deadline;
    state.timer = unrefTimeout(
      () => {
        // Fired: no longer armed, whatever the read it starts finds.
        state.timer = undefined;
        state.timerDeadline = undefined;
        this.#refresh(state);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  #clearTimer(state: WatchState): void {
    clearTimeout(state.timer);
    state.timer = undefined;
    state.timerDeadline = undefined;
  }

  #fail(state: WatchState, error: Error): void {
    state.delivered = undefined;
    if (state.failing) return;
    state.failing = true;
    state.sink.error(error);
  }
}

function sameRecords(a: readonly string[], b: readonly string[] | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((record, i) => record === b[i]);
}

/** Closes a connection and waits (briefly) until its socket is gone. */
export async function disconnect(client: { status: string; disconnect(): void; once(event: 'end', listener: () => void): unknown }): Promise<void> {
  // Between reconnection attempts there is no socket, and ioredis emits no 'end' for it.
  const hasSocket = client.status === 'connecting' || client.status === 'connect' || client.status === 'ready';
  const ended = new Promise<void>((resolve) => {
    client.once('end', resolve);
    unrefTimeout(resolve, 1_000);
  });
  client.disconnect();
  if (hasSocket) await ended;
}
