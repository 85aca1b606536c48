/**
 * Malformed registry data is skipped, logged and counted, never fatal. Each distinct bad record is
 * logged once, not on every read that meets it again, with bounded memory of what was logged.
 */
import type { Logger } from '../core/logger.js';

/** Distinct records remembered as logged; beyond this the memory starts over. */
const REMEMBERED = 1_000;

export class MalformedRecords {
  readonly #log: Logger;
  readonly #logged = new Set<string>();
  #count = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Malformed records met so far, repeats included. */
  get count(): number {
    return this.#count;
  }

  /** Counts one malformed record; logs `message` with `fields` the first time `identity` is met. */
  report(identity: string, fields: Record<string, unknown>, message: string): void {
    this.#count++;
    if (this.#logged.has(identity)) return;
    if (this.#logged.size >= REMEMBERED) this.#logged.clear();
    this.#logged.add(identity);
    this.#log.warn(fields, message);
  }
}
