/**
 * Property suite of the registration side: whatever autoRegister(), drain(), lifespan() and the
 * health checks are given, they either work or fail with a RollcallError (thrown by constructors,
 * rejected by async calls); never a raw TypeError, a hang or a crash. fast-check prints the seed
 * and the shrunk counterexample of any failure.
 */
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryBackend, Registration, autoRegister, isRollcallError, lifespan, type HealthStatus } from '../../src/index.js';
import { LIFESPAN_OPTION_NAMES } from '../../src/integrations/options.js';
import { HealthMonitor, toReport } from '../../src/registration/health-checks.js';
import { AUTO_REGISTER_OPTION_NAMES } from '../../src/registration/options.js';

const backend = new MemoryBackend();
afterAll(() => backend.close());

const quietLogger = { warn: (): void => {}, error: (): void => {} };

/** What may replace a valid option: anything at all, null, or a near miss of the usual types. */
const wrongValue = fc.oneof(fc.anything(), fc.constantFrom(null, -1, 0, 1.5, Number.NaN, '', '5', [], {}, () => 1));

/** Valid options with up to two of them replaced by {@link wrongValue}. */
function perturbed(valid: fc.Arbitrary<Record<string, unknown>>, names: readonly string[]): fc.Arbitrary<Record<string, unknown>> {
  return fc
    .tuple(valid, fc.uniqueArray(fc.constantFrom(...names), { maxLength: 2 }), fc.array(wrongValue, { minLength: 2, maxLength: 2 }))
    .map(([options, replaced, values]) => {
      const result: Record<string, unknown> = { ...options };
      replaced.forEach((name, index) => {
        result[name] = values[index];
      });
      return result;
    });
}

const checkResult = fc.oneof(
  fc.anything(),
  fc.constantFrom<HealthStatus | boolean>('passing', 'warning', 'critical', true, false),
  fc.record({ status: fc.constantFrom('passing', 'warning', 'critical', 'down', 503), output: fc.anything() }, { requiredKeys: ['status'] }),
);

/** A health check that returns, resolves, throws or rejects with anything. */
const check = fc.oneof(
  checkResult.map((value) => () => value),
  checkResult.map((value) => () => Promise.resolve(value)),
  fc.anything().map((value) => () => {
    throw value;
  }),
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- checks from careless libraries reject with anything
  fc.anything().map((value) => () => Promise.reject(value)),
);

const checks = fc.dictionary(fc.constantFrom('db', 'redis', '__proto__', 'http'), check, { maxKeys: 3 });

const validRegistrationOptions = fc.record(
  {
    backend: fc.constant(backend),
    service: fc.constantFrom('orders', 'auth_service', 'Orders', 'orders.api'),
    id: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,20}$/),
    host: fc.constantFrom('127.0.0.1', 'orders.internal', '::1'),
    port: fc.integer({ min: 1, max: 65_535 }),
    protocol: fc.constantFrom('http', 'https', 'grpc'),
    tags: fc.uniqueArray(fc.constantFrom('a', 'b', 'canary'), { maxLength: 3 }),
    meta: fc.dictionary(fc.constantFrom('region', '__proto__', 'k'), fc.string({ maxLength: 100 }), { maxKeys: 3 }),
    weight: fc.integer({ min: 1, max: 10_000 }),
    zone: fc.constantFrom('eu-1', 'us-east-1a'),
    version: fc.constantFrom('1.2.3', 'canary'),
    ttlMs: fc.integer({ min: 1_000, max: 60_000 }),
    heartbeatIntervalMs: fc.integer({ min: 100, max: 999 }),
    healthChecks: checks,
    healthCheckTimeoutMs: fc.integer({ min: 1, max: 1_000 }),
    failuresBeforeCritical: fc.integer({ min: 1, max: 5 }),
    successesBeforePassing: fc.integer({ min: 1, max: 5 }),
    required: fc.boolean(),
    startupTimeoutMs: fc.integer({ min: 1, max: 5_000 }),
    operationTimeoutMs: fc.integer({ min: 1, max: 5_000 }),
    retryInitialDelayMs: fc.integer({ min: 1, max: 1_000 }),
    retryMaxDelayMs: fc.integer({ min: 1_000, max: 60_000 }),
    drainWaitMs: fc.integer({ min: 0, max: 100_000 }),
    logger: fc.constant(quietLogger),
    clock: fc.constant({ now: () => Date.now() }),
    random: fc.func(fc.oneof(fc.double(), fc.anything())),
  },
  { requiredKeys: ['backend', 'service', 'port'] },
);

const registrationOptions = perturbed(validRegistrationOptions, AUTO_REGISTER_OPTION_NAMES);

const drainOptions = fc.oneof(fc.constant(undefined), wrongValue, fc.record({ waitMs: fc.oneof(fc.integer({ min: -10, max: 100_000 }), wrongValue) }, { requiredKeys: [] }));

/** Runs `action`; what it throws must be a RollcallError. Returns whether it threw. */
function throwsOnlyRollcallErrors(action: () => unknown): boolean {
  try {
    action();
    return false;
  } catch (error) {
    expect(isRollcallError(error), inspect(error)).toBe(true);
    return true;
  }
}

async function settlesOnlyWithRollcallErrors(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return true;
  } catch (error) {
    expect(isRollcallError(error), inspect(error)).toBe(true);
    return false;
  }
}

