/**
 * Typed events on Node's own `EventEmitter`. Event maps are written as listener signatures
 * (`{ degraded: (event: DegradedEvent) => void }`), which read well in documentation; Node's
 * emitter wants the argument lists, derived here. Being a real `node:events` emitter is what
 * makes `events.once(resolver, 'recovered')` and `events.on(...)` type-check and work.
 */

/** The argument list of each event of a listener-signature event map. */
export type EventArguments<Events> = { [Name in keyof Events]: Events[Name] extends (...args: infer Args) => void ? Args : never };
