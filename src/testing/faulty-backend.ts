/**
 * Fault injection for degradation tests: wraps any backend and makes it fail, hang, slow down or
 * lose its data on command. Delays use `setTimeout`, so vitest's fake timers drive them.
 */
import type { Lease, RegistryBackend, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from '../backends/backend.js';
import { MemoryBackend } from '../backends/memory.js';
import { sleep, unrefTimeout } from '../core/clock.js';
import { ClosedError, InvalidArgumentError, RegistryUnavailableError } from '../core/errors.js';
import { assertServiceName, type InstanceRef, type InstanceStatus, type ServiceInstance } from '../core/instance.js';

/** What the wrapper does to calls right now. */
export type FaultMode = 'healthy' | 'failing' | 'hanging' | 'slow';

/** Operations counted in {@link FaultyBackend.calls}. */
export type BackendOperation = 'register' | 'renew' | 'deregister' | 'instances' | 'services' | 'watch';

export interface FaultyBackendOptions {
  /**
   * Loses every registration, for {@link FaultyBackend.wipe} and {@link FaultyBackend.loseData}.
   * @default `registry.clear()` for a MemoryBackend
   */
  wipe?: (() => void | Promise<void>) | undefined;
}

/** Options of {@link FaultyBackend.loseData}. */
export interface LoseDataOptions {
  /**
   * Whether the backend notices the loss, as one that checks the registry's run id or data epoch
   * does: `onReset` listeners then hear it before the first listing read after the loss.
   * `false` loses the data silently. @default true
   */
  detected?: boolean | undefined;
  /**
   * Loses only this service's instances (deregistering each through the wrapped backend).
   * @default every service, through the `wipe` option
   */
  service?: string | undefined;
  /** What the reset reports as its cause. @default 'injected fault: registry lost its data' */
  reason?: string | undefined;
}

interface Subscription {
  readonly handlers: WatchHandlers;
  latest: readonly ServiceInstance[] | undefined;
  interrupted: boolean;
}

export class FaultyBackend implements RegistryBackend {
  readonly kind: string;
  readonly inner: RegistryBackend;
  /** Calls received per operation, faulty or not. */
  readonly calls: Record<BackendOperation, number> = { register: 0, renew: 0, deregister: 0, instances: 0, services: 0, watch: 0 };
  readonly #wipe: (() => void | Promise<void>) | undefined;
  readonly #subscriptions = new Set<Subscription>();
  readonly #hung = new Set<{ release: () => void; reject: (error: Error) => void }>();
  readonly #resetListeners = new Set<(reset: RegistryReset) => void>();
  /** Losses detected but not yet reported: reported before the next listing leaves the wrapper. */
  readonly #pendingResets: RegistryReset[] = [];
  #mode: FaultMode = 'healthy';
  #error: Error | undefined;
  #delayMs = 0;
  #closed = false;

  constructor(inner: RegistryBackend, options: FaultyBackendOptions = {}) {
    if (typeof inner?.instances !== 'function') throw new InvalidArgumentError('inner', 'a RegistryBackend to wrap', inner);
    this.inner = inner;
    this.kind = inner.kind;
    this.#wipe = options.wipe ?? (inner instanceof MemoryBackend ? () => inner.registry.clear() : undefined);
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** Every call rejects with `error` (default: a `REGISTRY_UNAVAILABLE` error); watches report it. */
  fail(error?: Error): void {
    this.#error = error ?? new RegistryUnavailableError(this.kind, 'call', 'injected fault: registry down');
    this.#setMode('failing');
  }

  /** Every call waits until {@link heal} (or {@link close}); watches report an error. */
  hang(): void {
    this.#setMode('hanging');
  }

  /** Every call and watch delivery is delayed by `delayMs`. */
  slow(delayMs: number): void {
    if (!Number.isInteger(delayMs) || delayMs < 0) throw new InvalidArgumentError('delayMs', 'a non-negative integer', delayMs);
    this.#delayMs = delayMs;
    this.#setMode('slow');
  }

  /** Back to normal: hung calls proceed, watches receive the current list. */
  heal(): void {
    this.#setMode('healthy');
    for (const hung of [...this.#hung]) hung.release();
    this.#hung.clear();
    for (const subscription of this.#subscriptions) {
      if (!subscription.interrupted) continue;
      subscription.interrupted = false;
      if (subscription.latest === undefined) continue;
      this.#reportResets();
      subscription.handlers.onChange(subscription.latest);
    }
  }

  /** Loses every registration silently, as a registry restarted without persistence does: `loseData({ detected: false })`. */
  wipe(): Promise<void> {
    return this.loseData({ detected: false });
  }

  /**
   * Loses registrations, of every service or of one, as a registry restarted with an empty data
   * set, flushed, or failed over to a replica that missed writes does. When `detected` (the
   * default), `onReset` listeners hear of it before the first listing (from `instances()` or a
   * watch) read after the loss, as the backend contract asks; live registrations find out at their
   * next heartbeat (`renew` answers `lost`) and register again.
   */
  async loseData(options: LoseDataOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'an options object { detected?, service?, reason? }', options);
    const { detected = true, service, reason = 'injected fault: registry lost its data' } = options;
    if (typeof detected !== 'boolean') throw new InvalidArgumentError('options.detected', 'true or false', detected);
    if (service !== undefined) assertServiceName(service, 'options.service');
    if (typeof reason !== 'string') throw new InvalidArgumentError('options.reason', 'a string', reason);
    const wipe = this.#wipe;
    if (service === undefined && wipe === undefined) {
      throw new InvalidArgumentError('options.wipe', 'a wipe function for this backend kind', undefined);
    }
    if (detected) this.#pendingResets.push(service === undefined ? { reason } : { service, reason });
    if (service === undefined) await (wipe as () => void | Promise<void>)();
    else for (const instance of await this.inner.instances(service)) await this.inner.deregister(instance);
    this.#reportResets();
  }

  /**
   * Tells `listener` about every loss {@link loseData} injects, and every reset the wrapped
   * backend reports itself.
   */
  onReset(listener: (reset: RegistryReset) => void): Unsubscribe {
    if (typeof listener !== 'function') throw new InvalidArgumentError('listener', 'a function', listener);
    this.#resetListeners.add(listener);
    const stopInner = this.inner.onReset?.(listener);
    return () => {
      this.#resetListeners.delete(listener);
      stopInner?.();
    };
  }

  register(instance: ServiceInstance, lease: Lease): Promise<void> {
    return this.#call('register', () => this.inner.register(instance, lease));
  }

  renew(ref: InstanceRef, status: InstanceStatus): Promise<RenewResult> {
    return this.#call('renew', () => this.inner.renew(ref, status));
  }

  deregister(ref: InstanceRef): Promise<void> {
    return this.#call('deregister', () => this.inner.deregister(ref));
  }

  instances(service: string): Promise<ServiceInstance[]> {
    return this.#call('instances', async () => {
      const listed = await this.inner.instances(service);
      this.#reportResets();
      return listed;
    });
  }

  services(): Promise<string[]> {
    return this.#call('services', () => this.inner.services());
  }

  watch(service: string, handlers: WatchHandlers): Unsubscribe {
    if (this.inner.watch === undefined) throw new InvalidArgumentError('inner', 'a backend with watch()', this.inner);
    this.calls.watch++;
    const subscription: Subscription = { handlers, latest: undefined, interrupted: this.#mode === 'failing' || this.#mode === 'hanging' };
    this.#subscriptions.add(subscription);
    const stop = this.inner.watch(service, {
      onChange: (instances) => {
        subscription.latest = instances;
        const deliver = (): void => {
          this.#reportResets();
          handlers.onChange(instances);
        };
        if (this.#mode === 'slow') {
          unrefTimeout(() => {
            if (this.#subscriptions.has(subscription) && !subscription.interrupted) deliver();
          }, this.#delayMs);
        } else if (!subscription.interrupted) {
          deliver();
        }
      },
      onError: (error) => handlers.onError?.(error),
    });
    return () => {
      this.#subscriptions.delete(subscription);
      stop();
    };
  }

  /** Closes the wrapper: hung calls reject with `CLOSED`. Does not close the inner backend. */
  close(): Promise<void> {
    this.#closed = true;
    for (const hung of [...this.#hung]) hung.reject(new ClosedError('FaultyBackend'));
    this.#hung.clear();
    this.#subscriptions.clear();
    this.#resetListeners.clear();
    this.#pendingResets.length = 0;
    return Promise.resolve();
  }

  /** {@link close}, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  // Every listener hears every pending reset, even if one of them throws; the first error is rethrown.
  #reportResets(): void {
    if (this.#pendingResets.length === 0) return;
    const resets = this.#pendingResets.splice(0);
    let failure: { error: unknown } | undefined;
    for (const reset of resets) {
      for (const listener of [...this.#resetListeners]) {
        try {
          listener(reset);
        } catch (error) {
          failure ??= { error };
        }
      }
    }
    if (failure !== undefined) throw failure.error;
  }

  #setMode(mode: FaultMode): void {
    this.#mode = mode;
    if (mode !== 'failing' && mode !== 'hanging') return;
    const error = mode === 'failing' ? (this.#error as Error) : new RegistryUnavailableError(this.kind, 'watch', 'injected fault: registry not answering');
    for (const subscription of this.#subscriptions) {
      if (subscription.interrupted) continue;
      subscription.interrupted = true;
      subscription.handlers.onError?.(error);
    }
  }

  async #call<T>(operation: BackendOperation, run: () => Promise<T>): Promise<T> {
    this.calls[operation]++;
    if (this.#closed) throw new ClosedError('FaultyBackend');
    switch (this.#mode) {
      case 'failing':
        throw this.#error as Error;
      case 'hanging':
        await new Promise<void>((release, reject) => this.#hung.add({ release, reject }));
        return run();
      case 'slow':
        await sleep(this.#delayMs);
        return run();
      case 'healthy':
        return run();
    }
  }
}
