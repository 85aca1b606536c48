/**
 * `rollcall dashboard`: a local web page of the registry, updated live, until Ctrl-C. See
 * src/dashboard for the page and its server.
 */
import { LiveRegistry } from '../../dashboard/live-registry.js';
import { startDashboardServer, type DashboardServer } from '../../dashboard/server.js';
import { CliError, EXIT } from '../exit-codes.js';
import { untilInterrupted } from '../follow.js';
import type { ServiceInstance } from '../../core/instance.js';
import { deregisterAndConfirm, instanceArguments, listedInstance } from '../deregistration.js';
import { DEFAULT_DASHBOARD_PORT, booleanValue, integerValue, stringValue } from '../options.js';
import type { Command } from '../command.js';

export const dashboardCommand: Command = {
  name: 'dashboard',
  arguments: '',
  arity: { min: 0, max: 0 },
  summary: 'a live web page of every service, its instances and their status, until Ctrl-C',
  details: [
    `Serves http://127.0.0.1:${DEFAULT_DASHBOARD_PORT}/ (see --port, --host). The page updates itself through`,
    'server-sent events as the registry\'s watches report changes; new services appear within two',
    'seconds. It also shows what a resolver answers for services it cannot serve from the',
    'registry (stale cache, the environment, or nothing), and the recent changes. Read-only unless',
    '--allow-deregister, which adds a button per instance (asks first, then reads the service back',
    'as rollcall deregister does). It needs no build step and nothing from the network.',
    'GET /api/view gives the same picture as JSON.',
  ],
  async run(context) {
    const port = integerValue(context.values, 'port', DEFAULT_DASHBOARD_PORT, 0, 65_535);
    const host = stringValue(context.values, 'host') ?? '127.0.0.1';
    const registry = await context.openRegistry();
    const { backend } = registry;
    const live = new LiveRegistry({ backend, heartbeats: registry.heartbeats, label: context.registryLabel(), timeoutMs: context.timeoutMs, env: context.io.env });
    const deregister = async (service: unknown, id: unknown): Promise<ServiceInstance> => {
      const ref = instanceArguments(service, id);
      const instance = await listedInstance(backend, ref.service, ref.id, context.registryLabel());
      await deregisterAndConfirm(backend, ref.service, ref.id);
      return instance;
    };
    let server: DashboardServer | undefined;
    try {
      await live.start();
      const allowDeregister = booleanValue(context.values, 'allow-deregister') === true;
      server = await startDashboardServer({ live, host, port, ...(allowDeregister ? { deregister } : {}) }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') throw new CliError(EXIT.usage, `port ${port} is in use: choose another with --port (0 for any free one)`, { cause: error });
        if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') throw new CliError(EXIT.usage, `cannot listen on ${host}: not an address of this machine (--host)`, { cause: error });
        throw error;
      });
      if (context.json) context.print(`${JSON.stringify({ url: server.url })}\n`);
      else {
        context.print(`rollcall dashboard: ${server.url}\n`);
        context.note(`showing ${context.registryLabel()}; Ctrl-C to stop`);
      }
      await untilInterrupted(context.io.interrupted);
    } finally {
      await server?.close();
      await live.close();
    }
    return EXIT.ok;
  },
};
