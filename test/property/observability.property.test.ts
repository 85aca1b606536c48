/**
 * Properties of observability over arbitrary traffic and faults: every resolve is counted exactly
 * once, under the tier that answered it (what pick() reports), or as unavailable when it failed;
 * a Prometheus scrape shows exactly those counts; the headers a subscriber adds to an attempt
 * replace the caller's of the same name and leave the others as they were; a subscriber can never
 * add a header that splits the request.
 */
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { withHeaders } from '../../src/http/headers.js';
import { HttpAttemptMessage, MemoryBackend, ServiceUnavailableError, createInstance, createResolver, type ResolveSource } from '../../src/index.js';
import { registerRollcallMetrics } from '../../src/prometheus/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

const SERVICES = ['orders', 'Orders', 'orders.api', 'payments'] as const;
type Service = (typeof SERVICES)[number];

type Step =
  | { readonly kind: 'resolve' | 'pick' | 'resolveAll'; readonly service: Service }
  | { readonly kind: 'fail' | 'heal' }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'register' | 'deregister'; readonly service: Service; readonly id: number };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constantFrom('resolve' as const, 'pick' as const, 'resolveAll' as const), service: fc.constantFrom(...SERVICES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('fail' as const, 'heal' as const) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 3_000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom('register' as const, 'deregister' as const), service: fc.constantFrom(...SERVICES), id: fc.integer({ min: 1, max: 3 }) }) },
);

type Expected = Record<ResolveSource | 'unavailable', number>;
const zero = (): Expected => ({ cache: 0, registry: 0, stale: 0, env: 0, unavailable: 0 });

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('resolve counts', () => {
  it('count every resolve exactly once, by the tier that answered, and a scrape shows them as they are', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), fc.boolean(), async (steps, watch) => {
        const memory = new MemoryBackend();
        const faulty = new FaultyBackend(memory);
        const resolver = createResolver({
          backend: faulty,
          watch,
          cacheTtlMs: 1_000,
          maxStaleMs: 5_000,
          degradedRetryMs: 500,
          envFallback: { env: { PAYMENTS_URL: 'http://10.9.9.9:80' } },
        });
        const registry = new Registry();
        const metrics = registerRollcallMetrics(registry, { resolver });
        const expected = new Map<string, Expected>();
        const count = (service: string, tier: keyof Expected): void => {
          const counts = expected.get(service) ?? zero();
          counts[tier]++;
          expected.set(service, counts);
        };
        try {
          for (const step of steps) {
            switch (step.kind) {
              case 'resolve':
              case 'resolveAll':
              case 'pick': {
                const before = resolver.resolveCounts().find((counts) => counts.service === step.service);
                try {
                  if (step.kind === 'pick') {
                    const picked = await resolver.pick(step.service);
                    count(step.service, picked.source);
                  } else {
                    await (step.kind === 'resolve' ? resolver.resolve(step.service) : resolver.resolveAll(step.service));
                    // Which tier answered, as the counts say: exactly one of them moved by one.
                    const after = resolver.resolveCounts().find((counts) => counts.service === step.service);
                    const moved = (['cache', 'registry', 'stale', 'env'] as const).filter((tier) => (after?.[tier] ?? 0) - (before?.[tier] ?? 0) === 1);
                    expect(moved).toHaveLength(1);
                    count(step.service, moved[0] as ResolveSource);
                  }
                } catch (error) {
                  expect(error).toBeInstanceOf(ServiceUnavailableError);
                  count(step.service, 'unavailable');
                }
                break;
              }
              case 'fail':
                faulty.fail();
                break;
              case 'heal':
                faulty.heal();
                break;
              case 'wait':
                await vi.advanceTimersByTimeAsync(step.ms);
                break;
              case 'register':
                await memory.register(createInstance({ id: `${step.service}-${step.id}`, service: step.service, host: '10.0.0.1', port: 8000 + step.id }, Date.now()), { ttlMs: 600_000 });
                break;
              case 'deregister':
                await memory.deregister({ service: step.service, id: `${step.service}-${step.id}` });
                break;
            }
          }
          const counted = Object.fromEntries(resolver.resolveCounts().map(({ service, ...counts }) => [service, counts]));
          expect(counted).toEqual(Object.fromEntries(expected));
          const scraped = (await registry.getSingleMetric('rollcall_resolves_total')?.get())?.values ?? [];
          for (const { labels, value } of scraped) {
            expect(value).toBe(expected.get(String(labels['service']))?.[labels['source'] as keyof Expected]);
          }
          expect(scraped).toHaveLength(expected.size * 5);
        } finally {
          metrics.unregister();
          await resolver.close();
          await memory.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('headers added to an attempt', () => {
  const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
  const value = fc.stringMatching(/^[ -~]{0,20}$/);
  const shape = fc.constantFrom('object' as const, 'flat' as const, 'pairs' as const);

  it('replace the headers of the same name, whatever the case, and keep the others as they were', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(name, value, fc.boolean())), fc.dictionary(name, value), shape, (given, added, form) => {
        const cased = given.map(([key, text, upper]) => [upper ? key.toUpperCase() : key, text] as const);
        const headers =
          form === 'object' ? Object.fromEntries(cased) : form === 'flat' ? cased.flatMap(([key, text]) => [key, text]) : new Map(cased).entries();
        const merged = withHeaders(headers, added);
        const original = form === 'object' ? Object.entries(Object.fromEntries(cased)) : form === 'pairs' ? [...new Map(cased)] : cased;
        for (const [key, text] of Object.entries(added)) expect(merged[key]).toBe(text);
        for (const [key] of original) {
          const lower = key.toLowerCase();
          if (Object.hasOwn(added, lower)) continue;
          const expected = original.filter(([other]) => other.toLowerCase() === lower).map(([, text]) => text);
          expect(merged[lower]).toEqual(expected.length === 1 ? expected[0] : expected);
        }
        expect(Object.keys(merged).sort()).toEqual([...new Set([...original.map(([key]) => key.toLowerCase()), ...Object.keys(added)])].sort());
      }),
      { numRuns: 2_000 },
    );
  });

  const message = (): HttpAttemptMessage =>
    new HttpAttemptMessage({
      client: 'fetch',
      service: 'orders',
      instance: createInstance({ id: 'o1', service: 'orders', host: '10.0.0.1', port: 80 }, 0),
      method: 'GET',
      url: 'http://10.0.0.1/',
      source: 'cache',
      resendCount: 0,
    });

  it('keep a header named __proto__ (a valid token) like any other', () => {
    const attempt = message();
    attempt.setHeader('__proto__', 'x');
    attempt.setHeader('constructor', 'y');
    expect(Object.entries(attempt.addedHeaders)).toEqual([
      ['__proto__', 'x'],
      ['constructor', 'y'],
    ]);
  });

  it('are never able to split the request: a header with CR, LF or NUL, or a name that is not a token, is ignored', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), fc.string({ unit: 'binary', maxLength: 40 }), (key, text) => {
        const attempt = message();
        attempt.setHeader(key, text);
        for (const [added, addedValue] of Object.entries(attempt.addedHeaders)) {
          expect(added).toMatch(/^[!#$%&'*+.^_`|~0-9a-z-]+$/);
          expect(addedValue).not.toMatch(/[\r\n\0]/);
        }
        const valid = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(key) && /^[\t\x20-\x7e\x80-\xff]*$/.test(text);
        expect(attempt.addedHeaders).toEqual(valid ? { [key.toLowerCase()]: text } : {});
      }),
      { numRuns: 3_000 },
    );
  });
});
