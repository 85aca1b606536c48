/**
 * The opt-in status route shared by the framework integrations: where it lives by default, and
 * the answer for plain `node:http` handlers (Express, Nest on Express or Fastify).
 */
import type { ServerResponse } from 'node:http';
import type { StatusReader } from '../observability/status.js';

/** Where `statusRoute: true` serves the status view. */
export const DEFAULT_STATUS_PATH = '/rollcall/status';

/** Writes the status view as JSON, never cached; `HEAD` gets the headers only. */
export async function sendStatus(read: StatusReader, response: ServerResponse, head: boolean): Promise<void> {
  const json = JSON.stringify(await read());
  response.writeHead(200, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-store',
  });
  response.end(head ? undefined : json);
}