describe('registration input', () => {
  it('new Registration(options) builds or throws a RollcallError', () => {
    fc.assert(
      fc.property(registrationOptions, (options) => {
        throwsOnlyRollcallErrors(() => new Registration(options as never));
      }),
      { numRuns: 3_000 },
    );
  });

  it('autoRegister(options) resolves or rejects with a RollcallError; drain(anything) never throws; stop() always resolves', async () => {
    await fc.assert(
      fc.asyncProperty(registrationOptions, drainOptions, async (options, drain) => {
        let pending: Promise<Registration> | undefined;
        expect(throwsOnlyRollcallErrors(() => (pending = autoRegister(options as never)))).toBe(false);
        const registration = await pending?.catch((error: unknown) => {
          expect(isRollcallError(error), inspect(error)).toBe(true);
          return undefined;
        });
        if (registration === undefined) return;
        let draining: Promise<void> | undefined;
        expect(throwsOnlyRollcallErrors(() => (draining = registration.drain(drain as never)))).toBe(false);
        await registration.stop();
        await settlesOnlyWithRollcallErrors(draining as Promise<void>);
        expect(registration.state).toBe('stopped');
      }),
      { numRuns: 600 },
    );
  });
});

describe('lifespan input', () => {
  const validLifespanOptions = fc.record(
    {
      backend: fc.oneof(fc.constant(backend), fc.constant(() => new MemoryBackend())),
      service: fc.constantFrom('orders', 'auth_service'),
      port: fc.integer({ min: 1, max: 65_535 }),
      host: fc.constantFrom('127.0.0.1', 'orders.internal'),
      // Never the 6 s default: a registered lifespan waits that long in shutdown().
      drainWaitMs: fc.integer({ min: 0, max: 5 }),
      resolver: fc.oneof(fc.constant({}), fc.record({ cacheTtlMs: fc.integer({ min: 1, max: 10_000 }) })),
      inFlightTimeoutMs: fc.integer({ min: 0, max: 60_000 }),
      signals: fc.oneof(fc.boolean(), fc.constant(['SIGUSR2'])),
      required: fc.boolean(),
      logger: fc.constant(quietLogger),
      healthChecks: checks,
    },
    { requiredKeys: ['backend', 'service', 'drainWaitMs'] },
  );
  const lifespanOptions = perturbed(validLifespanOptions, LIFESPAN_OPTION_NAMES.filter((name) => name !== 'drainWaitMs'));
  const address = fc.oneof(fc.constant(undefined), wrongValue, fc.record({ port: fc.oneof(fc.integer({ min: 0, max: 70_000 }), wrongValue), address: fc.oneof(fc.constantFrom('0.0.0.0', '127.0.0.1', '::'), wrongValue) }, { requiredKeys: [] }));

  it('lifespan(options) builds or throws a RollcallError; start(anything) and shutdown() settle', async () => {
    await fc.assert(
      fc.asyncProperty(lifespanOptions, address, async (options, bound) => {
        let life: ReturnType<typeof lifespan> | undefined;
        if (throwsOnlyRollcallErrors(() => (life = lifespan(options as never)))) return;
        if (life === undefined) throw new Error('unreachable: lifespan() returned nothing');
        let starting: Promise<unknown> | undefined;
        expect(throwsOnlyRollcallErrors(() => (starting = life?.start(bound as never)))).toBe(false);
        await settlesOnlyWithRollcallErrors(starting as Promise<unknown>);
        await life.shutdown();
        expect(life.state).toBe('stopped');
      }),
      { numRuns: 400 },
    );
  });
});

describe('health check results', () => {
  it('any resolved value maps to a status by the documented rule', () => {
    fc.assert(
      fc.property(checkResult, (result) => {
        const { status } = toReport(result);
        const explicit: unknown =
          typeof result === 'string' ? result : typeof result === 'object' && result !== null && 'status' in result ? (result).status : undefined;
        if (result === false) expect(status).toBe('critical');
        else if (explicit === 'passing' || explicit === 'warning' || explicit === 'critical') expect(status).toBe(explicit);
        else expect(status).toBe('passing');
      }),
      { numRuns: 3_000 },
    );
  });

  it('a round never rejects, whatever the checks do, and reports a valid status for each', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(check, { minLength: 1, maxLength: 4 }), async (checks) => {
        const monitor = new HealthMonitor(
          checks.map((run, index) => [`check${index}`, run] as const),
          { failuresBeforeCritical: 1, successesBeforePassing: 1, timeoutMs: 1_000 },
        );
        await monitor.run();
        const report = monitor.report();
        expect(Object.keys(report.checks)).toHaveLength(checks.length);
        for (const entry of Object.values(report.checks)) {
          expect(['passing', 'warning', 'critical']).toContain(entry.status);
          if (entry.output !== undefined) expect(typeof entry.output).toBe('string');
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('hysteresis from the first round: critical only after N failing rounds in a row, back only after M good ones', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom<HealthStatus>('passing', 'warning', 'critical'), { maxLength: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        async (rounds, failuresBeforeCritical, successesBeforePassing) => {
          let index = 0;
          const monitor = new HealthMonitor([['dependency', () => rounds[index]]], { failuresBeforeCritical, successesBeforePassing, timeoutMs: 1_000 });
          // The specification, stated as a loop: the status before any round is passing.
          let expected: HealthStatus = 'passing';
          let failures = 0;
          let successes = 0;
          for (; index < rounds.length; index++) {
            await monitor.run();
            const observed = rounds[index] as HealthStatus;
            if (observed === 'critical') {
              failures++;
              successes = 0;
              if (failures >= failuresBeforeCritical) expected = 'critical';
            } else {
              successes++;
              failures = 0;
              if (expected !== 'critical' || successes >= successesBeforePassing) expected = observed;
            }
            expect(monitor.status).toBe(expected);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });
});
