/**
 * Human output: colour through `node:util`'s `styleText`, aligned columns, short durations. Colour
 * is on for terminals that support it (`NO_COLOR`, `FORCE_COLOR` and `TERM` are honoured through
 * `hasColors`) unless `--no-color`; `--color` forces it.
 */
import { stripVTControlCharacters, styleText } from 'node:util';
import type { ServiceHealth, StatusCounts } from '../inspection/describe.js';
import { INSTANCE_STATUSES, type InstanceStatus, type ServiceInstance } from '../core/instance.js';
import type { Env, OutputStream } from './io.js';

type Format = Parameters<typeof styleText>[0];

/** Styles text when colour is on; returns it unchanged otherwise. */
export type Paint = (format: Format, text: string) => string;

export function painter(stream: OutputStream, choice: boolean | undefined, env: Env): Paint {
  const enabled = choice ?? (stream.isTTY === true && stream.hasColors?.(env) === true);
  // validateStream: false, because the decision is ours (and covers --color on a pipe).
  return enabled ? (format, text) => styleText(format, text, { validateStream: false }) : (_format, text) => text;
}

export const HEALTH_FORMAT: Readonly<Record<ServiceHealth, Format>> = {
  passing: 'green',
  warning: 'yellow',
  critical: ['red', 'bold'],
  'no-instances': 'gray',
  unknown: 'magenta',
};

export const STATUS_FORMAT: Readonly<Record<InstanceStatus, Format>> = {
  passing: 'green',
  warning: 'yellow',
  critical: ['red', 'bold'],
  draining: 'cyan',
};

/** What stands in a column for a value the registry does not have. */
export const ABSENT = '-';

/**
 * Rows under a header, columns separated by two spaces and padded to their widest cell (escape
 * codes excluded). Columns listed in `numeric` are right-aligned. Registry values are ASCII
 * (names, ids, hosts and labels are validated), so one character is one column.
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number> = new Set()): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => visibleLength(row[column] ?? ''))));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => {
        const padding = ' '.repeat((widths[column] ?? 0) - visibleLength(cell));
        if (numeric.has(column)) return padding + cell;
        return column === cells.length - 1 ? cell : cell + padding;
      })
      .join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

function visibleLength(text: string): number {
  return stripVTControlCharacters(text).length;
}

/** `42s`, `7m`, `3h`, `12d`: the largest unit, rounded down, as `kubectl` shows ages. */
export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1_000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h`;
  return `${Math.floor(hours / 24)}d`;
}

/** Local wall-clock time with milliseconds, `14:03:07.215`, for lines of a live stream. */
export function formatTime(epochMs: number): string {
  const at = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(at.getHours())}:${two(at.getMinutes())}:${two(at.getSeconds())}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}

/** How many of `instances` have each status. */
export function countStatuses(instances: readonly ServiceInstance[]): Record<InstanceStatus, number> {
  const counts = Object.fromEntries(INSTANCE_STATUSES.map((status) => [status, 0])) as Record<InstanceStatus, number>;
  for (const instance of instances) counts[instance.status]++;
  return counts;
}

/** `2 passing, 1 critical`: the statuses present, in order; `none` when there are none. */
export function formatCounts(counts: StatusCounts, paint: Paint): string {
  const parts = INSTANCE_STATUSES.filter((status) => counts[status] > 0).map((status) => `${counts[status]} ${paint(STATUS_FORMAT[status], status)}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** `1 instance`, `3 instances`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
