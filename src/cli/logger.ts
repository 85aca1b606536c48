/**
 * The logger the command line gives backends: their warnings and errors (a malformed record, a
 * lost connection) go to stderr, informational lines only with `--verbose`. Stdout stays the
 * command's answer alone, so `--json` output can be piped.
 */
import { inspect } from 'node:util';
import type { Logger } from '../core/logger.js';
import type { Paint } from './format.js';
import type { OutputStream } from './io.js';

export function stderrLogger(stderr: OutputStream, paint: Paint, verbose: boolean): Logger {
  const make = (bindings: Record<string, unknown>): Logger => {
    const write = (level: string, shown: boolean) => (fields: object, message?: string) => {
      if (!shown) return;
      const { component, ...context } = { ...bindings, ...fields } as Record<string, unknown>;
      const detail = Object.keys(context).length === 0 ? '' : ` ${render(context)}`;
      const source = typeof component === 'string' ? `${component}: ` : '';
      stderr.write(paint('dim', `rollcall: ${source}${level}: ${message ?? ''}${detail}`) + '\n');
    };
    return {
      debug: write('debug', verbose),
      info: write('info', verbose),
      warn: write('warning', true),
      error: write('error', true),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return make({});
}

/** Fields as one line of JSON; errors by their message (JSON would show `{}`), cycles by inspect. */
function render(fields: Record<string, unknown>): string {
  try {
    return JSON.stringify(fields, (_key, value: unknown) => (value instanceof Error ? value.message : typeof value === 'bigint' ? String(value) : value));
  } catch {
    return inspect(fields, { breakLength: Infinity, depth: 2 });
  }
}
