/**
 * Opt-in signal handling. Installed only when asked for, and removed on the first signal so that
 * a second one (an impatient Ctrl-C) gets Node's default behaviour: the process ends at once.
 */
import { constants } from 'node:os';
import { InvalidArgumentError } from '../core/errors.js';

/** Signals handled when signal handling is turned on with `true`. */
export const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

// No process can catch these: Node throws when asked to listen for them.
const UNCATCHABLE: ReadonlySet<string> = new Set(['SIGKILL', 'SIGSTOP']);

function isCatchableSignal(value: unknown): value is NodeJS.Signals {
  return typeof value === 'string' && Object.hasOwn(constants.signals, value) && !UNCATCHABLE.has(value);
}

/** `true` → {@link DEFAULT_SIGNALS}, `false`/absent → none, a list of signal names → that list. */
export function signalList(value: boolean | readonly NodeJS.Signals[] | undefined, field = 'signals'): readonly NodeJS.Signals[] {
  if (value === undefined || value === false) return [];
  if (value === true) return DEFAULT_SIGNALS;
  const list: unknown = value;
  if (!Array.isArray(list) || !list.every(isCatchableSignal)) {
    throw new InvalidArgumentError(field, "a boolean or a list of signal names a process can catch, such as ['SIGTERM']", value);
  }
  return value;
}

/**
 * Runs `onSignal` on the first of `signals`; every handler is removed before it runs.
 * Returns a disposer that removes the handlers if no signal came.
 */
export function onFirstSignal(signals: readonly NodeJS.Signals[], onSignal: (signal: NodeJS.Signals) => void): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    dispose();
    onSignal(signal);
  };
  const dispose = (): void => {
    for (const signal of signals) process.off(signal, handler);
  };
  for (const signal of signals) process.on(signal, handler);
  return dispose;
}
