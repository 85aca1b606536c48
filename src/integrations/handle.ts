/**
 * What an integration hands to apps: the read-only view of a lifespan (its parts, its state and
 * its health), and the shape of the health route's answer. Types only; health-answer.ts computes
 * the answer and lifespan.ts implements the handle.
 */
import type { RegistryBackend } from '../backends/backend.js';
import type { HealthStatus } from '../core/instance.js';
import type { CheckReport } from '../registration/health-checks.js';
import type { Registration, RegistrationState } from '../registration/registration.js';
import type { Resolver } from '../resolution/resolver.js';

/**
 * `idle` (created) → `starting` (registering) → `running` → `draining` (shutdown began) →
 * `stopping` (deregistering, closing) → `stopped`.
 */
export type LifespanState = 'idle' | 'starting' | 'running' | 'draining' | 'stopping' | 'stopped';

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

/** What a framework exposes of its lifespan: the parts and their health, not the controls. */
export interface RollcallHandle {
  readonly service: string;
  readonly backend: RegistryBackend;
  readonly resolver: Resolver;
  /** The registration, once the server listens and it is registered (or running standalone). */
  readonly registration: Registration | undefined;
  readonly state: LifespanState;
  /** Aborts when shutdown begins: pass it to work loops so they stop taking new work. */
  readonly signal: AbortSignal;
  /**
   * Resolves once registering is done, with the registration, or with `undefined` when there is
   * nothing to register or shutdown began first. Rejects when registering failed (`required: true`).
   */
  ready(): Promise<Registration | undefined>;
  /** The answer of a health route: see {@link HealthAnswer}. */
  health(): HealthAnswer;
}
