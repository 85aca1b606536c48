/**
 * `rollcall/backend`: what a registry backend is written with, apart from what applications use
 * (as SmallRye Stork splits its SPI from its API). The contract every backend implements, the
 * {@link WatchHub} that gives a backend one underlying watch per service, the validators every
 * built-in backend runs on its input, the parsing of registry records, the counting of malformed
 * ones, and the typed errors a backend throws. Prove a backend with `describeBackendConformance`
 * from `rollcall/testing`.
 *
 * @example
 * import { WatchHub, assertInstanceRef, assertServiceName, type RegistryBackend } from 'rollcall/backend';
 *
 * @module rollcall/backend
 */
export type {
  Lease,
  RegistryBackend,
  RegistryBackendStats,
  RegistryReset,
  RenewResult,
  Unsubscribe,
  WatchHandlers,
} from './backend.js';
export { WatchHub, type WatchSink, type WatchSource } from './watch-hub.js';
export { MalformedRecords } from './malformed-records.js';
export {
  INSTANCE_ID_PATTERN,
  INSTANCE_LIMITS,
  SERVICE_NAME_PATTERN,
  TTL_LIMITS,
  assertInstanceRef,
  assertInstanceStatus,
  assertServiceName,
  assertTtl,
  createInstance,
  isInstanceStatus,
  parseInstanceRecord,
  withStatus,
  type HealthStatus,
  type InstanceInput,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from '../core/instance.js';
export { loggerOption, type Logger, type LoggerLike } from '../core/logger.js';
export { ClosedError, InvalidArgumentError, MalformedRecordError, RegistryAuthError, RegistryUnavailableError } from '../core/errors.js';
