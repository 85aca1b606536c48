import { inspect } from 'node:util';
import type { Logger } from '../../src/index.js';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string | undefined;
  /** The line's fields over the bindings of the child logger that wrote it. */
  readonly fields: Record<string, unknown>;
}

export interface RecordingLogger extends Logger {
  /** Every line, in order, children's included. */
  readonly lines: LogLine[];
  /** The lines of one level. */
  at(level: LogLine['level']): LogLine[];
  /** Every line in full (errors with their message, stack and cause): what to search for a secret that must not show. */
  text(): string;
}

/** A Logger that keeps every line, children included, for assertions. */
export function recordingLogger(): RecordingLogger {
  const lines: LogLine[] = [];
  const make = (bindings: Record<string, unknown>): Logger => {
    const write = (level: LogLine['level']) => (obj: object, msg?: string) => {
      lines.push({ level, msg, fields: { ...bindings, ...obj } });
    };
    return {
      debug: write('debug'),
      info: write('info'),
      warn: write('warn'),
      error: write('error'),
      child: (more) => make({ ...bindings, ...more }),
    };
  };
  return Object.assign(make({}), {
    lines,
    at: (level: LogLine['level']) => lines.filter((l) => l.level === level),
    text: () => inspect(lines, { depth: Infinity, breakLength: Infinity }),
  });
}
