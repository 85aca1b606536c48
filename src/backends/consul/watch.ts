/**
 * Watches one service with Consul blocking queries, following Consul's rules for clients
 * (api-docs/features/blocking.mdx): pass back `X-Consul-Index`, never block on index 0, reset when
 * the index goes backwards, rate-limit the loop, back off on errors. {@link WatchHub} shares one such loop per service among all
 * subscribers of a backend; this module knows nothing about subscribers.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { jitterDown, sleep } from '../../core/clock.js';
import { messageOf } from '../../core/errors.js';
import type { ServiceInstance } from '../../core/instance.js';
import type { Logger } from '../../core/logger.js';
import type { WatchSink, WatchSource } from '../watch-hub.js';
import type { ConsulSettings } from './options.js';

/** One health read as the backend made it: the parsed view, the answer's index and its raw body. */
export interface HealthRead {
  readonly instances: ServiceInstance[];
  readonly index: bigint;
  readonly body: string;
}

export interface WatchDependencies {
  readonly settings: ConsulSettings;
  readonly logger: Logger;
  readonly random: () => number;
  /**
   * Reads the service's health (filter, parse, reset detection); a blocking query when `index` is
   * given. Rejects when Consul fails or the body as a whole is unusable.
   */
  readonly read: (
    service: string,
    options: { index?: bigint | undefined; waitMs?: number | undefined; signal: AbortSignal; timeoutMs: number },
  ) => Promise<HealthRead>;
  /** Receives each running loop so that `close()` can wait for it to end. */
  readonly track: (loop: Promise<void>) => void;
  /** Told each time a failing loop gets an answer again. */
  readonly reconnected: () => void;
}

/** A {@link WatchSource} running one blocking-query loop per service. */
export function consulWatchSource(dependencies: WatchDependencies): WatchSource {
  return (service, sink) => {
    const controller = new AbortController();
    dependencies.track(watchLoop(service, sink, controller.signal, dependencies));
    return () => controller.abort();
  };
}

async function watchLoop(service: string, sink: WatchSink, signal: AbortSignal, dependencies: WatchDependencies): Promise<void> {
  const { settings, logger, random } = dependencies;
  const bucket = new TokenBucket(settings.watchRateBurst, settings.watchRateIntervalMs);
  const backoffFactory = new ExponentialBackoff({
    initialDelay: settings.watchRetryInitialDelayMs,
    maxDelay: settings.watchRetryMaxDelayMs,
  });
  // 0: no index yet, the next read does not block.
  let index = 0n;
  let delivered: string | undefined;
  let mustDeliver = true;
  let backoff: IBackoff<unknown> | undefined;

  while (!signal.aborted) {
    try {
      await bucket.take(signal);
      const blocking = index > 0n;
      const waitMs = jitterDown(settings.watchWaitMs, 0.1, random);
      // Consul may hold the answer up to wait/16 past the wait; the request timeout covers the trip on top.
      const timeoutMs = blocking ? waitMs + Math.ceil(waitMs / 16) + settings.requestTimeoutMs : settings.requestTimeoutMs;
      const read = await dependencies.read(service, blocking ? { index, waitMs, signal, timeoutMs } : { signal, timeoutMs });
      if (read.index < index) {
        // A snapshot restore or a lost raft log: the old index means nothing now. Start over with a
        // non-blocking query, as Consul's docs require (the backend already told onReset listeners).
        logger.debug({ service, from: String(index), to: String(read.index) }, `Consul index of ${service} went backwards; resetting the watch`);
        index = 0n;
      } else {
        index = read.index;
      }
      if (mustDeliver || read.body !== delivered) {
        delivered = read.body;
        mustDeliver = false;
        sink.change(read.instances);
      }
      if (backoff !== undefined) {
        backoff = undefined;
        dependencies.reconnected();
        logger.info({ service }, `watch of ${service} recovered`);
      }
    } catch (error) {
      if (signal.aborted) return;
      const failure = error instanceof Error ? error : new Error(messageOf(error));
      if (backoff === undefined) logger.warn({ service, err: failure }, `watch of ${service} failing, retrying with backoff: ${failure.message}`);
      else logger.debug({ service, err: failure }, `watch of ${service} still failing`);
      backoff = backoff === undefined ? backoffFactory.next() : backoff.next(undefined);
      // Whatever changed during the outage arrives as one full list once a poll succeeds.
      index = 0n;
      mustDeliver = true;
      sink.error(failure);
      try {
        await sleep(backoff.duration, signal);
      } catch {
        return;
      }
    }
  }
}

/**
 * Consul's advice for blocking loops: a small burst, then a steady pace, so a service whose
 * index changes constantly cannot make a watcher hammer the agent.
 */
class TokenBucket {
  readonly #burst: number;
  readonly #intervalMs: number;
  #tokens: number;
  #last = Date.now();

  constructor(burst: number, intervalMs: number) {
    this.#burst = burst;
    this.#intervalMs = intervalMs;
    this.#tokens = burst;
  }

  async take(signal: AbortSignal): Promise<void> {
    this.#refill();
    if (this.#tokens < 1) {
      await sleep(Math.ceil((1 - this.#tokens) * this.#intervalMs), signal);
      this.#refill();
    }
    this.#tokens -= 1;
  }

  #refill(): void {
    const now = Date.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#last) / this.#intervalMs);
    this.#last = now;
  }
}
