/**
 * Demo upstream services for the gateway: plain `node:http` servers that register through
 * rollcall's framework-free `lifespan()` and echo what reached them, so the output shows which
 * instance served each call and what the gateway forwarded.
 */
import { createServer } from 'node:http';
import { lifespan, type Lifespan } from '../../src/integrations/lifespan.js';
import type { Registry } from './registry.js';

export interface Upstream {
  readonly name: string;
  readonly life: Lifespan;
}

/** Starts one instance of `service` named `name` on a free port and waits until it is registered. */
export async function startUpstream(registry: Registry, service: string, name: string, drainWaitMs: number): Promise<Upstream> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.stringify({
        servedBy: name,
        method: request.method,
        url: request.url,
        prefix: request.headers['x-forwarded-prefix'],
        body: chunks.length === 0 ? undefined : Buffer.concat(chunks).toString(),
      });
      response.writeHead(request.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' });
      response.end(body);
    });
  });
  const life = lifespan({ backend: () => registry.connect(), service, id: name, drainWaitMs }).attach(server);
  server.listen(0, '127.0.0.1');
  await life.ready();
  return { name, life };
}
