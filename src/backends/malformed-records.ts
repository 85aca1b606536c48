/**
 * Malformed registry data is skipped, logged and counted, never fatal. Each distinct bad record is
 * logged once, never again, with bounded memory of what was logged: past {@link REMEMBERED}
 * distinct records, new ones are counted but no longer logged one by one (one line says so). Log
 * lines carry registry text only as bounded, escaped excerpts: whoever wrote the record chose
 * those bytes.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../core/logger.js';

/** Distinct records remembered as logged. */
const REMEMBERED = 1_000;
/** Longest identity kept as it is; a longer one is remembered by its digest. */
const IDENTITY_CHARS = 256;
/** Longest excerpt of registry text in a log line (message or field), after escaping. */
const EXCERPT_CHARS = 300;

/**
 * Counts a backend's malformed registry records and logs each distinct one once, with bounded
 * memory and escaped excerpts: report every record skipped, expose {@link count} in `stats()`.
 */
export class MalformedRecords {
  readonly #log: Logger;
  readonly #logged = new Set<string>();
  #count = 0;
  #full = false;

  /** `log`: the backend's logger, e.g. from `loggerOption()`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** Malformed records met so far, repeats included. */
  get count(): number {
    return this.#count;
  }

  /**
   * Counts one malformed record; logs `message` with `fields` the first time `identity` is met
   * (string fields and the message as escaped excerpts of at most 300 characters).
   */
  report(identity: string, fields: Record<string, unknown>, message: string): void {
    this.#count++;
    const remembered = identity.length <= IDENTITY_CHARS ? identity : `#${createHash('sha256').update(identity).digest('base64')}`;
    if (this.#logged.has(remembered)) return;
    if (this.#logged.size >= REMEMBERED) {
      if (this.#full) return;
      this.#full = true;
      this.#log.warn({ remembered: REMEMBERED }, `more than ${REMEMBERED} distinct malformed registry records: further ones are counted but not logged`);
      return;
    }
    this.#logged.add(remembered);
    const excerpts: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(fields)) excerpts[name] = typeof value === 'string' ? excerpt(value) : value;
    this.#log.warn(excerpts, excerpt(message));
  }
}

/**
 * `text` with everything but printable ASCII escaped (`\n`, `\u001b`, `\u202e`...), cut to
 * {@link EXCERPT_CHARS} characters with a note of the full length: safe in any log line.
 */
export function excerpt(text: string): string {
  let escaped = '';
  let consumed = 0;
  for (const char of text) {
    if (escaped.length >= EXCERPT_CHARS) break;
    escaped += escape(char);
    consumed += char.length;
  }
  if (consumed === text.length && escaped.length <= EXCERPT_CHARS) return escaped;
  return `${escaped.slice(0, EXCERPT_CHARS)}… (${text.length} characters)`;
}

const NAMED_ESCAPES: Readonly<Record<string, string>> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escape(char: string): string {
  const named = NAMED_ESCAPES[char];
  if (named !== undefined) return named;
  const code = char.charCodeAt(0);
  if (char.length === 1 && code >= 0x20 && code < 0x7f) return char;
  let units = '';
  for (let i = 0; i < char.length; i++) units += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return units;
}
