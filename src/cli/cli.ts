/**
 * The `rollcall` command line: parses arguments, opens the chosen registry for the command,
 * closes it afterwards, and turns every failure into a message on stderr and a documented exit
 * code (see exit-codes.ts). Everything it touches comes through {@link CliIo}.
 */
import packageJson from '../../package.json' with { type: 'json' };
import { isRollcallError, messageOf } from '../core/errors.js';
import type { Command, CommandContext } from './command.js';
import { dashboardCommand } from './commands/dashboard.js';
import { deregisterCommand } from './commands/deregister.js';
import { instancesCommand } from './commands/instances.js';
import { resolveCommand } from './commands/resolve.js';
import { servicesCommand } from './commands/services.js';
import { statusCommand } from './commands/status.js';
import { watchCommand } from './commands/watch.js';
import { CliError, EXIT, exitCodeOf, type ExitCode } from './exit-codes.js';
import { painter } from './format.js';
import { commandHelp, generalHelp } from './help.js';
import type { CliIo } from './io.js';
import { stderrLogger } from './logger.js';
import { DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS, booleanValue, integerValue, parseCommandLine, stringValue, type CommandLine } from './options.js';
import { chooseRegistry, type OpenedRegistry } from './registries.js';

/** Every command, in the order `--help` lists them. */
export const COMMANDS: readonly Command[] = [servicesCommand, instancesCommand, statusCommand, watchCommand, resolveCommand, deregisterCommand, dashboardCommand];

/** Runs one command line (`argv` without `node` and the script) and returns its exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<ExitCode> {
  let line: CommandLine;
  try {
    line = parseCommandLine(argv);
  } catch (error) {
    return fail(io, error, { json: argv.includes('--json'), verbose: false });
  }
  const { command: name, args, values } = line;
  const json = booleanValue(values, 'json') === true;
  const verbose = booleanValue(values, 'verbose') === true;
  const color = booleanValue(values, 'color');
  const write = (text: string): void => void io.stdout.write(text);

  if (booleanValue(values, 'version') === true) {
    write(`${packageJson.version}\n`);
    return EXIT.ok;
  }
  if (name === undefined || name === 'help') {
    const topic = name === 'help' ? args[0] : undefined;
    const command = COMMANDS.find((candidate) => candidate.name === topic);
    if (topic !== undefined && command === undefined) return fail(io, unknownCommand(topic), { json, verbose, color });
    const text = command === undefined ? generalHelp(COMMANDS) : commandHelp(command);
    if (name === undefined && booleanValue(values, 'help') !== true) {
      io.stderr.write(text);
      return EXIT.usage;
    }
    write(text);
    return EXIT.ok;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) return fail(io, unknownCommand(name), { json, verbose, color });
  if (booleanValue(values, 'help') === true) {
    write(commandHelp(command));
    return EXIT.ok;
  }

  let registry: OpenedRegistry | undefined;
  try {
    if (args.length < command.arity.min || args.length > command.arity.max) {
      throw new CliError(EXIT.usage, `usage: rollcall ${`${command.name} ${command.arguments}`.trim()} (see rollcall help ${command.name})`);
    }
    const errorPaint = painter(io.stderr, color, io.env);
    const timeoutMs = integerValue(values, 'timeout', DEFAULT_TIMEOUT_MS, 100, MAX_TIMEOUT_MS, ' of milliseconds');
    const namespace = stringValue(values, 'namespace') ?? nonEmpty(io.env['ROLLCALL_NAMESPACE']);
    const { choice, address } = chooseRegistry(values, io.env);
    const context: CommandContext = {
      io,
      args,
      values,
      json,
      timeoutMs,
      paint: painter(io.stdout, color, io.env),
      async openRegistry() {
        registry ??= await choice.open(address, { namespace, timeoutMs, env: io.env, logger: stderrLogger(io.stderr, errorPaint, verbose) });
        return registry;
      },
      registryLabel() {
        const source = stringValue(values, choice.name) === undefined ? ` from $${choice.variable}` : '';
        return `${choice.name} at ${maskCredentials(address)}${source}${namespace === undefined ? '' : `, namespace ${namespace}`}`;
      },
      print: write,
      printJson: (value) => write(`${JSON.stringify(value, null, 2)}\n`),
      note: (text) => void io.stderr.write(`${text}\n`),
    };
    try {
      return await command.run(context);
    } catch (error) {
      const code = exitCodeOf(error);
      const registryFailed = code === EXIT.unreachable || code === EXIT.refused;
      return fail(io, error, { json, verbose, color, ...(registryFailed ? { registry: context.registryLabel() } : {}) });
    }
  } catch (error) {
    return fail(io, error, { json, verbose, color });
  } finally {
    // Closing what failed to open fails too; the command's own error is what matters.
    await registry?.backend.close().catch(() => undefined);
  }
}

function unknownCommand(name: string): CliError {
  return new CliError(EXIT.usage, `unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((command) => command.name).join(', ')} (see rollcall --help)`);
}

interface FailureReport {
  readonly json: boolean;
  readonly verbose: boolean;
  readonly color?: boolean | undefined;
  /** The registry that failed or refused, for the reader to check. */
  readonly registry?: string | undefined;
}

/** Reports `error` on stderr (as one JSON object with `--json`) and returns its exit code. */
function fail(io: CliIo, error: unknown, { json, verbose, color, registry }: FailureReport): ExitCode {
  const exitCode = exitCodeOf(error);
  const message = messageOf(error);
  const code = isRollcallError(error) ? error.code : undefined;
  if (json) {
    const fields = { message, exitCode, ...(code === undefined ? {} : { code }), ...(registry === undefined ? {} : { registry }) };
    io.stderr.write(`${JSON.stringify({ error: fields })}\n`);
    return exitCode;
  }
  const paint = painter(io.stderr, color, io.env);
  io.stderr.write(`${paint(['red', 'bold'], 'rollcall: error:')} ${message}\n`);
  if (registry !== undefined) io.stderr.write(`rollcall: registry: ${registry}\n`);
  if (exitCode === EXIT.internal || verbose) io.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
  return exitCode;
}

/** `redis://user:secret@host` → `redis://***@host`: addresses are shown, credentials never. */
function maskCredentials(address: string): string {
  return address.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
