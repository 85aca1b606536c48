/**
 * Local health checks and the hysteresis that keeps a flaky check from flapping the registry:
 * `failuresBeforeCritical` failing rounds in a row turn the status critical, and
 * `successesBeforePassing` good rounds in a row bring it back. Both apply from the first round:
 * an instance starts `passing`, and one bad round at startup is as flaky as one bad round later.
 */
import { describeValue } from '../core/errors.js';
import type { HealthStatus } from '../core/instance.js';

/**
 * The results of a check that carry a meaning. A check may return anything else: whatever it
 * resolves to counts as passing (`'PONG'` from a Redis ping, a database driver's result rows, a
 * `Response`), unless it is `false` (critical) or an explicit status, on its own or as
 * `{ status, output }`. Throwing, rejecting or exceeding the timeout counts as critical.
 */
export type HealthCheckResult = boolean | HealthStatus | undefined | { status: HealthStatus; output?: string | undefined };

/**
 * A local health check: any function, sync or async, typically a ping of what the service needs
 * (`() => redis.ping()`, `() => pool.query('SELECT 1')`). The result rules are those of
 * {@link HealthCheckResult}. The signal aborts when the check exceeds its timeout.
 */
export type HealthCheck = (signal: AbortSignal) => unknown;

/** The last result of one check. */
export interface CheckReport {
  readonly status: HealthStatus;
  readonly output?: string | undefined;
}

/** The reported status and what each check said last. */
export interface HealthReport {
  readonly status: HealthStatus;
  readonly checks: Readonly<Record<string, CheckReport>>;
}

export interface HealthMonitorOptions {
  failuresBeforeCritical: number;
  successesBeforePassing: number;
  timeoutMs: number;
}

const SEVERITY: Readonly<Record<HealthStatus, number>> = { passing: 0, warning: 1, critical: 2 };

/** Longest `output` kept from a check, so a check cannot bloat health answers or logs. */
const MAX_OUTPUT_LENGTH = 1_024;

export class HealthMonitor {
  readonly #checks: ReadonlyArray<readonly [string, HealthCheck]>;
  readonly #options: HealthMonitorOptions;
  #status: HealthStatus = 'passing';
  #reports: Readonly<Record<string, CheckReport>> = {};
  #failures = 0;
  #successes = 0;

  constructor(checks: ReadonlyArray<readonly [string, HealthCheck]>, options: HealthMonitorOptions) {
    this.#checks = checks;
    this.#options = options;
  }

  get status(): HealthStatus {
    return this.#status;
  }

  report(): HealthReport {
    return { status: this.#status, checks: this.#reports };
  }

  /** Runs every check once and applies hysteresis. Returns the previous status. Never rejects. */
  async run(): Promise<HealthStatus> {
    const previous = this.#status;
    if (this.#checks.length === 0) return previous;
    const results = await Promise.all(this.#checks.map(([name, check]) => this.#runOne(name, check)));
    const reports: Record<string, CheckReport> = {};
    // defineProperty: a check named `__proto__` must stay a check, not become a prototype.
    for (const [name, report] of results) Object.defineProperty(reports, name, { value: report, enumerable: true });
    this.#reports = Object.freeze(reports);
    const worst = results.reduce<HealthStatus>((acc, [, r]) => (SEVERITY[r.status] > SEVERITY[acc] ? r.status : acc), 'passing');
    this.#apply(worst);
    return previous;
  }

  #apply(observed: HealthStatus): void {
    if (observed === 'critical') {
      this.#failures++;
      this.#successes = 0;
      if (this.#status !== 'critical' && this.#failures >= this.#options.failuresBeforeCritical) this.#status = 'critical';
      return;
    }
    this.#successes++;
    this.#failures = 0;
    if (this.#status !== 'critical' || this.#successes >= this.#options.successesBeforePassing) this.#status = observed;
  }

  async #runOne(name: string, check: HealthCheck): Promise<[string, CheckReport]> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<CheckReport>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({ status: 'critical', output: `timed out after ${this.#options.timeoutMs} ms` });
      }, this.#options.timeoutMs);
      timer.unref();
    });
    try {
      const report = await Promise.race([
        Promise.resolve()
          .then(() => check(controller.signal))
          .then(toReport)
          .catch(failureReport),
        timedOut,
      ]);
      return [name, report];
    } finally {
      clearTimeout(timer);
    }
  }
}

function isHealthStatus(value: unknown): value is HealthStatus {
  return typeof value === 'string' && Object.hasOwn(SEVERITY, value);
}

/** What a resolved check result means; see {@link HealthCheckResult}. */
export function toReport(result: unknown): CheckReport {
  if (result === false) return { status: 'critical', output: 'check returned false' };
  if (isHealthStatus(result)) return { status: result };
  if (typeof result === 'object' && result !== null && 'status' in result && isHealthStatus(result.status)) {
    const output = 'output' in result ? result.output : undefined;
    return output === undefined || output === null ? { status: result.status } : { status: result.status, output: bounded(textOf(output)) };
  }
  return { status: 'passing' };
}

/** A check that threw or rejected: critical, with what it threw as output. Never throws itself. */
function failureReport(error: unknown): CheckReport {
  let output: string;
  try {
    output = textOf(error instanceof Error ? error.message : error);
  } catch {
    output = 'the check failed with a value that cannot be shown';
  }
  return { status: 'critical', output: bounded(output || 'the check failed') };
}

function textOf(value: unknown): string {
  return typeof value === 'string' ? value : describeValue(value);
}

function bounded(text: string): string {
  return text.length > MAX_OUTPUT_LENGTH ? `${text.slice(0, MAX_OUTPUT_LENGTH)}…` : text;
}
