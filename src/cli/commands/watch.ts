/**
 * `rollcall watch <service>`: the service's instances, then every change as it happens, until
 * Ctrl-C. Humans get one timestamped line per change; `--json` gives one JSON object per line
 * (`snapshot`, then `added` / `removed` / `changed`, and `error` / `resumed` around registry loss).
 */
import { assertServiceName, instanceOrigin, type ServiceInstance } from '../../core/instance.js';
import { messageOf } from '../../core/errors.js';
import { describeFields, diffInstances, type InstanceChange } from '../changes.js';
import { EXIT } from '../exit-codes.js';
import { STATUS_FORMAT, countStatuses, formatCounts, formatTime, plural, type Paint } from '../format.js';
import { followService, untilInterrupted } from '../follow.js';
import type { Command, CommandContext } from '../command.js';

export const watchCommand: Command = {
  name: 'watch',
  arguments: '<service>',
  arity: { min: 1, max: 1 },
  summary: "print a service's instances, then every change live, until Ctrl-C",
  details: [
    'Changes come from the registry\'s own watch (Redis pub/sub, Consul blocking queries): an',
    'instance added, removed (deregistered or expired) or changed (status, address, zone, version,',
    'weight, tags, meta). A lost registry is reported and retried; on its return the differences',
    'are printed. With --json: one object per line, {"type": "snapshot" | "added" | "removed" |',
    '"changed" | "error" | "resumed", "at", "service", ...}. Exits 0 on Ctrl-C.',
  ],
  async run(context) {
    const [service] = context.args as [string];
    assertServiceName(service, 'service');
    const { backend } = await context.openRegistry();
    // One read first, so an unreachable registry fails the command instead of being retried.
    let current: readonly ServiceInstance[] = await backend.instances(service);
    const out = output(context, service);
    out.snapshot(current);
    let lost = false;
    const stop = followService(backend, service, {
      onChange(instances) {
        if (lost) out.resumed();
        lost = false;
        for (const change of diffInstances(current, instances)) out.change(change);
        current = instances;
      },
      onError(error) {
        if (lost) return;
        lost = true;
        out.error(error);
      },
    });
    try {
      await untilInterrupted(context.io.interrupted);
    } finally {
      stop();
    }
    return EXIT.ok;
  },
};

interface WatchOutput {
  snapshot(instances: readonly ServiceInstance[]): void;
  change(change: InstanceChange): void;
  error(error: Error): void;
  resumed(): void;
}

function output(context: CommandContext, service: string): WatchOutput {
  if (context.json) {
    const line = (type: string, fields: object): void => context.print(`${JSON.stringify({ type, at: Date.now(), service, ...fields })}\n`);
    return {
      snapshot: (instances) => line('snapshot', { instances }),
      change: (change) => line(change.type, change.type === 'changed' ? { instance: change.instance, previous: change.previous, fields: change.fields } : { instance: change.instance }),
      error: (error) => line('error', { message: messageOf(error) }),
      resumed: () => line('resumed', {}),
    };
  }
  const { paint } = context;
  const line = (text: string): void => context.print(`${paint('dim', formatTime(Date.now()))}  ${text}\n`);
  context.note(`watching ${service} on ${context.registryLabel()}; Ctrl-C to stop`);
  return {
    snapshot(instances) {
      line(instances.length === 0 ? `${service}: no instance listed yet` : `${service}: ${plural(instances.length, 'instance')}, ${formatCounts(countStatuses(instances), paint)}`);
      for (const instance of instances) line(`${paint('green', '+')} ${describe(instance, paint)}`);
    },
    change(change) {
      if (change.type === 'added') line(`${paint('green', '+')} ${describe(change.instance, paint)}`);
      else if (change.type === 'removed') line(`${paint('red', '-')} ${change.instance.id}  removed (deregistered or expired)`);
      else line(`${paint('yellow', '~')} ${change.instance.id}  ${describeFields(change)}`);
    },
    error: (error) => line(paint('red', `! lost the registry: ${messageOf(error)}; retrying`)),
    resumed: () => line(paint('green', '✓ the registry is back')),
  };
}

function describe(instance: ServiceInstance, paint: Paint): string {
  return `${instance.id}  ${instanceOrigin(instance)}  ${paint(STATUS_FORMAT[instance.status], instance.status)}`;
}
