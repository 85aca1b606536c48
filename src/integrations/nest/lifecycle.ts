/**
 * Maps Nest's lifecycle onto the lifespan. Nest has no "listening" hook, so bootstrap waits for
 * the HTTP server's own `listening` event and registers the port it really bound. Shutdown:
 * `beforeApplicationShutdown` drains (the server still serves), Nest then closes the server and
 * lets in-flight requests finish, and `onApplicationShutdown` deregisters and closes what
 * rollcall created. Nest calls these only on `app.close()`, or on signals once
 * `app.enableShutdownHooks()` was called.
 */
import { Server } from 'node:net';
import type { BeforeApplicationShutdown, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { boundAddress, whenListening } from '../address.js';
import type { Lifespan } from '../lifespan.js';

/** The provider carrying rollcall's lifecycle hooks; created by `RollcallModule`. */
export class RollcallLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly #life: Lifespan;
  readonly #adapterHost: HttpAdapterHost;
  #cancel: (() => void) | undefined;

  constructor(life: Lifespan, adapterHost: HttpAdapterHost) {
    this.#life = life;
    this.#adapterHost = adapterHost;
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
