/**
 * Every error rollcall throws. One base class with a stable string `code`; match on `err.code`
 * (or use `instanceof`, which works across two copies of the package: see `brandsOf`).
 */

/** Stable codes carried by every {@link RollcallError}. */
export type RollcallErrorCode =
  | 'INVALID_ARGUMENT'
  | 'SERVICE_UNAVAILABLE'
  | 'REGISTRY_UNAVAILABLE'
  | 'REGISTRY_AUTH'
  | 'MALFORMED_RECORD'
  | 'REGISTRATION_FAILED'
  | 'CLOSED';

// Brands live in the global symbol registry so that `instanceof` also matches errors thrown by
// another copy of rollcall in the same process (the ESM/CJS dual-package hazard).
const kBrands = Symbol.for('rollcall.error.brands');

interface BrandedClass {
  readonly brand: string;
}

function brandsOf(value: unknown): ReadonlySet<string> | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const brands = (value as { [kBrands]?: unknown })[kBrands];
  return brands instanceof Set ? (brands as ReadonlySet<string>) : undefined;
}

/** Base class of every rollcall error. */
export class RollcallError extends Error {
  static readonly brand: string = 'RollcallError';

  static override [Symbol.hasInstance](value: unknown): boolean {
    return brandsOf(value)?.has((this as unknown as BrandedClass).brand) ?? false;
  }

  readonly code: RollcallErrorCode;

  constructor(code: RollcallErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.name = new.target.name;
    const brands = new Set<string>();
    for (let cls: unknown = new.target; typeof cls === 'function' && 'brand' in cls; cls = Object.getPrototypeOf(cls)) {
      brands.add((cls as BrandedClass).brand);
    }
    Object.defineProperty(this, kBrands, { value: brands });
  }
}

/** Type guard for any rollcall error, from this copy of the package or another. */
export function isRollcallError(value: unknown): value is RollcallError {
  return brandsOf(value)?.has(RollcallError.brand) ?? false;
}

/** A caller passed a value rollcall cannot use. Says which value, what was expected, and what came. */
export class InvalidArgumentError extends RollcallError {
  static override readonly brand: string = 'InvalidArgumentError';
  /** Dotted path of the offending value, e.g. `instance.port`. */
  readonly field: string;
  /** What a valid value looks like. */
  readonly expected: string;
  /** What exactly is wrong with the value, when more can be said than `expected` (e.g. the offending character). */
  readonly problem: string | undefined;

  constructor(field: string, expected: string, received: unknown, problem?: string) {
    const detail = problem === undefined ? '' : ` (${problem})`;
    super('INVALID_ARGUMENT', `Invalid ${field}: expected ${expected}, got ${describeValue(received)}${detail}`);
    this.field = field;
    this.expected = expected;
    this.problem = problem;
  }
}

/** A registry could not be reached or answered with an error. */
export class RegistryUnavailableError extends RollcallError {
  static override readonly brand: string = 'RegistryUnavailableError';
  /** `kind` of the backend (`memory`, `redis`, `consul`, ...). */
  readonly backend: string;
  /** The backend operation that failed (`register`, `instances`, ...). */
  readonly operation: string;

  constructor(backend: string, operation: string, message: string, options?: { cause?: unknown }) {
    super('REGISTRY_UNAVAILABLE', `${backend} registry: ${operation} failed: ${message}`, options);
    this.backend = backend;
    this.operation = operation;
  }
}

/** The registry refused our credentials (missing or insufficient token, ACL denial). */
export class RegistryAuthError extends RollcallError {
  static override readonly brand: string = 'RegistryAuthError';
  readonly backend: string;
  readonly operation: string;

  constructor(backend: string, operation: string, message: string, options?: { cause?: unknown }) {
    super('REGISTRY_AUTH', `${backend} registry: ${operation} was refused: ${message}`, options);
    this.backend = backend;
    this.operation = operation;
  }
}

/** A record read from a registry is not a valid instance. Backends skip, log and count these. */
export class MalformedRecordError extends RollcallError {
  static override readonly brand: string = 'MalformedRecordError';
  /** Where the record was found (a key, a service and id, ...). */
  readonly location: string;

  constructor(location: string, problem: string, options?: { cause?: unknown }) {
    super('MALFORMED_RECORD', `Malformed registry record at ${location}: ${problem}`, options);
    this.location = location;
  }
}

/** Registration was required (`required: true`) and could not be completed. */
export class RegistrationError extends RollcallError {
  static override readonly brand: string = 'RegistrationError';
  readonly service: string;

  constructor(service: string, message: string, options?: { cause?: unknown }) {
    super('REGISTRATION_FAILED', `Could not register ${service}: ${message}`, options);
    this.service = service;
  }
}

/** The object was closed; it accepts no more calls. */
export class ClosedError extends RollcallError {
  static override readonly brand: string = 'ClosedError';

  constructor(what: string) {
    super('CLOSED', `${what} is closed`);
  }
}

/** One tier the resolver tried and why it gave no answer. */
export interface TierAttempt {
  /** The tier, one of the resolver's `ResolutionTier` names (`cache`, `registry`, `stale`, `env`, `balancer`). */
  readonly tier: string;
  readonly reason: string;
}

/** No tier could name an instance of the service. Lists every tier tried and why it failed. */
export class ServiceUnavailableError extends RollcallError {
  static override readonly brand: string = 'ServiceUnavailableError';
  readonly service: string;
  readonly attempts: readonly TierAttempt[];

  constructor(service: string, attempts: readonly TierAttempt[], options?: { cause?: unknown }) {
    const tried = attempts.map((a) => `${a.tier}: ${a.reason}`).join('; ');
    super('SERVICE_UNAVAILABLE', `No instance of ${service} is available (${tried})`, options);
    this.service = service;
    this.attempts = attempts;
  }
}

/** Renders a received value for an error message without dumping large or sensitive objects. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    return value.length > 80 ? `a string of length ${value.length}` : JSON.stringify(value);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  return `a value of type ${typeof value}`;
}

/** The message of anything thrown, for logs and tier reasons. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  try {
    return String(error);
  } catch {
    // Null-prototype objects (and objects with a throwing toString) cannot be converted.
    return describeValue(error);
  }
}
