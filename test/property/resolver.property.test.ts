/**
 * Properties of the resolver over arbitrary options, calls and environment values: any input
 * either works or fails with a RollcallError (never another error, never a hang); a built URL
 * never carries a control character nor another host; statuses() lists exactly the cached
 * services, most recent first, fresh as the cache's TTL says; across a detected data loss no
 * instance the resolver knew disappears before it re-registers or the grace window ends.
 */
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  MemoryBackend,
  STRATEGY_NAMES,
  createInstance,
  createResolver,
  isRollcallError,
  type Resolver,
  type ResolverOptions,
} from '../../src/index.js';
import { lookupEnv } from '../../src/resolution/env-fallback.js';
import { FaultyBackend } from '../../src/testing/index.js';

const SERVICES = ['orders', 'Orders', 'orders.api', 'auth_service'] as const;
const silent = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };

/** Runs `action` and reports what became of it within `limitMs` of real time. */
async function outcome(action: () => unknown, limitMs = 2_000): Promise<{ value: unknown } | { error: unknown } | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), limitMs)));
  try {
    return await Promise.race([Promise.resolve().then(action).then((value) => ({ value }), (error: unknown) => ({ error })), hung]);
  } finally {
    clearTimeout(timer);
  }
}

function expectRollcallError(result: Awaited<ReturnType<typeof outcome>>): void {
  expect(result).not.toBe('hung');
  if (typeof result === 'object' && 'error' in result && !isRollcallError(result.error)) {
    throw new Error(`expected a RollcallError, got ${String(result.error)}`, { cause: result.error });
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const junk = fc.oneof(fc.anything(), fc.constantFrom(null, NaN, Infinity, -1, 0, 1e8, 2 ** 32, '', 'x', [], {}));
const duration = fc.oneof(fc.integer({ min: -5, max: 100_000_000 }), fc.double(), junk);
const optional = <T>(arb: fc.Arbitrary<T>) => fc.oneof(fc.constant(undefined), arb);

const optionsArb: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    strategy: fc.oneof(fc.constantFrom(...STRATEGY_NAMES, '__proto__', 'valueOf', 'constructor', 'toString', 'hasOwnProperty'), fc.string(), junk),
    cacheTtlMs: optional(duration),
    maxStaleMs: optional(duration),
    degradedRetryMs: optional(duration),
    // Valid sizes stay small: each resolver allocates its cache up front.
    maxServices: fc.oneof(fc.integer({ min: -2, max: 1_000 }), fc.constantFrom(1_000_001, 1e8, 2 ** 32, 0.5), junk),
    warning: fc.oneof(fc.constantFrom('include', 'fallback', 'exclude'), junk),
    registryTimeoutMs: optional(duration),
    breakerThreshold: optional(duration),
    breakerHalfOpenAfterMs: optional(duration),
    resetGraceMs: optional(duration),
    watch: fc.oneof(fc.boolean(), junk),
    envFallback: fc.oneof(
      fc.boolean(),
      fc.record(
        { variable: fc.oneof(fc.constant((service: string) => `${service}_URL`), fc.string(), junk), env: fc.oneof(fc.dictionary(fc.string(), fc.string()), junk) },
        { requiredKeys: [] },
      ),
      junk,
    ),
    logger: fc.oneof(fc.constant(silent), fc.constant(console), junk),
    clock: fc.oneof(fc.constant({ now: () => 1_700_000_000_000 }), fc.constant({ now: () => 'soon' }), junk),
    random: fc.oneof(fc.constant(() => 0.5), junk),
  },
  { requiredKeys: [] },
);

const serviceArb = fc.oneof(fc.constantFrom(...SERVICES, 'unknown-service'), fc.string(), fc.string({ unit: 'binary' }), junk);
const resolveOptionsArb = fc.oneof(
  fc.constant(undefined),
  fc.record({ key: fc.oneof(fc.string(), junk), exclude: fc.oneof(fc.constant(new Set(['orders-1'])), fc.array(fc.string()), junk) }, { requiredKeys: [] }),
  junk,
);
const pathArb = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('\r\nHost: evil', '/a b', '//evil.example/x', '@evil.example', '?q=1', '#top', '/ok'), junk);

// ---------------------------------------------------------------------------------------------

describe('createResolver(options)', () => {
  it('builds a resolver or throws a RollcallError, whatever the options', async () => {
    const backend = new MemoryBackend();
    await fc.assert(
      fc.asyncProperty(optionsArb, fc.oneof(fc.constant(backend), junk), async (options, chosen) => {
        const result = await outcome(() => createResolver({ ...options, backend: chosen } as ResolverOptions));
        expectRollcallError(result);
        if (typeof result === 'object' && 'value' in result) await (result.value as Resolver).close();
      }),
      { numRuns: 1_500 },
    );
    await backend.close();
  });
});

