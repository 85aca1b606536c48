import { afterEach, describe, expect, it } from 'vitest';
import { InstancesEjectedError, outlierEjection, p2c, roundRobin, type EjectionEvent } from '../../src/balancing/index.js';
import { createDiscoveryFetch } from '../../src/http/index.js';
import { closeTracked, failing, healthy, orders, server, slow } from './helpers.js';

afterEach(closeTracked);

/** A promise of the first event of `type`, and the listener that feeds it. */
function awaitEvent(type: EjectionEvent['type']) {
  const events: EjectionEvent[] = [];
  let seen: () => void = () => undefined;
  const happened = new Promise<void>((resolve) => (seen = resolve));
  const onChange = (event: EjectionEvent) => {
    events.push(event);
    if (event.type === type) seen();
  };
  return { events, happened, onChange };
}

describe('per-instance breakers through createDiscoveryFetch', () => {
  it("fails fast while a single broken instance is ejected (allEjected: 'fail'), then lets one trial through and closes on success", async () => {
    let broken = true;
    const solo = await server('solo', (request, response, body) => (broken ? failing : healthy)(request, response, body));
    const { events, happened, onChange } = awaitEvent('half-open');
    const strategy = outlierEjection({ consecutiveFailures: 3, baseEjectionMs: 100, allEjected: 'fail', onChange }, roundRobin());
    const { resolver } = await orders([{ id: 'solo', port: solo.port }], { strategy });
    const fetch = createDiscoveryFetch(resolver);
    for (let n = 0; n < 3; n++) expect((await fetch('http://orders/x')).status).toBe(503);
    const failure: unknown = await fetch('http://orders/x').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(TypeError);
    expect((failure as Error).cause).toBeInstanceOf(InstancesEjectedError);
    expect((failure as Error).cause).toMatchObject({ code: 'SERVICE_UNAVAILABLE', ejected: [{ id: 'solo', reason: 'consecutive-failures' }] });
    // The broken instance was spared the call.
    expect(solo.received).toHaveLength(3);

    await happened;
    broken = false;
    expect((await fetch('http://orders/x')).status).toBe(200);
    expect((await fetch('http://orders/x')).status).toBe(200);
    expect(events.map((event) => event.type)).toEqual(['ejected', 'half-open', 'readmitted']);
    expect(solo.received).toHaveLength(5);
  });

  it('re-ejects after a failed trial without five more failures reaching the instance', async () => {
    const solo = await server('solo', failing);
    const { events, happened, onChange } = awaitEvent('half-open');
    const strategy = outlierEjection({ consecutiveFailures: 5, baseEjectionMs: 100, allEjected: 'fail', onChange }, roundRobin());
    const { resolver } = await orders([{ id: 'solo', port: solo.port }], { strategy });
    const fetch = createDiscoveryFetch(resolver);
    for (let n = 0; n < 5; n++) await (await fetch('http://orders/x')).arrayBuffer();
    await happened;
    expect((await fetch('http://orders/x')).status).toBe(503);
    await expect(fetch('http://orders/x')).rejects.toMatchObject({ cause: { ejected: [{ id: 'solo', reason: 'failed-trial', ejections: 2 }] } });
    expect(solo.received).toHaveLength(6);
    expect(events.at(-1)).toMatchObject({ type: 'ejected', reason: 'failed-trial', durationMs: 200 });
  });
});

describe('per-instance figures through createDiscoveryFetch', () => {
  it('shows each instance\'s response time and failures in resolver.instanceFigures()', async () => {
    const fast = await server('fast', healthy);
    const sluggish = await server('slow', slow(150));
    const broken = await server('broken', failing);
    const { resolver } = await orders(
      [
        { id: 'fast', port: fast.port },
        { id: 'slow', port: sluggish.port },
        { id: 'broken', port: broken.port },
      ],
      { strategy: outlierEjection({ consecutiveFailures: 100 }, p2c()) },
    );
    const fetch = createDiscoveryFetch(resolver, { retry: false });
    for (let n = 0; n < 30; n++) await (await fetch('http://orders/x')).arrayBuffer();
    const figures = new Map((resolver.instanceFigures('orders') ?? []).map((entry) => [entry.id, entry]));
    expect([...figures.keys()].sort()).toEqual(['broken', 'fast', 'slow']);
    const calls = [...figures.values()].reduce((sum, entry) => sum + entry.calls, 0);
    expect(calls).toBe(30);
    expect(figures.get('slow')?.latencyMs).toBeGreaterThanOrEqual(140);
    expect(figures.get('fast')?.latencyMs).toBeLessThan(figures.get('slow')?.latencyMs ?? 0);
    expect(figures.get('broken')?.failures).toBe(figures.get('broken')?.calls);
    expect(figures.get('fast')?.failures).toBe(0);
    expect(figures.get('fast')?.outstanding).toBe(0);
  });
});
