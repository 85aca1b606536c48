/**
 * Spans for rollcall's network work through the OpenTelemetry trace API: one per registry call
 * that went to the network, one per discovery-HTTP attempt (a retry is a span of its own, with
 * `http.request.resend_count`). Attempts carry the caller's context to the instance
 * (`traceparent` through the global or given propagator). Attributes follow the OpenTelemetry
 * semantic conventions for HTTP and database clients; rollcall's own are under `rollcall.`.
 */
import {
  SpanKind,
  SpanStatusCode,
  context,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanStatus,
  type TextMapPropagator,
  type TextMapSetter,
  type TracerProvider,
} from '@opentelemetry/api';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { InvalidArgumentError, isRollcallError } from '../core/errors.js';
import { CHANNELS, type HttpAttemptMessage, type RegistryCallMessage } from '../observability/channels.js';

/** Options of {@link traceRollcall}. */
export interface OtelTracingOptions {
  /** Where the tracer comes from. @default the global TracerProvider (`trace.getTracerProvider()`) */
  tracerProvider?: TracerProvider | undefined;
  /** Writes the context into attempts' headers. @default the global propagator (`propagation`), W3C `traceparent` once an SDK registers it */
  propagator?: TextMapPropagator | undefined;
  /** A span per registry call that went to the network. @default true */
  registryCalls?: boolean | undefined;
  /**
   * Trace only registry calls made inside a trace (a resolve while a request is handled), not
   * the background ones that would each start a trace of their own: heartbeats, watches, a Consul
   * watch's long polls (as `requireParentSpan` does in OpenTelemetry's Redis instrumentations).
   * @default false
   */
  requireParentSpan?: boolean | undefined;
  /** A span per discovery-HTTP attempt, with the context propagated to the instance. @default true */
  httpAttempts?: boolean | undefined;
}

/** rollcall's tracing, on until closed. */
export interface RollcallTracing {
  /** Stops creating spans (spans in flight still end). Idempotent. */
  close(): void;
  /** {@link close}, for `using`. */
  [Symbol.dispose](): void;
}

/** The tracer's instrumentation scope name. */
export const TRACER_NAME = 'rollcall';

const headerSetter: TextMapSetter<HttpAttemptMessage> = {
  set(carrier, key, value) {
    carrier.setHeader(key, value);
  },
};

const incomingGetter = {
  keys: (carrier: Readonly<Record<string, string | string[] | undefined>>): string[] => Object.keys(carrier),
  get: (carrier: Readonly<Record<string, string | string[] | undefined>>, key: string): string | string[] | undefined => carrier[key.toLowerCase()],
};

/**
 * Starts tracing rollcall's registry calls and discovery-HTTP attempts in this process. Without
 * an OpenTelemetry SDK the API's tracer is a no-op and nothing is sent or propagated.
 *
 * An attempt's parent is the active context (the incoming request's span, when HTTP
 * instrumentation made it active); a gateway without one continues the `traceparent` its client
 * sent. Spans end when the answer's headers arrive, or the attempt fails.
 *
 * @example
 * const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] });
 * provider.register();
 * traceRollcall();
 */
