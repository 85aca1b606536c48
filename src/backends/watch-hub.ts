/**
 * Shares one underlying watch per service among any number of subscribers, and replays the last
 * known list to late subscribers. Backends plug their transport in as a {@link WatchSource}.
 */
import type { ServiceInstance } from '../core/instance.js';
import type { Unsubscribe, WatchHandlers } from './backend.js';

/** Where a source pushes what it learns. */
export interface WatchSink {
  change(instances: readonly ServiceInstance[]): void;
  error(error: Error): void;
}

/**
 * Starts the backend's watch of one service and returns how to stop it. It must deliver the
 * current list first, and never synchronously inside the call that starts it.
 */
export type WatchSource = (service: string, sink: WatchSink) => () => void;

interface Channel {
  readonly subscribers: Set<WatchHandlers>;
  stop: () => void;
  last: readonly ServiceInstance[] | undefined;
}

export class WatchHub {
  readonly #channels = new Map<string, Channel>();
  readonly #source: WatchSource;
  readonly #onListenerError: (error: unknown) => void;

  /**
   * @param source starts one underlying watch.
   * @param onListenerError receives what a subscriber's handler threw, so one bad subscriber
   *   neither breaks the others nor the backend's transport.
   */
  constructor(source: WatchSource, onListenerError: (error: unknown) => void) {
    this.#source = source;
    this.#onListenerError = onListenerError;
  }

  /** Number of services with an underlying watch running. */
  get activeWatches(): number {
    return this.#channels.size;
  }

  subscribe(service: string, handlers: WatchHandlers): Unsubscribe {
    let channel = this.#channels.get(service);
    if (channel === undefined) {
      const subscribers = new Set<WatchHandlers>([handlers]);
      const created: Channel = { subscribers, last: undefined, stop: () => {} };
      this.#channels.set(service, created);
      const sink: WatchSink = {
        change: (instances) => {
          if (this.#channels.get(service) !== created) return;
          created.last = instances;
          for (const subscriber of [...subscribers]) this.#deliver(subscriber, instances);
        },
        error: (error) => {
          if (this.#channels.get(service) !== created) return;
          for (const subscriber of [...subscribers]) this.#call(() => subscriber.onError?.(error));
        },
      };
      created.stop = this.#source(service, sink);
      channel = created;
    } else if (channel.last !== undefined) {
      const replay = channel.last;
      const joined = channel;
      queueMicrotask(() => {
        if (joined.subscribers.has(handlers)) this.#deliver(handlers, replay);
      });
    }
    channel.subscribers.add(handlers);
    const owner = channel;
    return () => {
      if (!owner.subscribers.delete(handlers) || owner.subscribers.size > 0) return;
      if (this.#channels.get(service) === owner) this.#channels.delete(service);
      owner.stop();
    };
  }

  /** Stops every underlying watch; subscribers hear nothing more. */
  close(): void {
    const channels = [...this.#channels.values()];
    this.#channels.clear();
    for (const channel of channels) {
      channel.subscribers.clear();
      channel.stop();
    }
  }

  /** {@link close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  #deliver(subscriber: WatchHandlers, instances: readonly ServiceInstance[]): void {
    this.#call(() => subscriber.onChange(instances));
  }

  #call(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#onListenerError(error);
    }
  }
}
