/** What every command gets, and the shape of a command. */
import type { ExitCode } from './exit-codes.js';
import type { Paint } from './format.js';
import type { CliIo } from './io.js';
import type { OptionValues } from './options.js';
import type { OpenedRegistry } from './registries.js';

export interface CommandContext {
  readonly io: CliIo;
  /** Positional arguments after the command's name, already counted against its usage. */
  readonly args: readonly string[];
  readonly values: OptionValues;
  /** `--json`. */
  readonly json: boolean;
  /** `--timeout`, in milliseconds. */
  readonly timeoutMs: number;
  /** Styles text for stdout. */
  readonly paint: Paint;
  /** Opens the chosen registry (once; the command line closes it when the command ends). */
  openRegistry(): Promise<OpenedRegistry>;
  /** Where the chosen registry is, credentials masked: `redis redis://***@host:6379 (from REDIS_URL)`. */
  registryLabel(): string;
  /** Writes to stdout. */
  print(text: string): void;
  /** Writes one pretty-printed JSON document to stdout. */
  printJson(value: unknown): void;
  /** Writes a line to stderr: prompts, progress, hints that are not the answer. */
  note(text: string): void;
}

export interface Command {
  readonly name: string;
  /** Arguments as shown in help: `<service> <id>`, `[service...]`. */
  readonly arguments: string;
  /** How many positional arguments it takes. */
  readonly arity: { readonly min: number; readonly max: number };
  /** One line for `rollcall --help`. */
  readonly summary: string;
  /** More lines for `rollcall help <command>`. */
  readonly details: readonly string[];
  run(context: CommandContext): Promise<ExitCode>;
}
