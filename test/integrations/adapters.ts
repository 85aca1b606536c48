/**
 * The framework adapters under test, each building the same app its own way: rollcall set up on
 * given options, GET routes answering text, listening on loopback. The shared suite
 * (adapter-suite.ts) and the Redis tests run every one of them.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import express from 'express';
import express4 from 'express4';
import Fastify from 'fastify';
import { lifespan, type RollcallHandle, type RollcallOptions } from '../../src/index.js';
import { attach, healthRouter } from '../../src/integrations/express.js';
import { rollcall } from '../../src/integrations/fastify.js';
import { ROLLCALL_LIFESPAN, RollcallModule } from '../../src/integrations/nest/index.js';

/** A GET route's answer: a text body, 200. */
export type Route = () => string | Promise<string>;

export interface AppSetup {
  /** rollcall's options; `signals` only for adapters that take it. */
  readonly options: RollcallOptions & { readonly signals?: boolean };
  /** GET routes by path. */
  readonly routes?: Readonly<Record<string, Route>>;
  /** Where to listen. @default '127.0.0.1' */
  readonly host?: string;
}

export interface RunningApp {
  readonly server: Server;
  /** The port the server bound. */
  readonly port: number;
  readonly handle: RollcallHandle;
  /** Shuts the app down the framework's way: `app.close()` for Fastify and Nest, `shutdown()` otherwise. */
  close(): Promise<unknown>;
}

export interface FrameworkAdapter {
  readonly name: string;
  /** The path of the health route the adapter serves, if it serves one. */
  readonly healthPath?: string;
  /** Whether the adapter takes the `signals` option. */
  readonly signals: boolean;
  /** Builds the app and waits until it listens (not until it registered: see `handle.ready()`). */
  start(setup: AppSetup): Promise<RunningApp>;
}

const LOOPBACK = '127.0.0.1';

function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}

async function listening(server: Server): Promise<void> {
  if (!server.listening) await once(server, 'listening');
}

/** lifespan() on a plain node:http server. */
export const nodeHttp: FrameworkAdapter = {
  name: 'lifespan() on node:http',
  signals: true,
  async start({ options, routes = {}, host = LOOPBACK }) {
    const server = createServer((request, response) => {
      const route = routes[new URL(request.url ?? '/', 'http://app').pathname];
      if (route === undefined) {
        response.statusCode = 404;
        response.end();
        return;
      }
      void Promise.resolve(route()).then((body) => response.end(body));
    });
    const life = lifespan(options).attach(server);
    server.listen(0, host);
    await listening(server);
    return { server, port: portOf(server), handle: life, close: () => life.shutdown() };
  },
};

/** The rollcall plugin in Fastify, serving `/health`. */
export const fastify: FrameworkAdapter = {
  name: 'rollcall/fastify',
  healthPath: '/health',
  signals: true,
  async start({ options, routes = {}, host = LOOPBACK }) {
    // Served during the drain wait, as docs/frameworks.md advises: the drain tells callers to go.
    const app = Fastify({ return503OnClosing: false });
    await app.register(rollcall, { ...options, healthRoute: true });
    for (const [path, route] of Object.entries(routes)) app.get(path, route);
    await app.listen({ port: 0, host });
    return { server: app.server, port: portOf(app.server), handle: app.rollcall, close: () => app.close() };
  },
};

function expressAdapter(name: string, framework: typeof express): FrameworkAdapter {
  return {
    name,
    healthPath: '/health',
    signals: true,
    async start({ options, routes = {}, host = LOOPBACK }) {
      const app = framework();
      for (const [path, route] of Object.entries(routes)) {
        app.get(path, (_request, response, next) => {
          void Promise.resolve(route()).then((body) => response.send(body), next);
        });
      }
      const server = app.listen(0, host);
      const life = attach(server, options);
      app.use(healthRouter(life));
      await listening(server);
      return { server, port: portOf(server), handle: life, close: () => life.shutdown() };
    },
  };
}

/** attach() and healthRouter() in Express 5 and in Express 4. */
export const express5 = expressAdapter('rollcall/express with Express 5', express);
export const express4Adapter = expressAdapter('rollcall/express with Express 4', express4);

/** RollcallModule in a NestJS app (Express platform). */
export const nest: FrameworkAdapter = {
  name: 'rollcall/nest',
  signals: false,
  async start({ options, routes = {}, host = LOOPBACK }) {
    const app = await NestFactory.create({ module: class AppModule {}, imports: [RollcallModule.forRoot(options)] }, { logger: false });
    for (const [path, route] of Object.entries(routes)) {
      app.getHttpAdapter().get(path, (_request: unknown, response: { send(body: string): void }) => {
        void Promise.resolve(route()).then((body) => response.send(body));
      });
    }
    await app.listen(0, host);
    const server = app.getHttpServer() as Server;
    return { server, port: portOf(server), handle: app.get<RollcallHandle>(ROLLCALL_LIFESPAN), close: () => app.close() };
  },
};

/** Every adapter, in the order the suites run them. */
export const ADAPTERS: readonly FrameworkAdapter[] = [nodeHttp, fastify, express5, express4Adapter, nest];
