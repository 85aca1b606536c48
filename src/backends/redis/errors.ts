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

/** `url` with everything between its scheme and its last `@` (user name and password) masked. */
export function redactUrl(url: string): string {
  const at = url.lastIndexOf('@');
  if (at < 0) return url;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(url)?.[0] ?? '';
  return `${scheme}${REDACTED}${url.slice(at)}`;
}

/**
 * Another owner's live instance holds this id: rollcall refuses to overwrite or remove it. Every
 * instance belongs to the `RedisBackend` object that registered it (ids are visible to every
 * reader, so anyone could try). The id frees up when that lease ends without a renewal. Its code
 * is `REGISTRY_AUTH`; it never carries the owner's secret.
 */
export class InstanceOwnedError extends RegistryAuthError {
  static override readonly brand: string = 'InstanceOwnedError';
  readonly service: string;
  readonly id: string;
  /** Milliseconds left on the owner's lease when the write was refused. */
  readonly leaseLeftMs: number;

  constructor(operation: string, service: string, id: string, leaseLeftMs: number) {
    super(
      KIND,
      operation,
      `instance ${service}/${id} belongs to another RedisBackend (each instance is owned by the backend object that registered it); its lease ends in ${leaseLeftMs} ms unless its owner renews it`,
    );
    this.service = service;
    this.id = id;
    this.leaseLeftMs = leaseLeftMs;
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
