/**
 * The answer of a health route, computed from the registration's last local check results (run
 * before every heartbeat), never by running checks per request. Load balancers read the status
 * code; people read the body.
 */
import type { CheckReport } from '../registration/health-checks.js';
import type { Registration } from '../registration/registration.js';
import type { HealthAnswer, HealthAnswerStatus, HealthBody, LifespanState } from './handle.js';

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
