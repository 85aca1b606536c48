/**
 * rollcall with NestJS: two Nest apps sharing one registry. `inventory` imports
 * `RollcallModule.forRoot()`; `orders` builds its options from a provider with `forRootAsync()` and
 * serves `/health` with @nestjs/terminus and `RollcallHealthIndicator`. `orders` calls `inventory`
 * through the injected resolver; neither knows the other's port.
 *
 *   node --import tsx examples/nest/main.ts          # serve until Ctrl-C
 *   node --import tsx examples/nest/main.ts --once   # one call, a graceful shutdown, exit
 *
 * The in-process memory registry stands in for Redis or Consul so that this runs anywhere.
 */
import 'reflect-metadata';
import { Controller, Get, Inject, Module, Param, ServiceUnavailableException, type INestApplication, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { MemoryBackend, MemoryRegistry, ServiceUnavailableError, instanceOrigin, type Resolver } from '../../src/index.js';
import {
  ROLLCALL_LIFESPAN,
  ROLLCALL_RESOLVER,
  RollcallHealthIndicator,
  RollcallModule,
  type RollcallHandle,
  type RollcallOptions,
} from '../../src/integrations/nest/index.js';

const once = process.argv.includes('--once');
const say = (text: string): void => console.log(text);
const registry = new MemoryRegistry();
// Short for the demo. In production keep the default (6000 ms): the callers' cache TTL plus a margin.
const drainWaitMs = 500;

// This repository type-checks its examples with TypeScript's standard decorators, which fit Nest's
// class decorators but not its method and parameter ones: those are applied by hand, each next to
// the line you would write in a Nest app (with experimentalDecorators on).
function method(prototype: object, name: string): PropertyDescriptor {
  const descriptor = Object.getOwnPropertyDescriptor(prototype, name);
  if (descriptor === undefined) throw new Error(`no method ${name}`);
  return descriptor;
}

// ── inventory ──────────────────────────────────────────────────────────────────────────────────
@Controller('stock')
class StockController {
  show(sku: string): { sku: string; available: number } {
    return { sku, available: 7 };
  }
}
Get(':sku')(StockController.prototype, 'show', method(StockController.prototype, 'show')); // @Get(':sku')
Param('sku')(StockController.prototype, 'show', 0); // show(@Param('sku') sku: string)

@Module({
  imports: [RollcallModule.forRoot({ backend: new MemoryBackend({ registry }), service: 'inventory', drainWaitMs })],
  controllers: [StockController],
})
class InventoryModule {}

// ── orders ─────────────────────────────────────────────────────────────────────────────────────
class InventoryClient {
  constructor(private readonly resolver: Resolver) {}

  async stock(sku: string): Promise<{ available: number; at: string }> {
    const url = await this.resolver.resolveUrl('inventory', `/stock/${sku}`);
    const { available } = (await (await fetch(url)).json()) as { available: number };
    return { available, at: new URL(url).host };
  }
}
Inject(ROLLCALL_RESOLVER)(InventoryClient, undefined, 0); // constructor(@Inject(ROLLCALL_RESOLVER) resolver: Resolver)

@Controller('orders')
class OrdersController {
  constructor(private readonly inventory: InventoryClient) {}

  async show(id: string): Promise<Record<string, unknown>> {
    try {
      const stock = await this.inventory.stock('apple');
      return { order: id, sku: 'apple', available: stock.available, inventoryAt: stock.at };
    } catch (error) {
      if (error instanceof ServiceUnavailableError) throw new ServiceUnavailableException({ error: 'inventory unavailable', detail: error.message });
      throw error;
    }
  }
}
Inject(InventoryClient)(OrdersController, undefined, 0); // constructor(@Inject(InventoryClient) inventory)
Get(':id')(OrdersController.prototype, 'show', method(OrdersController.prototype, 'show')); // @Get(':id')
Param('id')(OrdersController.prototype, 'show', 0); // show(@Param('id') id: string)

// 200 with rollcall's details while registered and passing; 503 when critical or draining.
@Controller('health')
class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly rollcall: RollcallHealthIndicator,
  ) {}

  check(): Promise<unknown> {
    return this.health.check([() => this.rollcall.isHealthy('rollcall')]);
  }
}
Inject(HealthCheckService)(HealthController, undefined, 0); // constructor(health: HealthCheckService,
Inject(RollcallHealthIndicator)(HealthController, undefined, 1); //   rollcall: RollcallHealthIndicator)
Get()(HealthController.prototype, 'check', method(HealthController.prototype, 'check')); // @Get()

// Where an app's settings come from (a ConfigService, say); forRootAsync builds the options from it.
@Module({ providers: [{ provide: 'SETTINGS', useValue: { service: 'orders', drainWaitMs } }], exports: ['SETTINGS'] })
class SettingsModule {}

@Module({
  imports: [
    TerminusModule,
    RollcallModule.forRootAsync({
      imports: [SettingsModule],
      inject: ['SETTINGS'],
      useFactory: (settings: { service: string; drainWaitMs: number }): RollcallOptions => ({ backend: new MemoryBackend({ registry }), ...settings }),
    }),
  ],
  controllers: [OrdersController, HealthController],
  providers: [InventoryClient],
})
class OrdersModule {}

// ── both ───────────────────────────────────────────────────────────────────────────────────────
async function start(name: string, module: Type): Promise<{ app: INestApplication; origin: string }> {
  const app = await NestFactory.create(module, { logger: ['warn', 'error'] });
  // Nest runs the shutdown hooks (drain, then deregister) on SIGTERM/SIGINT only with this.
  if (!once) app.enableShutdownHooks();
  // Port 0: the OS picks a free port, and rollcall registers the one actually bound.
  await app.listen(0, '127.0.0.1');
  const registration = await app.get<RollcallHandle>(ROLLCALL_LIFESPAN).ready();
  if (registration === undefined) throw new Error(`${name} did not register`);
  const origin = instanceOrigin(registration.instance);
  say(`${name} listening on ${origin}, registered as ${registration.instance.id}`);
  return { app, origin };
}

async function main(): Promise<void> {
  const inventory = await start('inventory', InventoryModule);
  const orders = await start('orders', OrdersModule);
  const ordersUrl = `${orders.origin}/orders/42`;

  if (!once) {
    say(`\nTry:\n  curl ${ordersUrl}\n  curl ${orders.origin}/health\nCtrl-C drains and stops both.`);
    return;
  }
  const answer = await fetch(ordersUrl);
  say(`GET /orders/42 → ${answer.status} ${await answer.text()}`);
  const health = await fetch(`${orders.origin}/health`);
  const rollcall = ((await health.json()) as { info: { rollcall: { status: string; registration: string } } }).info.rollcall;
  say(`GET /health → ${health.status} rollcall ${rollcall.status} (${rollcall.registration})`);

  say('closing inventory: drain → wait → finish in-flight → deregister');
  await inventory.app.close();
  say(`inventory instances left: ${(await orders.app.get<RollcallHandle>(ROLLCALL_LIFESPAN).backend.instances('inventory')).length}`);
  const without = await fetch(ordersUrl);
  say(`GET /orders/42 → ${without.status} ${await without.text()}`);
  await orders.app.close();
  say('orders closed. Done.');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
