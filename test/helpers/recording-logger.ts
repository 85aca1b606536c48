import type { Logger } from '../../src/index.js';

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string | undefined;
  readonly fields: Record<string, unknown>;
}

/** A Logger that keeps every line, children included, for assertions. */
export function recordingLogger(): Logger & { lines: LogLine[]; at(level: LogLine['level']): LogLine[] } {
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
  return Object.assign(make({}), { lines, at: (level: LogLine['level']) => lines.filter((l) => l.level === level) });
}
