/**
 * The answer of a health route, computed from the registration's last local check results (run
 * before every heartbeat), never by running checks per request. Load balancers read the status
 * code; people read the body.
 */
import type { HealthStatus } from '../core/instance.js';
import type { CheckReport } from '../registration/health.js';
import type { Registration, RegistrationState } from '../registration/registration.js';
import type { LifespanState } from './options.js';

/** What the health route reports. */
export type HealthAnswerStatus = HealthStatus | 'starting' | 'draining' | 'stopped';

/** Body of the health route. */
export interface HealthBody {
  /** `passing` / `warning` (200), `critical` (503), or a lifecycle phase: `starting`, `draining`, `stopped` (503). */
  readonly status: HealthAnswerStatus;
  readonly service: string;
  /** The registered instance id, once registered. */
  readonly id?: string | undefined;
  /** The registration's state, or `none` when nothing is (or is yet) registered. */
  readonly registration: RegistrationState | 'none';
  /** Each local check's last result. */
  readonly checks: Readonly<Record<string, CheckReport>>;
}

/** Status code and body for a health route. */
export interface HealthAnswer {
  /** 200 while passing or warning; 503 when critical, before registering and from the moment draining starts. */
  readonly statusCode: 200 | 503;
  readonly body: HealthBody;
}

const NO_CHECKS: Readonly<Record<string, CheckReport>> = Object.freeze({});

/** Computes the health answer of a lifespan in `state` with `registration` (if any). */
export function healthAnswer(service: string, state: LifespanState, registration: Registration | undefined): HealthAnswer {
  if (registration === undefined) {
    // A worker without a port runs without registration: it is healthy while it runs.
    const status: HealthAnswerStatus = state === 'running' ? 'passing' : phaseOf(state);
    return answer(status, { status, service, registration: 'none', checks: NO_CHECKS });
  }
  const report = registration.health;
  const shuttingDown = state === 'draining' || state === 'stopping' || state === 'stopped';
  const phase = registration.state === 'draining' || registration.state === 'stopped' ? registration.state : undefined;
  const status: HealthAnswerStatus = shuttingDown ? phaseOf(state) : (phase ?? report.status);
  return answer(status, { status, service, id: registration.instance.id, registration: registration.state, checks: report.checks });
}

function phaseOf(state: LifespanState): 'starting' | 'draining' | 'stopped' {
  if (state === 'idle' || state === 'starting') return 'starting';
  return state === 'stopped' ? 'stopped' : 'draining';
}

function answer(status: HealthAnswerStatus, body: HealthBody): HealthAnswer {
  return { statusCode: status === 'passing' || status === 'warning' ? 200 : 503, body };
}