describe('the public methods of a resolver', () => {
  let backend: MemoryBackend;
  let resolver: Resolver;

  beforeAll(async () => {
    backend = new MemoryBackend();
    for (const [n, service] of SERVICES.entries()) {
      await backend.register(createInstance({ id: `${service.replace(/[._]/g, '-')}-1`, service, host: `10.0.0.${n + 1}`, port: 8_000 + n }, Date.now()), { ttlMs: 600_000 });
    }
    resolver = createResolver({ backend, maxServices: 50, envFallback: { env: { UNKNOWN_SERVICE_URL: 'http://10.9.9.9:7000' } } });
  });

  afterAll(async () => {
    await resolver.close();
    await backend.close();
  });

  it('work or fail with a RollcallError, never hang, whatever the arguments', async () => {
    const method = fc.constantFrom('resolve', 'resolveAll', 'resolveUrl', 'pick', 'status', 'invalidate', 'statuses');
    await fc.assert(
      fc.asyncProperty(method, serviceArb, resolveOptionsArb, pathArb, async (name, service, options, path) => {
        const calls: Record<string, () => unknown> = {
          resolve: () => resolver.resolve(service as string, options as never),
          resolveAll: () => resolver.resolveAll(service as string),
          resolveUrl: () => resolver.resolveUrl(service as string, path as string, options as never),
          pick: async () => (await resolver.pick(service as string, options as never)).done({ ok: true, latencyMs: 1 }),
          status: () => resolver.status(service as string),
          invalidate: () => resolver.invalidate(service as string),
          statuses: () => resolver.statuses(),
        };
        const result = await outcome(calls[name] as () => unknown);
        expectRollcallError(result);
        if (name === 'resolveUrl' && typeof result === 'object' && 'value' in result) {
          const url = result.value as string;
          expect(url).not.toMatch(/[\p{Cc}\s]/u);
          expect(['10.0.0.1:8000', '10.0.0.2:8001', '10.0.0.3:8002', '10.0.0.4:8003', '10.9.9.9:7000']).toContain(new URL(url).host);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('statuses()', () => {
  type Command = { kind: 'resolve' | 'invalidate' | 'status'; service: string } | { kind: 'advance'; ms: number };
  const POOL = ['a', 'b', 'c', 'd', 'e'];
  const commandArb: fc.Arbitrary<Command> = fc.oneof(
    fc.record({ kind: fc.constantFrom('resolve' as const, 'invalidate' as const, 'status' as const), service: fc.constantFrom(...POOL) }),
    // At least the cache's clock resolution (10 ms), so every advance is seen.
    fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 10, max: 1_500 }) }),
  );

  afterEach(() => {
    vi.useRealTimers();
  });

  it('lists exactly the cached services, most recently used first, fresh while within cacheTtlMs', async () => {
    const TTL = 1_000;
    const MAX = 3;
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { maxLength: 40 }), fc.subarray(POOL), async (commands, registered) => {
        vi.useFakeTimers();
        const backend = new MemoryBackend();
        for (const service of registered) await backend.register(createInstance({ id: `${service}-1`, service, host: 'h', port: 1 }, Date.now()), { ttlMs: 600_000 });
        const resolver = createResolver({ backend, watch: false, envFallback: false, cacheTtlMs: TTL, maxServices: MAX, random: () => 0 });
        // The model: services most recent first, each with the time its answer was stored.
        let model: Array<{ service: string; storedAt: number }> = [];
        const fresh = (storedAt: number): boolean => Date.now() - storedAt <= TTL;
        try {
          for (const command of commands) {
            if (command.kind === 'advance') {
              await vi.advanceTimersByTimeAsync(command.ms);
            } else if (command.kind === 'status') {
              resolver.status(command.service);
            } else if (command.kind === 'invalidate') {
              resolver.invalidate(command.service);
              model = model.filter((entry) => entry.service !== command.service);
            } else {
              await resolver.resolve(command.service).catch(() => undefined);
              const known = model.find((entry) => entry.service === command.service);
              const storedAt = known !== undefined && fresh(known.storedAt) ? known.storedAt : Date.now();
              model = [{ service: command.service, storedAt }, ...model.filter((entry) => entry !== known)].slice(0, MAX);
            }
            expect(resolver.statuses().map((s) => [s.service, s.fresh])).toEqual(model.map((entry) => [entry.service, fresh(entry.storedAt)]));
          }
        } finally {
          await resolver.close();
          await backend.close();
          vi.useRealTimers();
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('a detected data loss', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never drops a known instance before it re-registers or the grace window ends', async () => {
    const GRACE = 15_000;
    const arb = fc.record({
      ids: fc.uniqueArray(fc.constantFrom('o1', 'o2', 'o3', 'o4', 'o5'), { minLength: 1, maxLength: 5 }),
      // When each instance comes back (ms after the loss); beyond the window means never.
      returns: fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 5, maxLength: 5 }),
      watch: fc.boolean(),
      lossAt: fc.integer({ min: 0, max: 6_000 }),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ ids, returns, watch, lossAt }) => {
        vi.useFakeTimers();
        const memory = new MemoryBackend();
        const faulty = new FaultyBackend(memory);
        const register = (id: string) => memory.register(createInstance({ id, service: 'orders', host: 'h', port: 1 }, Date.now()), { ttlMs: 600_000 });
        for (const id of ids) await register(id);
        const resolver = createResolver({ backend: faulty, watch, envFallback: false, resetGraceMs: GRACE });
        try {
          expect((await resolver.resolveAll('orders')).length).toBe(ids.length);
          await vi.advanceTimersByTimeAsync(lossAt);
          await faulty.loseData();
          const back = new Set<string>();
          for (let elapsed = 0; elapsed <= 25_000; elapsed += 250) {
            for (const [n, id] of ids.entries()) {
              if (!back.has(id) && (returns[n] as number) <= elapsed && (returns[n] as number) < GRACE) {
                await register(id);
                back.add(id);
              }
            }
            const answer = (await resolver.resolveAll('orders').catch(() => [])).map((instance) => instance.id).sort();
            if (elapsed < GRACE) expect(answer).toEqual([...ids].sort());
            if (elapsed >= GRACE + 1_250) expect(answer).toEqual([...back].sort());
            await vi.advanceTimersByTimeAsync(250);
          }
        } finally {
          await resolver.close();
          await faulty.close();
          await memory.close();
          vi.useRealTimers();
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('the environment tier', () => {
  it('turns any value of any variable into instances or a reason, never a throw', () => {
    const valueArb = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.webUrl({ withQueryParameters: true, withFragments: true }), junk);
    const variableArb = fc.oneof(fc.constant(undefined), fc.constantFrom('__proto__', 'constructor', 'ORDERS_URL'), fc.string(), junk);
    fc.assert(
      fc.property(valueArb, variableArb, (value, variable) => {
        const env = { ORDERS_URL: value } as Record<string, string>;
        const options = variable === undefined ? { env } : { env, variable: () => variable as string };
        const found = lookupEnv('orders', options, 0);
        if (found.ok) {
          expect(found.instances.length).toBeGreaterThan(0);
          for (const instance of found.instances) expect(`${instance.host}${instance.protocol}`).not.toMatch(/[\p{Cc}\s]/u);
        } else {
          expect(typeof found.reason).toBe('string');
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('reads back exactly the scheme, host and port of every well-formed URL, and refuses one with a query', () => {
    const urlArb = fc.record({
      protocol: fc.constantFrom('http', 'https', 'ws', 'wss'),
      host: fc.oneof(fc.domain(), fc.ipV4()),
      port: fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
      // A comma always separates URLs in the variable, so a query cannot hold one.
      query: fc.option(fc.webQueryParameters().filter((query) => query !== '' && !query.includes(',')), { nil: undefined }),
    });
    fc.assert(
      fc.property(fc.array(urlArb, { minLength: 1, maxLength: 4 }), (urls) => {
        const text = urls.map((u) => `${u.protocol}://${u.host}${u.port === undefined ? '' : `:${u.port}`}${u.query === undefined ? '' : `/?${u.query}`}`).join(',');
        const found = lookupEnv('orders', { env: { ORDERS_URL: text } }, 0);
        if (urls.some((u) => u.query !== undefined)) {
          expect(found.ok).toBe(false);
          return;
        }
        expect(found.ok).toBe(true);
        const defaults: Record<string, number> = { http: 80, https: 443, ws: 80, wss: 443 };
        const expected = urls.map((u) => [u.protocol, new URL(`${u.protocol}://${u.host}`).hostname, u.port ?? defaults[u.protocol]]);
        expect(found.ok && found.instances.map((i) => [i.protocol, i.host, i.port])).toEqual(expected);
      }),
      { numRuns: 1_000 },
    );
  });
});
