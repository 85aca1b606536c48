/**
 * `rollcall deregister <service> <id>`: removes one instance from the registry, after showing it
 * and asking (unless `--yes`), then reads the service again to prove it is gone (see
 * deregistration.ts).
 */
import { instanceOrigin } from '../../core/instance.js';
import { deregisterAndConfirm, instanceArguments, listedInstance } from '../deregistration.js';
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
    const { service, id } = instanceArguments(context.args[0], context.args[1]);
    const { backend } = await context.openRegistry();
    const target = await listedInstance(backend, service, id, context.registryLabel());
    if (booleanValue(context.values, 'yes') !== true) {
      const shown = `${service}/${id} at ${instanceOrigin(target)} (${target.status}, registered ${formatAge(Date.now() - target.registeredAt)} ago)`;
      if (!(await confirm(`Deregister ${shown} from ${context.registryLabel()}?`, context.io.stdin, context.io.stderr))) {
        throw new CliError(EXIT.cancelled, `${service}/${id} was not deregistered`);
      }
    }
    await deregisterAndConfirm(backend, service, id);
    if (context.json) context.printJson({ deregistered: { service, id }, instance: target });
    else context.print(`deregistered ${service}/${id} (was ${context.paint(STATUS_FORMAT[target.status], target.status)} at ${instanceOrigin(target)})\n`);
    return EXIT.ok;
  },
};
