/**
 * Maps Nest's lifecycle onto the lifespan. Nest has no "listening" hook, so bootstrap waits for
 * the HTTP server's own `listening` event and registers the port it really bound. Shutdown:
 * `beforeApplicationShutdown` drains (the server still serves), Nest then closes the server and
 * lets in-flight requests finish, and `onApplicationShutdown` deregisters and closes what
 * rollcall created. Nest calls these only on `app.close()`, or on signals once
 * `app.enableShutdownHooks()` was called.
 */
import { Server } from 'node:net';
import type { BeforeApplicationShutdown, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { boundAddress, whenListening } from '../address.js';
import type { Lifespan } from '../lifespan.js';
import { statusReader } from '../../observability/status.js';

/** The provider carrying rollcall's lifecycle hooks; created by `RollcallModule`. */
export class RollcallLifecycle implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly #life: Lifespan;
  readonly #adapterHost: HttpAdapterHost;
  readonly #statusRoute: string | undefined;
  #cancel: (() => void) | undefined;

  constructor(life: Lifespan, adapterHost: HttpAdapterHost, statusRoute?: string) {
    this.#life = life;
    this.#adapterHost = adapterHost;
    this.#statusRoute = statusRoute;
  }

  /** Adds the status route, before Nest's own not-found handler; without an HTTP adapter there is nowhere to serve it. */
  onModuleInit(): void {
    const adapter = this.#adapterHost.httpAdapter;
    if (this.#statusRoute === undefined || adapter === undefined || adapter === null) return;
    const life = this.#life;
    const read = statusReader({ resolver: life.resolver, backend: life.backend, registration: () => life.registration });
    adapter.get(this.#statusRoute, (_request: unknown, response: unknown) => {
      void read().then(
        (view) => {
          adapter.setHeader(response, 'cache-control', 'no-store');
          adapter.reply(response, view, 200);
        },
        (error: unknown) => {
          adapter.reply(response, { statusCode: 500, message: error instanceof Error ? error.message : 'status view failed' }, 500);
        },
      );
    });
  }

  onApplicationBootstrap(): void {
    // Undefined in an application context (no HTTP): a worker registers only with an explicit port.
    const server: unknown = this.#adapterHost.httpAdapter?.getHttpServer();
    if (server instanceof Server) {
      this.#cancel = whenListening(server, () => {
        this.#life.start(boundAddress(server)).catch(() => {});
      });
    } else {
      this.#life.start().catch(() => {});
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.#life.drain();
  }

  async onApplicationShutdown(): Promise<void> {
    this.#cancel?.();
    await this.#life.stop();
  }
}
