/**
 * `rollcall deregister <service> <id>`: removes one instance from the registry, after showing it
 * and asking (unless `--yes`), then reads the service again to prove it is gone. A registry may
 * accept the call and keep the instance (a Consul agent only deregisters services registered
 * with it); that is reported, never passed off as done.
 */
import { InvalidArgumentError } from '../../core/errors.js';
import { INSTANCE_ID_PATTERN, assertServiceName, instanceOrigin } from '../../core/instance.js';
import { CliError, EXIT } from '../exit-codes.js';
import { STATUS_FORMAT, formatAge } from '../format.js';
import { confirm } from '../confirm.js';
import { booleanValue } from '../options.js';
import type { Command } from '../command.js';

export const deregisterCommand: Command = {
  name: 'deregister',
  arguments: '<service> <id>',
  arity: { min: 2, max: 2 },
  summary: 'remove one instance from the registry (asks first unless --yes)',
  details: [
    'Callers stop being sent to the instance as soon as their watch tells them. A process that is',
    'still running registers again at its next heartbeat: stop or drain it instead when you can.',
    'The answer is read from stdin (a terminal or a pipe): only y or yes confirms (exit 6 otherwise).',
    'Redis: each instance belongs to the process that registered it, so a live one is refused',
    '(exit 4) with the time its lease ends. Consul: an agent deregisters only the services',
    'registered with it; point --consul at that agent.',
  ],
  async run(context) {
    const [service, id] = context.args as [string, string];
    assertServiceName(service, 'service');
    if (!INSTANCE_ID_PATTERN.test(id)) {
      throw new InvalidArgumentError('id', 'an instance id of 1-128 characters from A-Z a-z 0-9 . _ : - starting with a letter or digit', id);
    }
    const { backend } = await context.openRegistry();
    const target = (await backend.instances(service)).find((instance) => instance.id === id);
    if (target === undefined) {
      throw new CliError(EXIT.notFound, `the registry lists no instance ${service}/${id} (${context.registryLabel()}); see rollcall instances ${service}`);
    }
    if (booleanValue(context.values, 'yes') !== true) {
      const shown = `${service}/${id} at ${instanceOrigin(target)} (${target.status}, registered ${formatAge(Date.now() - target.registeredAt)} ago)`;
      if (!(await confirm(`Deregister ${shown} from ${context.registryLabel()}?`, context.io.stdin, context.io.stderr))) {
        throw new CliError(EXIT.cancelled, `${service}/${id} was not deregistered`);
      }
    }
    await backend.deregister({ service, id });
    if ((await backend.instances(service)).some((instance) => instance.id === id)) {
      throw new CliError(
        EXIT.refused,
        `the registry accepted the deregistration but still lists ${service}/${id}: it was registered elsewhere (a Consul agent deregisters only the services registered with it) or registered again at once`,
      );
    }
    if (context.json) context.printJson({ deregistered: { service, id }, instance: target });
    else context.print(`deregistered ${service}/${id} (was ${context.paint(STATUS_FORMAT[target.status], target.status)} at ${instanceOrigin(target)})\n`);
    return EXIT.ok;
  },
};
