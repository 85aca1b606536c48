/**
 * Which address to put in the registry for a listening server: what the server actually bound
 * (so `port: 0` works), except that a wildcard bind says nothing about how callers reach us.
 */
import type { AddressInfo, Server } from 'node:net';
import { InvalidArgumentError } from '../core/errors.js';
import { defaultHost } from '../registration/registration.js';

/** The address a server bound, as `Lifespan.start()` takes it (a `net.AddressInfo` fits). */
export interface BoundAddress {
  readonly port: number;
  readonly address?: string | undefined;
}

// Binding to these means "every interface"; none of them is an address a caller can dial.
const WILDCARDS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '::0', '0:0:0:0:0:0:0:0', '::ffff:0.0.0.0']);

/** Throws {@link InvalidArgumentError} unless `server` is a `net.Server` (an `http.Server`, what `app.listen()` returns). */
export function assertServer(server: unknown): asserts server is Server {
  const candidate = server as Partial<Record<keyof Server, unknown>> | null;
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.address !== 'function' || typeof candidate.once !== 'function') {
    throw new InvalidArgumentError('server', 'a listening or not-yet-listening http.Server (what app.listen() returns)', server);
  }
}

/** The TCP address `server` listens on; `undefined` when it does not listen or listens on a pipe. */
export function boundAddress(server: Pick<Server, 'address'>): AddressInfo | undefined {
  const address = server.address();
  return typeof address === 'object' && address !== null ? address : undefined;
}

/** The bound address, unless it is a wildcard (or unknown): then rollcall's default host. */
export function advertisedHost(bound: string | undefined): string {
  return bound === undefined || WILDCARDS.has(bound) ? defaultHost() : bound;
}

/**
 * Calls `onListening` once `server` listens: at once (in a microtask) if it already does.
 * Returns a disposer that cancels a call still pending.
 */
export function whenListening(server: Server, onListening: () => void): () => void {
  let cancelled = false;
  const fire = (): void => {
    if (!cancelled) onListening();
  };
  if (server.listening) {
    queueMicrotask(fire);
    return () => {
      cancelled = true;
    };
  }
  server.once('listening', fire);
  return () => {
    cancelled = true;
    server.off('listening', fire);
  };
}
