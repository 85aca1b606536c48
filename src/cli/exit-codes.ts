/**
 * Exit codes of the `rollcall` command and how errors map onto them. Scripts and CI branch on
 * these numbers, so they are part of the public interface: `rollcall --help` lists them.
 */
import { isRollcallError } from '../core/errors.js';

/** Every exit code `rollcall` uses. */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** The answer is bad news: `status` found a service without a passing instance; `resolve` could name no instance. */
  unhealthy: 1,
  /** Invalid command, option or argument (a dashboard port in use included), or no registry given. */
  usage: 2,
  /** The registry could not be reached, timed out or failed. */
  unreachable: 3,
  /** The registry refused: credentials, ACL, an instance owned by another process, or a deregistration it did not apply. */
  refused: 4,
  /** The registry lists no such service or instance. */
  notFound: 5,
  /** `deregister` was not confirmed. */
  cancelled: 6,
  /** A failure rollcall did not expect: a bug, please report it. */
  internal: 70,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit codes as `rollcall --help` explains them, in order. */
export const EXIT_CODE_HELP: readonly (readonly [ExitCode, string])[] = [
  [EXIT.ok, 'done'],
  [EXIT.unhealthy, 'status: a service has no passing instance; resolve: no instance could be named'],
  [EXIT.usage, 'invalid command, option or argument, or no registry given'],
  [EXIT.unreachable, 'the registry could not be reached, timed out or failed'],
  [EXIT.refused, 'the registry refused: credentials, ACL, an instance another process owns, or a deregistration'],
  [EXIT.notFound, 'the registry lists no such service or instance'],
  [EXIT.cancelled, 'deregister was not confirmed'],
  [EXIT.internal, 'unexpected failure (a bug: please report it)'],
];

/** A failure the command line reports with its own message and exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;

  constructor(exitCode: ExitCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = exitCode;
  }
}

/** The exit code that reports `error`. */
export function exitCodeOf(error: unknown): ExitCode {
  if (error instanceof CliError) return error.exitCode;
  if (isRollcallError(error)) {
    switch (error.code) {
      case 'INVALID_ARGUMENT':
        return EXIT.usage;
      case 'REGISTRY_UNAVAILABLE':
        return EXIT.unreachable;
      case 'REGISTRY_AUTH':
        return EXIT.refused;
      case 'SERVICE_UNAVAILABLE':
        return EXIT.unhealthy;
      default:
        return EXIT.internal;
    }
  }
  // node:util parseArgs: unknown option, missing value, unexpected argument.
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS_')) return EXIT.usage;
  return EXIT.internal;
}
