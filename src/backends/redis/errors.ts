/**
 * Turns whatever ioredis throws into rollcall's errors, with credentials scrubbed. ioredis attaches
 * the failed command's arguments to its errors (for AUTH, the password), so raw errors never leave
 * this module: messages are redacted and the `cause` is a redacted copy.
 */
import { RegistryAuthError, RegistryUnavailableError, isRollcallError, messageOf } from '../../core/errors.js';

const KIND = 'redis';
const REDACTED = '***';
// `redis://user:secret@host` in any message, whatever the secret.
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi;
const AUTH_FAILURE = /\b(NOAUTH|WRONGPASS|NOPERM)\b|invalid (username-)?password/i;

/** Removes known secrets from text that may reach logs or error messages. */
export class Redactor {
  readonly #secrets: readonly string[];

  constructor(secrets: readonly (string | undefined | null)[]) {
    // Longest first, so a secret containing another is replaced whole.
    this.#secrets = [...new Set(secrets.filter((s): s is string => typeof s === 'string' && s.length > 0))].sort(
      (a, b) => b.length - a.length,
    );
  }

  redact(text: string): string {
    let result = text.replace(URL_CREDENTIALS, `$1${REDACTED}@`);
    for (const secret of this.#secrets) result = result.split(secret).join(REDACTED);
    return result;
  }

  /** The message of `error`, redacted. */
  message(error: unknown): string {
    return this.redact(messageOf(error));
  }
}

/** Whether `error` says Redis refused our credentials or our ACL user's permissions. */
export function isAuthFailure(error: unknown): boolean {
  return AUTH_FAILURE.test(messageOf(error));
}

/**
 * `REGISTRY_AUTH` for refused credentials or permissions, `REGISTRY_UNAVAILABLE` for anything
 * else; rollcall's own errors pass through unchanged.
 */
export function translateError(operation: string, error: unknown, redactor: Redactor): Error {
  if (isRollcallError(error)) return error;
  const message = redactor.message(error);
  const cause = new Error(message);
  if (error instanceof Error) cause.name = error.name;
  if (isAuthFailure(error)) return new RegistryAuthError(KIND, operation, message, { cause });
  return new RegistryUnavailableError(KIND, operation, message, { cause });
}

/** `REGISTRY_UNAVAILABLE` (or `REGISTRY_AUTH` when `lastError` was a refusal) for a connection problem. */
export function connectionError(operation: string, problem: string, lastError: unknown, redactor: Redactor): Error {
  const detail = lastError === undefined ? '' : ` (last error: ${redactor.message(lastError)})`;
  const message = `${problem}${detail}`;
  if (lastError !== undefined && isAuthFailure(lastError)) return new RegistryAuthError(KIND, operation, message);
  return new RegistryUnavailableError(KIND, operation, message);
}
