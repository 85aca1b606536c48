/**
 * Shared by the framework tests: plain HTTP requests (no connection pool, so nothing lingers),
 * a backend that records deregistrations and closes, and the open-handles check.
 */
import { request as httpRequest } from 'node:http';
import { expect } from 'vitest';
import { MemoryBackend, type InstanceRef, type ServiceInstance } from '../../src/index.js';

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

const WATCHED = ['TCPServerWrap', 'TCPSocketWrap', 'Timeout'] as const;

/** Counts of the resources that keep the event loop alive (unref'd timers are not counted). */
export function openHandles(): Record<(typeof WATCHED)[number], number> {
  const active = process.getActiveResourcesInfo();
  return Object.fromEntries(WATCHED.map((type) => [type, active.filter((t) => t === type).length])) as Record<(typeof WATCHED)[number], number>;
}

/**
 * Asserts that no server, socket or referenced timer opened since `before` is still open. Handles
 * close asynchronously, so this polls (and `before` may still count some a previous test closed).
 */
export async function expectNoNewHandles(before: ReturnType<typeof openHandles>): Promise<void> {
  const noneAdded = (now: ReturnType<typeof openHandles>): boolean => WATCHED.every((type) => now[type] <= before[type]);
  await expect.poll(() => openHandles(), { timeout: 2_000, interval: 20 }).toSatisfy(noneAdded);
}

/** Waits until `check` holds, polling every 5 ms; returns how long it took. */
export async function within(timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<number> {
  const started = performance.now();
  await expect.poll(check, { timeout: timeoutMs, interval: 5 }).toBe(true);
  return performance.now() - started;
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
  await within(1_000, () => options.events.includes('server closing'));
  const waited = performance.now() - started;
  options.release.open();
  await done;
  return { answer: await answer, waited };
}
