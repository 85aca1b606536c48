/** `rollcall instances <service>`: one service's instances, as the registry lists them. */
import { assertServiceName, instanceOrigin } from '../../core/instance.js';
import { CliError, EXIT } from '../exit-codes.js';
import { ABSENT, STATUS_FORMAT, countStatuses, formatAge, formatCounts, plural, table } from '../format.js';
import type { Command } from '../command.js';

export const instancesCommand: Command = {
  name: 'instances',
  arguments: '<service>',
  arity: { min: 1, max: 1 },
  summary: "a service's instances: address, status, zone, version, age, last heartbeat",
  details: [
    'AGE counts from the instance\'s registration. LAST HEARTBEAT is when it last renewed its lease',
    '(Redis records it; Consul does not, so it shows -). Exits 5 when the registry lists no instance.',
  ],
  async run(context) {
    const [service] = context.args as [string];
    assertServiceName(service, 'service');
    const registry = await context.openRegistry();
    const instances = [...(await registry.backend.instances(service))].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const readAt = Date.now();
    if (instances.length === 0) {
      throw new CliError(EXIT.notFound, `the registry lists no instance of ${service} (${context.registryLabel()}); see rollcall services`);
    }
    const heartbeats = registry.heartbeats === undefined ? new Map<string, number>() : await registry.heartbeats(service);
    const counts = countStatuses(instances);
    if (context.json) {
      context.printJson({
        service,
        readAt,
        counts,
        instances: instances.map((instance) => ({ ...instance, lastHeartbeatAt: heartbeats.get(instance.id) ?? null })),
      });
      return EXIT.ok;
    }
    const { paint } = context;
    const rows = instances.map((instance) => {
      const heartbeat = heartbeats.get(instance.id);
      return [
        instance.id,
        instanceOrigin(instance),
        paint(STATUS_FORMAT[instance.status], instance.status),
        instance.zone ?? ABSENT,
        instance.version ?? ABSENT,
        formatAge(readAt - instance.registeredAt),
        heartbeat === undefined ? ABSENT : `${formatAge(readAt - heartbeat)} ago`,
      ];
    });
    context.print(table(['ID', 'ADDRESS', 'STATUS', 'ZONE', 'VERSION', 'AGE', 'LAST HEARTBEAT'], rows));
    context.print(`\n${service}: ${plural(instances.length, 'instance')}, ${formatCounts(counts, paint)}\n`);
    return EXIT.ok;
  },
};
