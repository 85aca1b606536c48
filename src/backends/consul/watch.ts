/**
 * Watches one service with Consul blocking queries, following Consul's rules for clients: pass
 * back `X-Consul-Index`, never block on index 0, reset when the index goes backwards, rate-limit
 * the loop, back off on errors. {@link WatchHub} shares one such loop per service among all
 * subscribers of a backend; this module knows nothing about subscribers.
 */
import { ExponentialBackoff, type IBackoff } from 'cockatiel';
import { jitterDown, sleep } from '../../core/clock.js';
import { messageOf } from '../../core/errors.js';
import type { ServiceInstance } from '../../core/instance.js';
import type { Logger } from '../../core/logger.js';
import type { WatchSink, WatchSource } from '../watch-hub.js';
import type { ConsulHttp } from './http.js';
import { goDuration } from './mapping.js';
import type { ConsulSettings } from './options.js';

export interface WatchDependencies {
  readonly http: ConsulHttp;
  readonly settings: ConsulSettings;
  readonly logger: Logger;
  readonly random: () => number;
  /** Query parameters of every read (filter, dc, ns, partition, passing). */
  readonly readQuery: (service: string) => Record<string, string | undefined>;
  /** Parses a `/v1/health/service` body; throws when the body as a whole is unusable. */
  readonly parse: (service: string, body: string) => ServiceInstance[];
  /** Receives each running loop so that `close()` can wait for it to end. */
  readonly track: (loop: Promise<void>) => void;
}

/** A {@link WatchSource} running one blocking-query loop per service. */
export function consulWatchSource(dependencies: WatchDependencies): WatchSource {
  return (service, sink) => {
    const controller = new AbortController();
    dependencies.track(watchLoop(service, sink, controller.signal, dependencies));
    return () => controller.abort();
  };
}

/**
 * `X-Consul-Index` as a number. Consul never sends 0 (it rewrites 0 to 1 so clients cannot
 * busy-loop), and neither do we: a missing, zero or unparsable index counts as 1.
 */
function parseIndex(header: string | string[] | undefined): number {
  const text = Array.isArray(header) ? header[0] : header;
  if (text === undefined || !/^\d{1,20}$/.test(text)) return 1;
  const index = Number(text);
  return index < 1 ? 1 : index;
}

async function watchLoop(service: string, sink: WatchSink, signal: AbortSignal, dependencies: WatchDependencies): Promise<void> {
  const { http, settings, logger, random } = dependencies;
  const path = `/v1/health/service/${service}`;
  const bucket = new TokenBucket(settings.watchRateBurst, settings.watchRateIntervalMs);
  const backoffFactory = new ExponentialBackoff({
    initialDelay: settings.watchRetryInitialDelayMs,
    maxDelay: settings.watchRetryMaxDelayMs,
  });
  let index = 0;
  let delivered: string | undefined;
  let mustDeliver = true;
  let backoff: IBackoff<unknown> | undefined;

  while (!signal.aborted) {
    try {
      await bucket.take(signal);
      const blocking = index > 0;
      const waitMs = jitterDown(settings.watchWaitMs, 0.1, random);
      const query = blocking ? { ...dependencies.readQuery(service), index: String(index), wait: goDuration(waitMs) } : dependencies.readQuery(service);
      // Consul may hold the answer up to wait/16 past the wait; the request timeout covers the trip on top.
      const timeoutMs = blocking ? waitMs + Math.ceil(waitMs / 16) + settings.requestTimeoutMs : settings.requestTimeoutMs;
      const response = await http.send('watch', 'GET', path, { query, signal, timeoutMs });
      if (response.status !== 200) throw http.failure('watch', response);
      const instances = dependencies.parse(service, response.body);
      const next = parseIndex(response.headers['x-consul-index']);
      if (next < index) {
        // A snapshot restore or a lost raft log: the old index means nothing now. Start over with a
        // non-blocking query, as Consul's docs require.
        logger.debug({ service, from: index, to: next }, `Consul index of ${service} went backwards; resetting the watch`);
        index = 0;
      } else {
        index = next;
      }
      if (mustDeliver || response.body !== delivered) {
        delivered = response.body;
        mustDeliver = false;
        sink.change(instances);
      }
      if (backoff !== undefined) {
        backoff = undefined;
        logger.info({ service }, `watch of ${service} recovered`);
      }
    } catch (error) {
      if (signal.aborted) return;
      const failure = error instanceof Error ? error : new Error(messageOf(error));
      if (backoff === undefined) logger.warn({ service, err: failure }, `watch of ${service} failing, retrying with backoff: ${failure.message}`);
      else logger.debug({ service, err: failure }, `watch of ${service} still failing`);
      backoff = backoff === undefined ? backoffFactory.next() : backoff.next(undefined);
      // Whatever changed during the outage arrives as one full list once a poll succeeds.
      index = 0;
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
