/**
 * Shared by the framework tests: plain HTTP requests (no connection pool, so nothing lingers),
 * a backend that records deregistrations and closes, the open-handles check, and polls.
 */
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { MemoryBackend, type InstanceRef, type ServiceInstance } from '../../src/index.js';
import { activeResources, grownSince } from '../helpers/resources.js';

export interface Answer {
  readonly status: number;
  readonly body: string;
  readonly headers: Record<string, string | string[] | undefined>;
}

/** One request on its own connection (`Connection: close`), so no pooled socket outlives it. */
export function get(url: string, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A promise with its resolver outside, to hold a request in flight until the test says so. */
export function gate(): { readonly promise: Promise<void>; open(): void } {
  let open = (): void => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** A memory backend that appends `deregister` and `backend closed` to `events` as they happen. */
export class RecordingBackend extends MemoryBackend {
  readonly events: string[];

  constructor(options: ConstructorParameters<typeof MemoryBackend>[0], events: string[]) {
    super(options);
    this.events = events;
  }

  override deregister(ref: InstanceRef): Promise<void> {
    this.events.push('deregister');
    return super.deregister(ref);
  }

  override close(): Promise<void> {
    this.events.push('backend closed');
    return super.close();
  }
}

/** Appends `draining` to `events` the moment the registry sees `service` draining. Returns the unsubscribe. */
export function recordDraining(backend: MemoryBackend, service: string, events: string[]): () => void {
  let seen = false;
  return backend.watch(service, {
    onChange: (instances: readonly ServiceInstance[]) => {
      if (!seen && instances.some((instance) => instance.status === 'draining')) {
        seen = true;
        events.push('draining');
      }
    },
  });
}

const WATCHED = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'];

/** What keeps the event loop alive now (unref'd timers are not counted). */
export function openHandles(): ReadonlyMap<string, number> {
  return activeResources();
}

/** Asserts that no server, socket or referenced timer opened since `before` is still open (handles close asynchronously: polled). */
export async function expectNoNewHandles(before: ReadonlyMap<string, number>): Promise<void> {
  expect(await grownSince(before, { kinds: WATCHED })).toEqual([]);
}

/** Polls `check` every 5 ms until it holds; fails after `timeoutMs`, a bound on how long a failure takes to report. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  await expect.poll(check, { timeout: timeoutMs, interval: 5 }).toBe(true);
}

/**
 * Sends a request that the app holds until `release` opens, starts the shutdown once the app is
 * holding it, and lets it finish as soon as the server starts closing. Returns the request's answer
 * and how long the shutdown took to reach `server closing` (the drain wait).
 */
export async function shutDownDuringRequest(options: {
  readonly url: string;
  readonly entered: Promise<void>;
  readonly release: { open(): void };
  readonly events: readonly string[];
  readonly shutdown: () => Promise<unknown>;
}): Promise<{ answer: Answer; waited: number }> {
  const answer = get(options.url);
  await options.entered;
  const started = performance.now();
  const done = options.shutdown();
  await eventually(() => options.events.includes('server closing'));
  const waited = performance.now() - started;
  options.release.open();
  await done;
  return { answer: await answer, waited };
}
