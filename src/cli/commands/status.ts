/**
 * `rollcall status [service...]`: every service's health, for people and for scripts: the exit
 * code is 1 when a service has no passing instance, so CI can wait on it or fail on it.
 */
import { INSTANCE_STATUSES, assertServiceName } from '../../core/instance.js';
import { SERVICE_HEALTHS, describeRegistry, describeServices } from '../../inspection/describe.js';
import { EXIT } from '../exit-codes.js';
import { ABSENT, HEALTH_FORMAT, plural, table } from '../format.js';
import type { Command } from '../command.js';

export const statusCommand: Command = {
  name: 'status',
  arguments: '[service...]',
  arity: { min: 0, max: Number.POSITIVE_INFINITY },
  summary: "every service's health; exits 1 when one has no passing instance",
  details: [
    'With service names, only those are read (also where the registry cannot list its services, as',
    'DNS), and a name without instances counts as no-instances. A service whose instances could not',
    'be read (unknown) counts as unhealthy too.',
  ],
  async run(context) {
    const names = [...new Set(context.args)];
    for (const name of names) assertServiceName(name, 'service');
    const { backend } = await context.openRegistry();
    // Named services are read directly: a registry that cannot list its services (DNS) can still tell about them.
    const registry = names.length === 0 ? await describeRegistry(backend, { timeoutMs: context.timeoutMs }) : await describeServices(backend, names, { timeoutMs: context.timeoutMs });
    const { services } = registry;
    const unhealthy = services.filter((service) => service.health !== 'passing').map((service) => service.service);
    const healthCounts = Object.fromEntries(SERVICE_HEALTHS.map((health) => [health, services.filter((s) => s.health === health).length]));

    if (context.json) {
      context.printJson({
        backend: registry.backend,
        readAt: registry.readAt,
        healthy: unhealthy.length === 0,
        unhealthy,
        healthCounts,
        services: services.map(({ service, health, counts, error }) => ({ service, health, counts, ...(error === undefined ? {} : { error }) })),
      });
      return unhealthy.length === 0 ? EXIT.ok : EXIT.unhealthy;
    }

    const { paint } = context;
    if (services.length > 0) {
      const rows = services.map(({ service, health, counts }) => [
        service,
        paint(HEALTH_FORMAT[health], health),
        ...INSTANCE_STATUSES.map((status) => (health === 'unknown' ? ABSENT : String(counts[status]))),
      ]);
      context.print(table(['SERVICE', 'HEALTH', ...INSTANCE_STATUSES.map((s) => s.toUpperCase())], rows, new Set([2, 3, 4, 5])));
      for (const { service, error } of services) {
        if (error !== undefined) context.note(`${service}: could not read its instances: ${error.message}`);
      }
      context.print('\n');
    }
    const summary = SERVICE_HEALTHS.filter((health) => (healthCounts[health] ?? 0) > 0).map((health) => `${healthCounts[health]} ${paint(HEALTH_FORMAT[health], health)}`);
    const verdict =
      services.length === 0
        ? `the registry lists no service (${context.registryLabel()})`
        : unhealthy.length === 0
          ? paint('green', 'all healthy')
          : paint(['red', 'bold'], `${plural(unhealthy.length, 'service')} without a passing instance: ${unhealthy.join(', ')}`);
    context.print(`${services.length === 0 ? '' : `${plural(services.length, 'service')}: ${summary.join(', ')}; `}${verdict}\n`);
    return unhealthy.length === 0 ? EXIT.ok : EXIT.unhealthy;
  },
};
