/**
 * Local health checks and the hysteresis that keeps a flaky check from flapping the registry:
 * `failuresBeforeCritical` failing rounds in a row turn the status critical, and
 * `successesBeforePassing` good rounds in a row bring it back.
 */
import { describeValue, messageOf } from '../core/errors.js';
import type { HealthStatus } from '../core/instance.js';

/**
 * What a check may return: `true` / nothing → passing, `false` → critical, a status, or a status
 * with an output text. Throwing or exceeding the timeout counts as critical.
 */
export type HealthCheckResult = boolean | HealthStatus | undefined | { status: HealthStatus; output?: string | undefined };

/** A local health check. The signal aborts when the check exceeds its timeout. */
export type HealthCheck = (signal: AbortSignal) => HealthCheckResult | Promise<HealthCheckResult>;

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

export class HealthMonitor {
  readonly #checks: ReadonlyArray<readonly [string, HealthCheck]>;
  readonly #options: HealthMonitorOptions;
  #status: HealthStatus = 'passing';
  #reports: Readonly<Record<string, CheckReport>> = {};
  #failures = 0;
  #successes = 0;
  #rounds = 0;

  constructor(checks: Readonly<Record<string, HealthCheck>>, options: HealthMonitorOptions) {
    this.#checks = Object.entries(checks);
    this.#options = options;
  }

  get status(): HealthStatus {
    return this.#status;
  }

  report(): HealthReport {
    return { status: this.#status, checks: this.#reports };
  }

  /** Runs every check once and applies hysteresis. Returns the previous status. */
  async run(): Promise<HealthStatus> {
    const previous = this.#status;
    if (this.#checks.length === 0) return previous;
    const results = await Promise.all(this.#checks.map(([name, check]) => this.#runOne(name, check)));
    this.#reports = Object.freeze(Object.fromEntries(results));
    const worst = results.reduce<HealthStatus>((acc, [, r]) => (SEVERITY[r.status] > SEVERITY[acc] ? r.status : acc), 'passing');
    this.#apply(worst);
    return previous;
  }

  #apply(observed: HealthStatus): void {
    this.#rounds++;
    // The first round has no history to smooth: report what we see.
    if (this.#rounds === 1) {
      this.#status = observed;
      return;
    }
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
          .then(toReport, (error: unknown) => ({ status: 'critical' as const, output: messageOf(error) })),
        timedOut,
      ]);
      return [name, report];
    } finally {
      clearTimeout(timer);
    }
  }
}

function toReport(result: HealthCheckResult): CheckReport {
  if (result === undefined || result === true) return { status: 'passing' };
  if (result === false) return { status: 'critical', output: 'check returned false' };
  const status: unknown = typeof result === 'object' && result !== null ? result.status : result;
  if (typeof status !== 'string' || !(status in SEVERITY)) {
    return { status: 'critical', output: `check returned ${describeValue(result)}; expected a boolean, a status or { status, output }` };
  }
  const output = typeof result === 'object' ? result.output : undefined;
  return output === undefined ? { status: status as HealthStatus } : { status: status as HealthStatus, output };
}
