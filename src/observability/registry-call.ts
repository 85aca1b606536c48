/**
 * How a backend reports one network call to its registry: on the `rollcall:registry:call`
 * tracing channel, following the TracingChannel event order (`start`, `end`, then `error` when
 * it failed, `asyncStart`, `asyncEnd`). Without subscribers the call runs as it is: no message,
 * no clock read.
 */
import { registryCallChannel, type RegistryCallMessage, type RegistryCallOutcome, type RegistryTarget } from './channels.js';

/** What a backend tells about one call besides its target. */
export interface RegistryCallInfo {
  readonly operation: string;
  readonly service?: string | undefined;
  /** HTTP registries: method and path. */
  readonly request?: { readonly method: string; readonly path: string } | undefined;
}

/**
 * Runs `run` as one registry call on `target`. `classify` reads a result that did not throw
 * (an HTTP registry's 500 is a result): its outcome and status code. @default every result is `ok`
 */
export function observeRegistryCall<T>(
  target: RegistryTarget,
  info: RegistryCallInfo,
  run: () => Promise<T>,
  classify?: (result: T) => { readonly outcome: RegistryCallOutcome; readonly statusCode?: number | undefined },
): Promise<T> {
  if (!registryCallChannel.hasSubscribers) return run();
  const message: RegistryCallMessage = { target, operation: info.operation, service: info.service, request: info.request };
  const started = performance.now();
  const channels = registryCallChannel;
  channels.start.publish(message);
  // An async API rejects; it never throws at its caller.
  const pending = (async () => run())();
  channels.end.publish(message);
  return pending.then(
    (result) => {
      message.result = result;
      const classified = classify?.(result);
      message.outcome = classified?.outcome ?? 'ok';
      message.statusCode = classified?.statusCode;
      message.durationMs = performance.now() - started;
      channels.asyncStart.publish(message);
      channels.asyncEnd.publish(message);
      return result;
    },
    (error: unknown) => {
      message.error = error;
      message.outcome = 'error';
      message.durationMs = performance.now() - started;
      channels.error.publish(message);
      channels.asyncStart.publish(message);
      channels.asyncEnd.publish(message);
      throw error;
    },
  );
}
