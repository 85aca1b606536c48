/**
 * Following one service's instances for as long as a command runs: through the backend's watch
 * when it has one, else by reading the service every `pollMs`. Either way the caller receives
 * full lists and errors, as `RegistryBackend.watch` delivers them.
 */
import type { RegistryBackend, Unsubscribe, WatchHandlers } from '../backends/backend.js';
import { messageOf } from '../core/errors.js';
import type { ServiceInstance } from '../core/instance.js';

/** How often a backend without a watch is read. */
export const POLL_INTERVAL_MS = 1_000;

export function followService(backend: RegistryBackend, service: string, handlers: WatchHandlers, pollMs = POLL_INTERVAL_MS): Unsubscribe {
  if (typeof backend.watch === 'function') return backend.watch(service, handlers);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const read = async (): Promise<void> => {
    let instances: readonly ServiceInstance[] | undefined;
    try {
      instances = await backend.instances(service);
    } catch (error) {
      if (!stopped) handlers.onError?.(error instanceof Error ? error : new Error(messageOf(error)));
    }
    if (stopped) return;
    if (instances !== undefined) handlers.onChange(instances);
    timer = setTimeout(() => void read(), pollMs);
    timer.unref();
  };
  // Never synchronously inside the call, as the watch contract says.
  queueMicrotask(() => void read());
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/**
 * Keeps the process running until `signal` aborts, then resolves. Backends unref their timers,
 * so while a lost registry is being retried nothing else would keep a command that runs until
 * Ctrl-C alive.
 */
export function untilInterrupted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const holder = setInterval(() => {}, 1 << 30);
    signal.addEventListener(
      'abort',
      () => {
        clearInterval(holder);
        resolve();
      },
      { once: true },
    );
  });
}
