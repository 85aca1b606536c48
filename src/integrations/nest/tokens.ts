/**
 * Injection tokens of rollcall/nest. Registered symbols (`Symbol.for`), so the ESM and CJS
 * builds of rollcall, if both end up in one app, still name the same providers.
 */

/** The {@link RollcallOptions} the module was configured with. */
export const ROLLCALL_OPTIONS: unique symbol = Symbol.for('rollcall.nest.options');

/** The lifespan (a `RollcallHandle`): `registration`, `health()`, `ready()`, `signal`. */
export const ROLLCALL_LIFESPAN: unique symbol = Symbol.for('rollcall.nest.lifespan');

/** The {@link rollcall!Resolver}. Also injectable by its class: `@Inject(Resolver)`. */
export const ROLLCALL_RESOLVER: unique symbol = Symbol.for('rollcall.nest.resolver');

/** Path of the status route (`statusRoute`), or undefined for none. */
export const ROLLCALL_STATUS_ROUTE: unique symbol = Symbol.for('rollcall.nest.status-route');
