/**
 * rollcall: in-process service discovery. The public face: re-exports only, each listed by name,
 * so nothing internal leaks out. Optional parts with peer dependencies live behind their own
 * subpaths (`rollcall/testing`, ...), never here; what backend authors write backends with is in
 * `rollcall/backend`.
 *
 * @module rollcall
 */
export {
  ClosedError,
  InvalidArgumentError,
  MalformedRecordError,
  RegistrationError,
  RegistryAuthError,
  RegistryUnavailableError,
  RollcallError,
  ServiceUnavailableError,
  isRollcallError,
  type RollcallErrorCode,
  type TierAttempt,
} from './core/errors.js';
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
  type HealthStatus,
  type InstanceInput,
  type InstanceRef,
  type InstanceStatus,
  type ServiceInstance,
} from './core/instance.js';
export { systemClock, type Clock } from './core/clock.js';
export type { EventArguments } from './core/events.js';
export { silentLogger, type Logger, type LoggerLike, type MessageFirstLogger } from './core/logger.js';
export { DEFAULT_CACHE_TTL_MS, DEFAULT_DRAIN_WAIT_MS, WATCH_PROPAGATION_MARGIN_MS } from './core/defaults.js';
export type { Lease, RegistryBackend, RegistryBackendStats, RegistryReset, RenewResult, Unsubscribe, WatchHandlers } from './backends/backend.js';
export { MemoryBackend, MemoryRegistry, type MemoryBackendOptions } from './backends/memory.js';
export {
  InstancesEjectedError,
  STRATEGY_NAMES,
  consistentHash,
  filter,
  leastOutstanding,
  outlierEjection,
  p2c,
  random,
  roundRobin,
  slowStart,
  split,
  strategyByName,
  weighted,
  zoneAware,
  type CallOutcome,
  type ConsistentHashOptions,
  type EjectionEvent,
  type EjectionReason,
  type EjectionStatus,
  type FailureWindow,
  type FilterOptions,
  type InstanceEjection,
  type InstanceFigures,
  type InstanceSelector,
  type LeastOutstandingOptions,
  type NamedStrategyOptions,
  type NoInstance,
  type OutlierEjectionOptions,
  type OutlierEjectionStrategy,
  type P2cOptions,
  type PickContext,
  type PickResult,
  type PickedInstance,
  type Picker,
  type RandomOptions,
  type RoundRobinOptions,
  type SlowStartOptions,
  type SplitGroup,
  type SplitOptions,
  type Strategy,
  type StrategyName,
  type WeightedOptions,
  type ZoneAwareOptions,
} from './balancing/index.js';
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
export type { CheckReport, HealthCheck, HealthCheckResult, HealthReport } from './registration/health-checks.js';
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
export type { InstanceSummary, RegistryRead, RegistryReadService } from './inspection/shared-read.js';
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
