/**
 * The command line's options, parsed by `node:util`'s `parseArgs`: one table says each option's
 * type, its help line and which commands take it; `--help` is generated from the same table.
 */
import { parseArgs } from 'node:util';
import { InvalidArgumentError } from '../core/errors.js';
import { CliError, EXIT } from './exit-codes.js';
import { REGISTRIES } from './registries.js';

export interface OptionSpec {
  readonly name: string;
  readonly type: 'string' | 'boolean';
  readonly short?: string | undefined;
  /** Placeholder of a string option's value in `--help`. */
  readonly value?: string | undefined;
  readonly help: string;
  /** Commands that take it; every command when absent. */
  readonly commands?: readonly string[] | undefined;
  /** Listed under "Registry" in `--help`. */
  readonly registry?: boolean | undefined;
}

/** Default of `--timeout`. */
export const DEFAULT_TIMEOUT_MS = 3_000;
/** Longest `--timeout`: the longest call deadline every backend accepts (Redis: 60 s). */
export const MAX_TIMEOUT_MS = 60_000;
/** Default of `dashboard --port`. */
export const DEFAULT_DASHBOARD_PORT = 7411;

export const OPTIONS: readonly OptionSpec[] = [
  ...REGISTRIES.map((choice): OptionSpec => ({
    name: choice.name,
    type: 'string',
    value: choice.valueName,
    help: `${choice.help} (default: $${choice.variable})`,
    registry: true,
  })),
  { name: 'namespace', type: 'string', value: 'NS', help: "rollcall namespace to read (default: $ROLLCALL_NAMESPACE, else the backend's default)", registry: true },
  { name: 'json', type: 'boolean', help: 'machine-readable output: one JSON document (watch: one JSON object per line)' },
  { name: 'timeout', type: 'string', value: 'MS', help: `deadline of each registry call, 100 to ${MAX_TIMEOUT_MS} ms (default: ${DEFAULT_TIMEOUT_MS})` },
  { name: 'color', type: 'boolean', help: 'colour even when not on a terminal; --no-color: never (default: terminals that support it, NO_COLOR honoured)' },
  { name: 'verbose', type: 'boolean', help: "show the backend's informational log lines too, and stack traces" },
  { name: 'yes', type: 'boolean', short: 'y', help: 'do not ask for confirmation', commands: ['deregister'] },
  { name: 'env', type: 'boolean', help: 'use the environment tier (ORDERS_URL for orders); --no-env: skip it (default: on)', commands: ['resolve'] },
  { name: 'warning', type: 'string', value: 'POLICY', help: 'warning instances: include, fallback (only when none passes) or exclude (default: fallback)', commands: ['resolve'] },
  { name: 'port', type: 'string', short: 'p', value: 'PORT', help: `port to listen on, 0 for any free one (default: ${DEFAULT_DASHBOARD_PORT})`, commands: ['dashboard'] },
  { name: 'host', type: 'string', value: 'HOST', help: 'address to listen on (default: 127.0.0.1, this machine only)', commands: ['dashboard'] },
  { name: 'allow-deregister', type: 'boolean', help: 'offer a deregister button per instance (default: read-only)', commands: ['dashboard'] },
  { name: 'help', type: 'boolean', short: 'h', help: 'show help (also: rollcall help <command>)' },
  { name: 'version', type: 'boolean', help: "show rollcall's version" },
];

export type OptionValues = Readonly<Record<string, string | boolean | undefined>>;

export interface CommandLine {
  /** The first positional argument, if any. */
  readonly command: string | undefined;
  /** Positional arguments after the command. */
  readonly args: readonly string[];
  readonly values: OptionValues;
}

/** Parses `argv` strictly: unknown options and options the command does not take are usage errors. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const config = Object.fromEntries(
    OPTIONS.map((option) => [option.name, { type: option.type, ...(option.short === undefined ? {} : { short: option.short }) }]),
  );
  const { values, positionals } = parseArgs({ args: [...argv], options: config, allowPositionals: true, allowNegative: true, strict: true });
  const [command, ...args] = positionals;
  if (command !== undefined && command !== 'help') {
    for (const option of OPTIONS) {
      if (values[option.name] !== undefined && option.commands !== undefined && !option.commands.includes(command)) {
        throw new CliError(EXIT.usage, `${command} does not take --${option.name} (only ${option.commands.join(', ')})`);
      }
    }
  }
  return { command, args, values };
}

export function stringValue(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function booleanValue(values: OptionValues, name: string): boolean | undefined {
  const value = values[name];
  return typeof value === 'boolean' ? value : undefined;
}

/** A whole number given as an option's text, from `min` to `max`; `fallback` when absent. */
export function integerValue(values: OptionValues, name: string, fallback: number, min: number, max: number, unit = ''): number {
  const text = stringValue(values, name);
  if (text === undefined) return fallback;
  const value = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!(value >= min && value <= max)) throw new InvalidArgumentError(`--${name}`, `a whole number${unit} from ${min} to ${max}`, text);
  return value;
}
