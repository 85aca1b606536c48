/**
 * `rollcall resolve <service>`: what a resolver in this environment would answer for the
 * service, and which tier answered: the registry, or the environment (`ORDERS_URL`) when the
 * registry fails or lists nothing usable. When nothing answers, every tier tried and why.
 */
import { InvalidArgumentError, ServiceUnavailableError, type TierAttempt } from '../../core/errors.js';
import { assertServiceName, instanceOrigin, type ServiceInstance } from '../../core/instance.js';
import { defaultEnvVariable } from '../../resolution/env-fallback.js';
import { createResolver, type DegradedEvent, type WarningPolicy } from '../../resolution/resolver.js';
import { EXIT } from '../exit-codes.js';
import { STATUS_FORMAT, plural, table } from '../format.js';
import { booleanValue, stringValue } from '../options.js';
import type { Command } from '../command.js';

const WARNING_POLICIES: readonly WarningPolicy[] = ['include', 'fallback', 'exclude'];

/** What `resolve` reports: an answer and where it came from, or the tiers that gave none. */
type Resolution =
  | { readonly answered: true; readonly tier: 'registry' | 'stale' | 'env'; readonly instance: ServiceInstance; readonly eligible: readonly ServiceInstance[]; readonly listed: number; readonly reason?: string | undefined }
  | { readonly answered: false; readonly attempts: readonly TierAttempt[] };

export const resolveCommand: Command = {
  name: 'resolve',
  arguments: '<service>',
  arity: { min: 1, max: 1 },
  summary: 'what a resolver here would answer, and from which tier (registry or environment)',
  details: [
    'A fresh resolver with the defaults of createResolver() asks the registry; passing instances',
    'are eligible (warning ones too when none passes, see --warning), critical and draining never.',
    'When the registry fails or lists none eligible, the environment tier reads ORDERS_URL for',
    'orders (upper case, - and . as _) from this shell\'s environment: run it where the callers run.',
    'Exits 1 when no tier names an instance, listing each tier and why.',
  ],
  async run(context) {
    const [service] = context.args as [string];
    assertServiceName(service, 'service');
    const warning = stringValue(context.values, 'warning') ?? 'fallback';
    if (!(WARNING_POLICIES as readonly string[]).includes(warning)) {
      throw new InvalidArgumentError('--warning', WARNING_POLICIES.join(', '), warning);
    }
    const useEnv = booleanValue(context.values, 'env') ?? true;
    const variable = defaultEnvVariable(service);
    const { backend } = await context.openRegistry();
    const resolution = await resolveOnce(backend, service, {
      warning: warning as WarningPolicy,
      env: useEnv ? { env: context.io.env } : false,
      timeoutMs: context.timeoutMs,
    });

    if (context.json) {
      context.printJson({ service, ...resolution, warningPolicy: warning, envVariable: useEnv ? variable : null });
      return resolution.answered ? EXIT.ok : EXIT.unhealthy;
    }
    const { paint } = context;
    if (!resolution.answered) {
      context.print(`${service}: ${paint(['red', 'bold'], 'no instance available')}\n`);
      context.print(table(['TIER', 'WHY IT GAVE NO ANSWER'], resolution.attempts.map(({ tier, reason }) => [tier, reason])));
      return EXIT.unhealthy;
    }
    const { tier, instance, eligible, listed, reason } = resolution;
    const source = tier === 'env' ? `the environment ($${variable})` : tier === 'stale' ? 'stale cache' : 'the registry';
    context.print(`${service} → ${instanceOrigin(instance)}${tier === 'env' ? '' : ` (${instance.id})`}\n`);
    context.print(`answered by ${source}: ${plural(eligible.length, 'eligible instance')}${tier === 'env' ? '' : ` of ${listed} listed`} (warning instances: ${warning})\n`);
    if (reason !== undefined) context.print(`${paint('yellow', 'degraded')}: ${reason}\n`);
    context.print('\n');
    context.print(table(['ID', 'ADDRESS', 'STATUS'], eligible.map((e) => [e.id, instanceOrigin(e), paint(STATUS_FORMAT[e.status], e.status)])));
    return EXIT.ok;
  },
};

async function resolveOnce(
  backend: Parameters<typeof createResolver>[0]['backend'],
  service: string,
  settings: { warning: WarningPolicy; env: false | { env: Readonly<Record<string, string | undefined>> }; timeoutMs: number },
): Promise<Resolution> {
  // No watch: one answer is all this command needs.
  const resolver = createResolver({ backend, watch: false, warning: settings.warning, envFallback: settings.env, registryTimeoutMs: settings.timeoutMs });
  let degraded: DegradedEvent | undefined;
  resolver.on('degraded', (event) => (degraded = event));
  try {
    const instance = await resolver.resolve(service);
    const status = resolver.status(service);
    return {
      answered: true,
      tier: status === undefined || status.source === 'cache' ? 'registry' : status.source,
      instance,
      eligible: status?.instances ?? [instance],
      listed: status?.listed ?? 1,
      ...(degraded === undefined ? {} : { reason: degraded.reason }),
    };
  } catch (error) {
    if (error instanceof ServiceUnavailableError) return { answered: false, attempts: error.attempts };
    throw error;
  } finally {
    await resolver.close();
  }
}
