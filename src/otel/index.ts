/**
 * `rollcall/otel`: rollcall's metrics and traces through the OpenTelemetry API
 * (`@opentelemetry/api`, an optional peer dependency, loaded only by this subpath). Bring your own
 * SDK; without one every instrument and span is a no-op. docs/observability.md shows the setup.
 *
 * @module rollcall/otel
 */
export { METER_NAME, observeRollcallMetrics, type OtelMetricsOptions, type RollcallOtelMetrics } from './metrics.js';
export { TRACER_NAME, traceRollcall, type OtelTracingOptions, type RollcallTracing } from './traces.js';
export type { ObservedParts } from '../observability/parts.js';
