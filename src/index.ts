/**
 * rollcall: in-process service discovery. The public face: re-exports only. Optional parts with
 * peer dependencies live behind their own subpaths (`rollcall/testing`, ...), never here.
 *
 * @module rollcall
 */
export * from './core/errors.js';
export {
  INSTANCE_LIMITS,
  SERVICE_NAME_PATTERN,
  SERVICE_NAME_MAX_LENGTH,
  INSTANCE_ID_PATTERN,
  TTL_LIMITS,
  assertServiceName,
  createInstance,
  instanceOrigin,
  isInstanceStatus,
  parseInstanceRecord,
  type HealthStatus,
  type InstanceInput,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from './core/instance.js';
export { systemClock, type Clock } from './core/clock.js';
export { silentLogger, type Logger, type LoggerLike, type MessageFirstLogger } from './core/logger.js';
export { DEFAULT_CACHE_TTL_MS, DEFAULT_DRAIN_WAIT_MS, WATCH_PROPAGATION_MARGIN_MS } from './core/defaults.js';
export type { Lease, RegistryBackend, RegistryBackendStats, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from './backends/backend.js';
export { WatchHub, type WatchSink, type WatchSource } from './backends/watch-hub.js';
export { MemoryBackend, MemoryRegistry, type MemoryBackendOptions } from './backends/memory.js';
export * from './balancing/index.js';
export {
  Registration,
  autoRegister,
  type AutoRegisterOptions,
  type DrainOptions,
  type RegistrationEvents,
  type RegistrationState,
  type RegistrationStats,
  type StateChangeEvent,
} from './registration/registration.js';
export type { CheckReport, HealthCheck, HealthCheckResult, HealthReport } from './registration/health.js';
export {
  DEFAULT_RESET_GRACE_MS,
  MAX_SERVICES_LIMIT,
  Resolver,
  createResolver,
  type AnswerSource,
  type BreakerState,
  type DegradedEvent,
  type ResolvedPick,
  type RecoveredEvent,
  type ResetEvent,
  type ResolutionTier,
  type ResolveOptions,
  type ResolveSource,
  type ResolverEvents,
  type ResolverOptions,
  type ResolverStats,
  type ServiceResolutionStatus,
  type ServiceResolveCounts,
  type WarningPolicy,
} from './resolution/resolver.js';
export { defaultEnvVariable, type EnvFallbackOptions } from './resolution/env-fallback.js';
export {
  SERVICE_HEALTHS,
  describeRegistry,
  type DescribeRegistryOptions,
  type RegistryDescription,
  type ServiceDescription,
  type ServiceHealth,
  type StatusCounts,
} from './inspection/describe.js';
export {
  CHANNELS,
  HttpAttemptMessage,
  type EjectionMessage,
  type HttpAttemptOutcome,
  type HttpClientKind,
  type HttpRetryMessage,
  type RegistryCallMessage,
  type RegistryCallOutcome,
  type RegistryTarget,
} from './observability/channels.js';
export {
  describeStatus,
  type RegistryStatus,
  type RegistryStatusService,
  type ResolverStatusInstance,
  type ResolverStatusService,
  type StatusFigures,
  type StatusInstance,
  type StatusOptions,
  type StatusResolves,
  type StatusView,
} from './observability/status.js';
export {
  Lifespan,
  lifespan,
  type BoundAddress,
  type HealthAnswer,
  type HealthAnswerStatus,
  type HealthBody,
  type LifespanOptions,
  type LifespanState,
  type ResolverSettings,
  type RollcallHandle,
  type RollcallOptions,
} from './integrations/lifespan.js';
