/** What the sections of the conformance suite (conformance*.ts) share, in a module of its own so they import no suite. */
import type { RegistryBackend } from '../backends/backend.js';
import type { InstanceInput, ServiceInstance } from '../core/instance.js';
import type { TestRunner } from './runner.js';

/** What the suite's sections share: fresh backends, instances and the target's bounds. */
export interface ConformanceKit {
  readonly runner: TestRunner;
  readonly expiryGraceMs: number;
  readonly watchTimeoutMs: number;
  /** A backend in a namespace of its own, closed after the test. */
  readonly fresh: () => Promise<{ backend: RegistryBackend; namespace: string }>;
  /** Another backend in `namespace`, closed after the test. */
  readonly open: (namespace: string) => Promise<RegistryBackend>;
  /** An instance of `orders` with a new id, unless `overrides` say otherwise. */
  readonly instance: (overrides?: Partial<InstanceInput>) => ServiceInstance;
  /** Whether `list` holds `id` with a status other than critical. */
  readonly alive: (list: readonly ServiceInstance[], id: string) => boolean;
}