export function traceRollcall(options: OtelTracingOptions = {}): RollcallTracing {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'traceRollcall options', options);
  const { tracerProvider, propagator } = options;
  if (tracerProvider !== undefined && typeof tracerProvider?.getTracer !== 'function') throw new InvalidArgumentError('tracerProvider', 'an OpenTelemetry TracerProvider', tracerProvider);
  if (propagator !== undefined && typeof propagator?.inject !== 'function') throw new InvalidArgumentError('propagator', 'an OpenTelemetry TextMapPropagator', propagator);
  for (const field of ['registryCalls', 'httpAttempts', 'requireParentSpan'] as const) {
    if (options[field] !== undefined && typeof options[field] !== 'boolean') throw new InvalidArgumentError(field, 'a boolean', options[field]);
  }
  const tracer = (tracerProvider ?? trace.getTracerProvider()).getTracer(TRACER_NAME);
  const propagate: Pick<TextMapPropagator, 'inject' | 'extract'> = propagator ?? propagation;
  const spans = new WeakMap<object, Span>();

  const handlers: [string, (message: unknown) => void][] = [];
  const on = <M>(name: string, handle: (message: M) => void): void => {
    handlers.push([
      name,
      (message) => {
        try {
          handle(message as M);
        } catch {
          // A subscriber that throws surfaces as an uncaught exception in the publisher.
        }
      },
    ]);
  };

  if (options.registryCalls !== false) {
    const requireParent = options.requireParentSpan === true;
    on<RegistryCallMessage>(`tracing:${CHANNELS.registryCall}:start`, (message) => {
      const parent = context.active();
      if (requireParent && trace.getSpan(parent) === undefined) return;
      const span = tracer.startSpan(`registry ${message.operation}`, { kind: SpanKind.CLIENT, attributes: registryAttributes(message) }, parent);
      spans.set(message, span);
    });
    on<RegistryCallMessage>(`tracing:${CHANNELS.registryCall}:asyncEnd`, (message) => {
      const span = spans.get(message);
      if (span === undefined) return;
      spans.delete(message);
      if (message.statusCode !== undefined) span.setAttribute('http.response.status_code', message.statusCode);
      if (message.outcome === 'error') {
        span.setAttribute('error.type', errorType(message.error, message.statusCode));
        span.setStatus(errorStatus(message.error));
      }
      span.end();
    });
  }

  if (options.httpAttempts !== false) {
    on<HttpAttemptMessage>(`tracing:${CHANNELS.httpAttempt}:start`, (message) => {
      const parent = parentOf(message, propagate);
      const span = tracer.startSpan(message.method, { kind: SpanKind.CLIENT, attributes: attemptAttributes(message) }, parent);
      spans.set(message, span);
      propagate.inject(trace.setSpan(parent, span), message, headerSetter);
    });
    on<HttpAttemptMessage>(`tracing:${CHANNELS.httpAttempt}:asyncEnd`, (message) => {
      const span = spans.get(message);
      if (span === undefined) return;
      spans.delete(message);
      span.setAttribute('rollcall.outcome', message.outcome ?? 'error');
      if (message.statusCode !== undefined) span.setAttribute('http.response.status_code', message.statusCode);
      const failed = message.outcome === 'error' || message.outcome === 'timeout' || (message.statusCode !== undefined && message.statusCode >= 400);
      if (failed) {
        span.setAttribute('error.type', message.outcome === 'timeout' ? 'timeout' : errorType(message.error, message.statusCode));
        span.setStatus(errorStatus(message.error));
      }
      span.end();
    });
  }

  for (const [name, handler] of handlers) subscribe(name, handler);
  let open = true;
  const close = (): void => {
    if (!open) return;
    open = false;
    for (const [name, handler] of handlers) unsubscribe(name, handler);
  };
  return { close, [Symbol.dispose]: close };
}

/** The active context; for a gateway without an active span, the context its client sent. */
function parentOf(message: HttpAttemptMessage, propagate: Pick<TextMapPropagator, 'extract'>): Context {
  const active = context.active();
  if (message.incomingHeaders === undefined || trace.getSpan(active) !== undefined) return active;
  return propagate.extract(active, message.incomingHeaders, incomingGetter);
}

function registryAttributes(message: RegistryCallMessage): Attributes {
  const { target } = message;
  const attributes: Attributes = { 'rollcall.registry.backend': target.backend, 'rollcall.registry.operation': message.operation };
  if (target.address !== undefined) attributes['server.address'] = target.address;
  if (target.port !== undefined) attributes['server.port'] = target.port;
  if (message.service !== undefined) attributes['rollcall.service'] = message.service;
  if (message.request !== undefined) {
    attributes['http.request.method'] = message.request.method;
    attributes['url.path'] = message.request.path;
  } else {
    attributes['db.system.name'] = target.backend;
    attributes['db.operation.name'] = message.operation;
  }
  return attributes;
}

function attemptAttributes(message: HttpAttemptMessage): Attributes {
  const attributes: Attributes = {
    'http.request.method': message.method,
    'server.address': message.instance.host,
    'server.port': message.instance.port,
    'url.full': message.url,
    'rollcall.service': message.service,
    'rollcall.answer_source': message.source,
    'rollcall.instance.id': message.instance.id,
    'rollcall.http.client': message.client,
  };
  // The conventions: set on retries only.
  if (message.resendCount > 0) attributes['http.request.resend_count'] = message.resendCount;
  return attributes;
}

function errorStatus(error: unknown): SpanStatus {
  return error instanceof Error ? { code: SpanStatusCode.ERROR, message: error.message } : { code: SpanStatusCode.ERROR };
}

/** `error.type` per the conventions: the status code, else the error's code or class name. */
function errorType(error: unknown, statusCode: number | undefined): string {
  if (statusCode !== undefined && statusCode >= 400) return String(statusCode);
  if (isRollcallError(error)) return error.code;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : '_OTHER';
}
