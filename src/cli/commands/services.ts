/** `rollcall services`: every service the registry lists, with its health and instance counts. */
import { describeRegistry } from '../../inspection/describe.js';
import { EXIT } from '../exit-codes.js';
import { ABSENT, HEALTH_FORMAT, plural, table } from '../format.js';
import type { Command } from '../command.js';

export const servicesCommand: Command = {
  name: 'services',
  arguments: '',
  arity: { min: 0, max: 0 },
  summary: 'every service with its health and instance counts',
  details: [
    'Health is the best status among a service\'s instances: passing, warning, critical (listed, none',
    'usable), no-instances, or unknown (its instances could not be read; the reason is shown).',
  ],
  async run(context) {
    const { backend } = await context.openRegistry();
    const registry = await describeRegistry(backend, { timeoutMs: context.timeoutMs });
    if (context.json) {
      context.printJson({
        backend: registry.backend,
        readAt: registry.readAt,
        services: registry.services.map(({ service, health, instances, counts, error }) => ({
          service,
          health,
          instances: instances.length,
          counts,
          ...(error === undefined ? {} : { error }),
        })),
      });
      return EXIT.ok;
    }
    if (registry.services.length === 0) {
      context.print(`the registry lists no service (${context.registryLabel()})\n`);
      return EXIT.ok;
    }
    const { paint } = context;
    const rows = registry.services.map(({ service, health, instances, counts }) => [
      service,
      paint(HEALTH_FORMAT[health], health),
      health === 'unknown' ? ABSENT : String(instances.length),
      health === 'unknown' ? ABSENT : String(counts.passing),
    ]);
    context.print(table(['SERVICE', 'HEALTH', 'INSTANCES', 'PASSING'], rows, new Set([2, 3])));
    for (const { service, error } of registry.services) {
      if (error !== undefined) context.note(`${service}: could not read its instances: ${error.message}`);
    }
    context.print(`\n${plural(registry.services.length, 'service')}, ${plural(registry.services.reduce((sum, s) => sum + s.instances.length, 0), 'instance')}\n`);
    return EXIT.ok;
  },
};
