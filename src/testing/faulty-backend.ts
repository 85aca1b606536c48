/**
 * Fault injection for degradation tests: wraps any backend and makes it fail, hang, slow down or
 * lose its data on command. Delays use `setTimeout`, so vitest's fake timers drive them.
 */
import type { Lease, RegistryBackend, RenewResult, Unsubscribe, WatchHandlers } from '../backends/backend.js';
import { MemoryBackend } from '../backends/memory.js';
import { sleep, unrefTimeout } from '../core/clock.js';
import { ClosedError, InvalidArgumentError, RegistryUnavailableError } from '../core/errors.js';
import type { InstanceRef, InstanceStatus, ServiceInstance } from '../core/instance.js';

/** What the wrapper does to calls right now. */
export type FaultMode = 'healthy' | 'failing' | 'hanging' | 'slow';

/** Operations counted in {@link FaultyBackend.calls}. */
export type BackendOperation = 'register' | 'renew' | 'deregister' | 'instances' | 'services' | 'watch';

export interface FaultyBackendOptions {
  /** Loses every registration for {@link FaultyBackend.wipe}. @default `registry.clear()` for a MemoryBackend */
  wipe?: (() => void | Promise<void>) | undefined;
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
      if (subscription.latest !== undefined) subscription.handlers.onChange(subscription.latest);
    }
  }

  /** Loses every registration, as a registry restarted without persistence does. */
  async wipe(): Promise<void> {
    if (this.#wipe === undefined) {
      throw new InvalidArgumentError('options.wipe', 'a wipe function for this backend kind', undefined);
    }
    await this.#wipe();
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
    return this.#call('instances', () => this.inner.instances(service));
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
        if (this.#mode === 'slow') {
          unrefTimeout(() => {
            if (this.#subscriptions.has(subscription) && !subscription.interrupted) handlers.onChange(instances);
          }, this.#delayMs);
        } else if (!subscription.interrupted) {
          handlers.onChange(instances);
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
    return Promise.resolve();
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
