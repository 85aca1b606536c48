/**
 * A strict Consul HTTP API double for tests: the endpoints rollcall uses (and those the recorded
 * fixtures cover), with Consul's paths, methods, status codes, plain-text error bodies, headers,
 * blocking queries, TTL checks, the critical-service reaper and ACL enforcement. It rejects what
 * Consul rejects, in the order Consul checks it. Source of truth:
 * shared/reference/consul-http-api.md.
 *
 * Test-only knobs that real Consul does not expose (all documented in docs/backends/consul.md):
 * the reaper's period and minimum, the output sync delay, fault injection, the request log and
 * the hooks on `state` (snapshot restore, spurious wake-up, node health, agent restart).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv4, isIPv6, type AddressInfo } from 'node:net';
import { AclError, resolveToken, tokenOf, type AclOptions, type Authorizer } from './acl.js';
import { FilterError, FilterEvaluationError, createFilter, type BexprVersion, type Filter, type SelectorSchema } from './bexpr.js';
import {
  HttpError,
  checkTypeOf,
  decodeCheckDefinition,
  decodeCheckUpdate,
  decodeServiceDefinition,
  emptyCheck,
  isEmptyCheck,
  validateCheck,
  type CheckDefinition,
  type ServiceDefinition,
} from './decode.js';
import { parseGoDuration } from './duration.js';
import {
  agentServiceJson,
  catalogServiceJson,
  checkJson,
  healthEntryJson,
  nodeJson,
  type FormatContext,
} from './format.js';
import { ConsulState, recordKey, type CheckStatus, type NewCheck, type ServiceRecord } from './state.js';

export interface ConsulDoubleOptions {
  /** @default 'dc1' */
  readonly datacenter?: string | undefined;
  /** @default 'consul-double' */
  readonly nodeName?: string | undefined;
  /** Accept `ns` and `partition` (and the Enterprise-only fields) as Consul Enterprise does. @default false (community edition: both are rejected with 400) */
  readonly enterprise?: boolean | undefined;
  /** Enforce ACLs. @default ACLs disabled (tokens ignored) */
  readonly acl?: AclOptions | undefined;
  /** Accept script and Docker checks (`enable_script_checks`); they are stored, never run. @default false */
  readonly enableScriptChecks?: boolean | undefined;
  /** Test knob for Consul's `check_reap_interval`. @default 30000 */
  readonly reapIntervalMs?: number | undefined;
  /** Test knob for Consul's `check_deregister_interval_min`. @default 60000 */
  readonly deregisterCriticalMinMs?: number | undefined;
  /** Test knob for Consul's `check_update_interval`. @default 300000 */
  readonly checkUpdateIntervalMs?: number | undefined;
  /**
   * The generation of Consul's filter language (go-bexpr) to speak, see bexpr.ts: `0.1.2` for
   * Consul 1.5-1.10, `0.1.10` for Consul 1.11 until go-bexpr 0.1.12, `0.1.12` for newer ones;
   * `none` ignores `filter` everywhere, as agents before 1.5 do. @default '0.1.12'
   */
  readonly bexpr?: BexprVersion | 'none' | undefined;
  /** Apply `filter` on `/v1/catalog/services`; Consul before 1.14 ignores it there (hashicorp/consul#9422). @default true */
  readonly catalogServicesFilter?: boolean | undefined;
  /** Serve HTTPS with this key and certificate (PEM); `ca` plus `requestCert` to demand client certificates. */
  readonly tls?: { readonly key: string; readonly cert: string; readonly ca?: string; readonly requestCert?: boolean } | undefined;
}

/** A request as the double saw it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly receivedAt: number;
  status: number | undefined;
  respondedAt: number | undefined;
  /** The client went away before an answer. */
  aborted: boolean;
}

/** Makes matching requests misbehave, for failure tests. */
export interface Fault {
  readonly method?: 'GET' | 'PUT' | undefined;
  /** A prefix of the request path, or a pattern. */
  readonly path: string | RegExp;
  /** How many matching requests it affects. @default every one */
  readonly times?: number | undefined;
  /** Wait this long first (then answer normally unless `status` is set): a slow Consul. */
  readonly delayMs?: number | undefined;
  /** Answer with this status and `body` instead of handling the request. */
  readonly status?: number | undefined;
  readonly body?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Never answer: the connection stays open until the client gives up or the double closes. */
  readonly hang?: boolean | undefined;
  /** Destroy the connection without answering. */
  readonly reset?: boolean | undefined;
}

interface Reply {
  readonly status: number;
  readonly body?: string | undefined;
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

interface Context {
  readonly method: string;
  readonly path: string;
  /** The path after the route's prefix (an id or a service name), decoded. */
  readonly tail: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly closed: Promise<void>;
  readonly isClosed: () => boolean;
}

interface Route {
  readonly path: string;
  readonly prefix: boolean;
  readonly methods: readonly ('GET' | 'PUT')[];
  readonly handler: (context: Context) => Reply | Promise<Reply>;
}

interface ReadParams {
  readonly minIndex: number;
  readonly waitMs: number;
  readonly consistency: 'leader' | 'stale' | 'consistent';
  readonly cached: boolean;
  readonly filter: string;
}

const DEFAULT_WAIT_MS = 300_000;
const MAX_WAIT_MS = 600_000;
const UNKNOWN_PATH = 'Invalid URL path: not a recognized HTTP API endpoint\n';
const SCRIPTS_DISABLED = "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";
const META_KEY = /^[a-zA-Z0-9_-]+$/;

const NODE_FIELDS: SelectorSchema = {
  ID: 'string', Node: 'string', Address: 'string', Datacenter: 'string', TaggedAddresses: 'map', 'TaggedAddresses.*': 'string', Meta: 'map', 'Meta.*': 'string',
};
const SERVICE_FIELDS: SelectorSchema = {
  Kind: 'string', ID: 'string', Service: 'string', Tags: 'strings', Address: 'string', Meta: 'map', 'Meta.*': 'string', Port: 'int',
  TaggedAddresses: 'map', 'TaggedAddresses.*': 'struct', 'TaggedAddresses.*.Address': 'string', 'TaggedAddresses.*.Port': 'int',
  Weights: 'struct', 'Weights.Passing': 'int', 'Weights.Warning': 'int', EnableTagOverride: 'bool',
  Proxy: 'struct', 'Proxy.DestinationServiceName': 'string', 'Proxy.DestinationServiceID': 'string', 'Proxy.LocalServiceAddress': 'string', 'Proxy.LocalServicePort': 'int',
  Connect: 'struct', 'Connect.Native': 'bool',
};
const CHECK_FIELDS: SelectorSchema = {
  Node: 'string', CheckID: 'string', Name: 'string', Status: 'string', Notes: 'string', Output: 'string', ServiceID: 'string', ServiceName: 'string', ServiceTags: 'strings', Type: 'string',
};

function under(prefix: string, fields: SelectorSchema, root: 'struct' | 'structs'): SelectorSchema {
  return { [prefix]: root, ...Object.fromEntries(Object.entries(fields).map(([path, type]) => [`${prefix}.${path}`, type])) };
}

/** `structs.CheckServiceNode` (health.mdx "Filtering"). */
const HEALTH_SCHEMA: SelectorSchema = { ...under('Node', NODE_FIELDS, 'struct'), ...under('Service', SERVICE_FIELDS, 'struct'), ...under('Checks', CHECK_FIELDS, 'structs') };
/** `structs.ServiceNode` (catalog.mdx "Filtering"). */
const CATALOG_SCHEMA: SelectorSchema = {
  ID: 'string', Node: 'string', Address: 'string', Datacenter: 'string', TaggedAddresses: 'map', 'TaggedAddresses.*': 'string', NodeMeta: 'map', 'NodeMeta.*': 'string',
  ServiceKind: 'string', ServiceID: 'string', ServiceName: 'string', ServiceTags: 'strings', ServiceAddress: 'string', ServiceMeta: 'map', 'ServiceMeta.*': 'string',
  ServicePort: 'int', ServiceWeights: 'struct', 'ServiceWeights.Passing': 'int', 'ServiceWeights.Warning': 'int', ServiceEnableTagOverride: 'bool',
  ServiceTaggedAddresses: 'map', 'ServiceTaggedAddresses.*': 'struct', 'ServiceTaggedAddresses.*.Address': 'string', 'ServiceTaggedAddresses.*.Port': 'int',
  ServiceProxy: 'struct', 'ServiceProxy.DestinationServiceName': 'string', 'ServiceProxy.DestinationServiceID': 'string', ServiceConnect: 'struct', 'ServiceConnect.Native': 'bool',
};
/** `api.AgentService` (agent/service.mdx "Filtering"). */
const AGENT_SERVICE_SCHEMA: SelectorSchema = { ...SERVICE_FIELDS, Datacenter: 'string' };
/** `structs.HealthCheck` (agent/check.mdx, health.mdx "Filtering"). */
const AGENT_CHECK_SCHEMA: SelectorSchema = CHECK_FIELDS;
/** `structs.Node` (catalog.mdx "List Nodes" filtering). */
const NODE_SCHEMA: SelectorSchema = NODE_FIELDS;
/** Consul's `connect.sidecar_min_port` / `sidecar_max_port`. */
const SIDECAR_PORTS = { min: 21_000, max: 21_255 } as const;
const SIDECAR_SUFFIX = '-sidecar-proxy';
const HEALTH_STATES = ['any', 'passing', 'warning', 'critical'];
const MAX_INDEX = 2n ** 64n - 1n;

export class ConsulDouble {
  #state: ConsulState;
  readonly requests: RecordedRequest[] = [];
  /** Body fields Consul would silently ignore (`Struct.Field`), in arrival order. */
  readonly ignoredFields: string[] = [];
  readonly #options: ConsulDoubleOptions;
  readonly #server: Server;
  readonly #faults: { fault: Fault; remaining: number }[] = [];
  readonly #routes: readonly Route[];
  readonly #blocking = new Map<symbol, string>();
  readonly #hanging = new Set<ServerResponse>();
  readonly #enterprise: boolean;
  #url = '';
  #closed = false;

  private constructor(options: ConsulDoubleOptions) {
    this.#options = options;
    this.#enterprise = options.enterprise ?? false;
    this.#state = this.#freshState();
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void this.#handle(req, res);
    };
    this.#server =
      options.tls === undefined
        ? createHttpServer(handler)
        : createHttpsServer(
            {
              key: options.tls.key,
              cert: options.tls.cert,
              ...(options.tls.ca === undefined ? {} : { ca: options.tls.ca }),
              requestCert: options.tls.requestCert ?? false,
              rejectUnauthorized: options.tls.requestCert ?? false,
            },
            handler,
          );
    this.#routes = this.#buildRoutes();
  }

  /** Starts a double on 127.0.0.1 on a free port. */
  static async start(options: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
    const double = new ConsulDouble(options);
    await new Promise<void>((resolve, reject) => {
      double.#server.once('error', reject);
      double.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = double.#server.address() as AddressInfo;
    double.#url = `${options.tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`;
    return double;
  }

  /** The agent and catalog; replaced by {@link restart} when the data is lost. */
  get state(): ConsulState {
    return this.#state;
  }

  /**
   * Test hook: the agent restarts. Every open connection is dropped (blocking queries fail on the
   * client side). Without `keepData` it comes back as a `-dev` agent (or servers without their
   * data) would: empty catalog, indexes counting from the start again, a new node id.
   */
  restart(options: { readonly keepData: boolean }): void {
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    this.#server.closeAllConnections();
    if (options.keepData) return;
    this.#state.close();
    this.#state = this.#freshState();
  }

  /** `http://127.0.0.1:<port>` (or https). */
  get url(): string {
    return this.#url;
  }

  /** The `host:port` form of the address, as `CONSUL_HTTP_ADDR` usually holds it. */
  get address(): string {
    return this.#url.replace(/^https?:\/\//, '');
  }

  /** Makes matching requests misbehave until the returned function is called (or `times` runs out). */
  injectFault(fault: Fault): () => void {
    const entry = { fault, remaining: fault.times ?? Number.POSITIVE_INFINITY };
    this.#faults.push(entry);
    return () => {
      const position = this.#faults.indexOf(entry);
      if (position >= 0) this.#faults.splice(position, 1);
    };
  }

  /** Blocking queries waiting right now, optionally only those whose path starts with `pathPrefix`. */
  blockingQueries(pathPrefix = '/'): number {
    return [...this.#blocking.values()].filter((path) => path.startsWith(pathPrefix)).length;
  }

  /** Requests whose path starts with `pathPrefix`. */
  requestsTo(pathPrefix: string, method?: string): RecordedRequest[] {
    return this.requests.filter((request) => request.path.startsWith(pathPrefix) && (method === undefined || request.method === method));
  }

  /** Stops timers, answers nothing more, closes every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.state.close();
    for (const res of this.#hanging) res.destroy();
    this.#hanging.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rawPath = (req.url ?? '/').split('?')[0] ?? '/';
    const url = new URL(req.url ?? '/', 'http://double');
    let path: string;
    try {
      path = decodeURIComponent(url.pathname);
    } catch {
      path = url.pathname;
    }
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path,
      query: url.searchParams,
      headers: req.headers,
      receivedAt: Date.now(),
      status: undefined,
      respondedAt: undefined,
      aborted: false,
    };
    this.requests.push(recorded);
    let finished = false;
    const closed = new Promise<void>((resolve) => {
      res.once('close', () => {
        if (!finished) recorded.aborted = true;
        resolve();
      });
    });
    const send = (reply: Reply): void => {
      if (res.destroyed || res.writableEnded) return;
      finished = true;
      recorded.status = reply.status;
      recorded.respondedAt = Date.now();
      this.#write(res, reply);
    };

    const fault = this.#takeFault(recorded);
    if (fault !== undefined) {
      if (fault.reset === true) {
        req.socket.destroy();
        return;
      }
      if (fault.hang === true) {
        this.#hanging.add(res);
        void closed.then(() => this.#hanging.delete(res));
        return;
      }
      if (fault.delayMs !== undefined) {
        let timer: NodeJS.Timeout | undefined;
        const delayed = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, fault.delayMs);
        });
        await Promise.race([delayed, closed]);
        clearTimeout(timer);
        if (res.destroyed) return;
      }
      if (fault.status !== undefined) {
        send({ status: fault.status, body: fault.body ?? '', headers: fault.headers });
        return;
      }
    }

    const body = await readBody(req);
    // A request that was still arriving when the double closed must not touch its stopped state.
    if (this.#closed) {
      req.socket.destroy();
      return;
    }
    // Go's ServeMux cleans paths with a redirect; cleanhttp rejects unprintable characters.
    if ([...path].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f)) {
      send({ status: 400, body: '' });
      return;
    }
    if (/\/\/|\/\.\.?(\/|$)/.test(rawPath)) {
      send({ status: 301, body: '', headers: { Location: cleanPath(rawPath) } });
      return;
    }
    const route = this.#routes.find((candidate) => (candidate.prefix ? path.startsWith(candidate.path) : path === candidate.path));
    if (route === undefined) {
      send({ status: 404, body: UNKNOWN_PATH, headers: { 'Content-Type': 'text/plain; charset=utf-8' } });
      return;
    }
    const allow = [...route.methods, 'OPTIONS'].sort().join(',');
    if (recorded.method === 'OPTIONS') {
      send({ status: 200, body: '', headers: { Allow: allow, ...this.#defaultHeaders() } });
      return;
    }
    if (!(route.methods as readonly string[]).includes(recorded.method)) {
      send({ status: 405, body: `method ${recorded.method} not allowed`, headers: { Allow: allow, ...this.#defaultHeaders() } });
      return;
    }
    const context: Context = {
      method: recorded.method,
      path,
      tail: route.prefix ? path.slice(route.path.length) : '',
      query: url.searchParams,
      headers: req.headers,
      body,
      closed,
      isClosed: () => res.destroyed || recorded.aborted,
    };
    let reply: Reply;
    try {
      reply = await route.handler(context);
    } catch (error) {
      reply = this.#errorReply(error);
    }
    send({ ...reply, headers: { ...this.#defaultHeaders(), ...reply.headers } });
  }

  #takeFault(request: RecordedRequest): Fault | undefined {
    for (const entry of this.#faults) {
      const { fault } = entry;
      if (fault.method !== undefined && fault.method !== request.method) continue;
      const matches = typeof fault.path === 'string' ? request.path.startsWith(fault.path) : fault.path.test(request.path);
      if (!matches || entry.remaining <= 0) continue;
      entry.remaining -= 1;
      return fault;
    }
    return undefined;
  }

  #write(res: ServerResponse, reply: Reply): void {
    for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
    if (reply.json !== undefined) {
      res.setHeader('Content-Type', 'application/json');
      res.writeHead(reply.status);
      res.end(JSON.stringify(reply.json));
      return;
    }
    const body = reply.body ?? '';
    // Go sniffs a plain-text type for error bodies; success without payload has no type at all.
    if (body !== '' && !res.hasHeader('Content-Type')) res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.writeHead(reply.status);
    res.end(body);
  }

  #freshState(): ConsulState {
    const options = this.#options;
    return new ConsulState({
      datacenter: options.datacenter ?? 'dc1',
      nodeName: options.nodeName ?? 'consul-double',
      nodeAddress: '127.0.0.1',
      reapIntervalMs: options.reapIntervalMs ?? 30_000,
      deregisterCriticalMinMs: options.deregisterCriticalMinMs ?? 60_000,
      checkUpdateIntervalMs: options.checkUpdateIntervalMs ?? 300_000,
      now: () => Date.now(),
    });
  }

  #defaultHeaders(): Record<string, string> {
    return { 'X-Consul-Default-Acl-Policy': this.#options.acl?.defaultPolicy ?? 'allow' };
  }

  #format(): FormatContext {
    return { state: this.state, enterprise: this.#enterprise };
  }

  #buildRoutes(): Route[] {
    const put = (path: string, handler: Route['handler']): Route => ({ path, prefix: path.endsWith('/'), methods: ['PUT'], handler });
    const get = (path: string, handler: Route['handler']): Route => ({ path, prefix: path.endsWith('/'), methods: ['GET'], handler });
    return [
      put('/v1/agent/service/register', (context) => this.#registerService(context)),
      put('/v1/agent/service/deregister/', (context) => this.#deregisterService(context)),
      put('/v1/agent/service/maintenance/', (context) => this.#serviceMaintenance(context)),
      put('/v1/agent/check/register', (context) => this.#registerCheck(context)),
      put('/v1/agent/check/deregister/', (context) => this.#deregisterCheck(context)),
      put('/v1/agent/check/update/', (context) => {
        const update = decodeCheckUpdate(context.body);
        if (!isStatus(update.status)) throw new HttpError(400, `Invalid check status: '${update.status}'`);
        return this.#updateCheck(context, update.status, update.output);
      }),
      put('/v1/agent/check/pass/', (context) => this.#updateCheck(context, 'passing', context.query.get('note') ?? '')),
      put('/v1/agent/check/warn/', (context) => this.#updateCheck(context, 'warning', context.query.get('note') ?? '')),
      put('/v1/agent/check/fail/', (context) => this.#updateCheck(context, 'critical', context.query.get('note') ?? '')),
      get('/v1/agent/self', (context) => this.#agentSelf(context)),
      get('/v1/agent/services', (context) => this.#agentServices(context)),
      get('/v1/agent/checks', (context) => this.#agentChecks(context)),
      get('/v1/health/service/', (context) => this.#healthService(context)),
      get('/v1/health/checks/', (context) => this.#healthChecks(context)),
      get('/v1/health/state/', (context) => this.#healthState(context)),
      get('/v1/catalog/datacenters', () => ({ status: 200, json: [this.state.options.datacenter] })),
      get('/v1/catalog/nodes', (context) => this.#catalogNodes(context)),
      get('/v1/catalog/services', (context) => this.#catalogServices(context)),
      get('/v1/catalog/service/', (context) => this.#catalogService(context)),
      get('/v1/status/leader', (context) => {
        this.#checkDatacenter(context.query);
        return { status: 200, json: `${this.state.options.nodeAddress}:8300` };
      }),
    ];
  }

  // --- writes -------------------------------------------------------------------------------

  #registerService(context: Context): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const definition = decodeServiceDefinition(context.body, this.ignoredFields);
    if (definition.name === '') throw new HttpError(400, 'Missing service name');
    if (['0.0.0.0', '::', '[::]'].includes(definition.address)) throw new HttpError(400, 'Invalid service address');
    const authz = this.#authorize(context);
    if (definition.weights !== undefined) {
      const problem = weightsProblem(definition.weights);
      if (problem !== undefined) throw new HttpError(400, `Invalid Weights: ${problem}`);
    }
    const metaProblem = metaProblemOf(definition.meta);
    if (metaProblem !== undefined) throw new HttpError(400, `Invalid Service Meta: ${metaProblem}`);
    const validation = validationProblems(definition);
    if (validation.length > 0) {
      const items = validation.map((problem) => `\t* ${problem}`).join('\n');
      throw new HttpError(400, `Validation failed: ${validation.length} error${validation.length === 1 ? '' : 's'} occurred:\n${items}\n\n`);
    }
    const checks = checksOf(definition);
    for (const check of [...checks, ...(definition.sidecarService === undefined ? [] : checksOf(definition.sidecarService))]) {
      const problem = validateCheck(check);
      if (problem !== undefined) throw new HttpError(400, `Invalid check: ${problem}`);
    }
    if (checks.some((check) => check.status !== '' && !isStatus(check.status))) {
      throw new HttpError(400, "Status for checks must 'passing', 'warning', 'critical'");
    }
    const id = definition.id === '' ? definition.name : definition.id;
    authz.require('service', definition.name, 'write');
    const previous = this.state.service(partition, namespace, id);
    if (previous !== undefined && previous.name !== definition.name) authz.require('service', previous.name, 'write');
    this.#requireScriptChecks(checks);
    const replace = context.query.has('replace-existing-checks') && ['', 'true'].includes(context.query.get('replace-existing-checks') ?? '');
    this.#addService(definition, id, checks, { namespace, partition, replace, sidecarOf: undefined });
    // sidecarServiceFromNodeService: the nested definition becomes a service of its own.
    const sidecarId = `${id}${SIDECAR_SUFFIX}`;
    const sidecar = definition.sidecarService;
    if (sidecar !== undefined) {
      authz.require('service', sidecar.name === '' ? `${definition.name}${SIDECAR_SUFFIX}` : sidecar.name, 'write');
      this.#addSidecar(definition, id, sidecar, { namespace, partition, replace });
    } else {
      const stale = this.state.service(partition, namespace, sidecarId);
      if (stale?.sidecarOf === id) this.state.removeService(stale);
    }
    return { status: 200 };
  }

  #addService(
    definition: ServiceDefinition,
    id: string,
    checks: readonly CheckDefinition[],
    where: { namespace: string; partition: string; replace: boolean; sidecarOf: string | undefined },
  ): void {
    const newChecks: NewCheck[] = checks.map((check, position) => ({
      checkId: check.checkId !== '' ? check.checkId : checks.length > 1 ? `service:${id}:${position + 1}` : `service:${id}`,
      name: check.name !== '' ? check.name : `Service '${definition.name}' check`,
      notes: check.notes,
      status: isStatus(check.status) ? check.status : 'critical',
      type: checkTypeOf(check),
      definition: check,
    }));
    this.state.addService(
      {
        id,
        name: definition.name,
        tags: definition.tags ?? [],
        address: definition.address,
        taggedAddresses: withDefaultTaggedAddresses(definition.taggedAddresses, definition.address, definition.port),
        meta: definition.meta,
        port: definition.port,
        weights: definition.weights ?? { Passing: 1, Warning: 1 },
        enableTagOverride: definition.enableTagOverride,
        kind: definition.kind,
        proxy: definition.proxy,
        connectNative: definition.connectNative,
        namespace: where.namespace,
        partition: where.partition,
        sidecarOf: where.sidecarOf,
      },
      newChecks,
      where.replace,
    );
  }

  /**
   * `sidecarServiceFromNodeService` and `addServiceLocked` (agent/sidecar_service.go, agent/agent.go):
   * id `<id>-sidecar-proxy`, name `<name>-sidecar-proxy`, kind `connect-proxy`, the parent's
   * address, tags and meta unless given, a port from 21000-21255 unless given, the proxy's
   * destination and local service, and two default checks when none are given.
   */
  #addSidecar(parent: ServiceDefinition, parentId: string, sidecar: ServiceDefinition, where: { namespace: string; partition: string; replace: boolean }): void {
    const id = `${parentId}${SIDECAR_SUFFIX}`;
    const existing = this.state.service(where.partition, where.namespace, id);
    let port = sidecar.port;
    if (port < 1) {
      const used = new Set([...this.state.services.values()].filter((service) => service.id !== id).map((service) => service.port));
      port = existing !== undefined && existing.port >= SIDECAR_PORTS.min && existing.port <= SIDECAR_PORTS.max ? existing.port : SIDECAR_PORTS.min;
      while (used.has(port) && port < SIDECAR_PORTS.max) port++;
    }
    const address = sidecar.address === '' ? parent.address : sidecar.address;
    const localServiceAddress = sidecar.proxy.localServiceAddress === '' ? '127.0.0.1' : sidecar.proxy.localServiceAddress;
    const definition: ServiceDefinition = {
      ...sidecar,
      id,
      name: sidecar.name === '' ? `${parent.name}${SIDECAR_SUFFIX}` : sidecar.name,
      kind: sidecar.kind === '' ? 'connect-proxy' : sidecar.kind,
      address,
      port,
      tags: sidecar.tags !== null && sidecar.tags.length > 0 ? sidecar.tags : parent.tags,
      meta: Object.keys(sidecar.meta).length > 0 ? sidecar.meta : parent.meta,
      proxy: {
        destinationServiceName: sidecar.proxy.destinationServiceName === '' ? parent.name : sidecar.proxy.destinationServiceName,
        destinationServiceId: sidecar.proxy.destinationServiceId === '' ? parentId : sidecar.proxy.destinationServiceId,
        localServiceAddress,
        localServicePort: sidecar.proxy.localServicePort < 1 ? parent.port : sidecar.proxy.localServicePort,
      },
      sidecarService: undefined,
    };
    const given = checksOf(sidecar);
    const checks = given.length > 0 ? given : sidecarDefaultChecks(parentId, address === '' ? localServiceAddress : address, port);
    this.#addService(definition, id, checks, { ...where, sidecarOf: parentId });
  }

  #deregisterService(context: Context): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const authz = this.#authorize(context);
    const service = this.#localService(partition, namespace, context.tail);
    authz.require('service', service.name, 'write');
    this.state.removeService(service);
    // removeServiceSidecars: a sidecar registered through its parent goes with it.
    const sidecar = this.state.service(partition, namespace, `${service.id}${SIDECAR_SUFFIX}`);
    if (sidecar?.sidecarOf === service.id) this.state.removeService(sidecar);
    return { status: 200 };
  }

  #serviceMaintenance(context: Context): Reply {
    if (context.tail === '') throw new HttpError(400, 'Missing service ID');
    if (!context.query.has('enable')) throw new HttpError(400, 'Missing value for enable');
    const raw = context.query.get('enable') ?? '';
    const enable = parseGoBool(raw);
    if (enable === undefined) throw new HttpError(400, `Invalid value for enable: ${JSON.stringify(raw)}`);
    const { namespace, partition } = this.#entMeta(context);
    const authz = this.#authorize(context);
    const service = this.#localService(partition, namespace, context.tail);
    authz.require('service', service.name, 'write');
    this.state.setMaintenance(service, enable, context.query.get('reason') ?? '');
    return { status: 200 };
  }

  #registerCheck(context: Context): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const definition = decodeCheckDefinition(context.body, this.ignoredFields);
    if (definition.name === '') throw new HttpError(400, 'Missing check name');
    if (definition.status !== '' && !isStatus(definition.status)) throw new HttpError(400, 'Bad check status');
    const authz = this.#authorize(context);
    const problem = validateCheck(definition);
    if (problem !== undefined) throw new HttpError(400, `Invalid check: ${problem}`);
    let service: ServiceRecord | undefined;
    if (definition.serviceId !== '') {
      service = this.state.service(partition, namespace, definition.serviceId);
      if (service === undefined || !service.local) throw new HttpError(404, `ServiceID ${JSON.stringify(definition.serviceId)} does not exist`);
      authz.require('service', service.name, 'write');
    } else {
      authz.require('node', this.state.options.nodeName, 'write');
    }
    this.#requireScriptChecks([definition]);
    this.state.addCheck(
      {
        checkId: definition.checkId !== '' ? definition.checkId : definition.name,
        name: definition.name,
        notes: definition.notes,
        status: isStatus(definition.status) ? definition.status : 'critical',
        type: checkTypeOf(definition),
        definition,
      },
      service,
      namespace,
      partition,
    );
    return { status: 200 };
  }

  #updateCheck(context: Context, status: CheckStatus, output: string): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const authz = this.#authorize(context);
    const id = context.tail;
    // Only checks registered with this agent; serfHealth lives in the catalog alone.
    const check = this.state.checks.get(recordKey(partition, namespace, id));
    if (check === undefined) throw new HttpError(404, `Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`);
    if (check.serviceId === '') authz.require('node', this.state.options.nodeName, 'write');
    else authz.require('service', check.serviceName, 'write');
    if (check.type !== 'ttl') throw new HttpError(500, `CheckID ${JSON.stringify(id)} does not have associated TTL`);
    this.state.updateTtl(check, status, output);
    return { status: 200 };
  }

  #deregisterCheck(context: Context): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const authz = this.#authorize(context);
    const id = context.tail;
    // vetCheckUpdateWithAuthorizer: existence first, then the permission on the check's owner.
    const check = this.state.checks.get(recordKey(partition, namespace, id));
    if (check === undefined) throw new HttpError(404, `Unknown check ID ${JSON.stringify(id)}. Ensure that the check ID is passed, not the check name.`);
    if (check.serviceId === '') authz.require('node', this.state.options.nodeName, 'write');
    else authz.require('service', check.serviceName, 'write');
    this.state.removeCheck(check);
    return { status: 200 };
  }

  // --- reads --------------------------------------------------------------------------------

  /** `AgentSelf` (agent/agent_endpoint.go): needs `agent:read` on the node. */
  #agentSelf(context: Context): Reply {
    const authz = this.#authorize(context);
    authz.require('agent', this.state.options.nodeName, 'read');
    const { options } = this.state;
    const services = [...this.state.services.values()].filter((service) => service.local).length;
    const checks = this.state.checks.size;
    return {
      status: 200,
      json: {
        Config: {
          Datacenter: options.datacenter,
          PrimaryDatacenter: options.datacenter,
          NodeName: options.nodeName,
          NodeID: this.state.nodeId,
          Revision: 'double',
          Server: true,
          Version: '1.17.0',
          BuildDate: '2023-11-01T00:00:00Z',
        },
        DebugConfig: { Datacenter: options.datacenter, NodeName: options.nodeName, DataDir: '' },
        Coord: { Vec: [0, 0, 0, 0, 0, 0, 0, 0], Error: 1.5, Adjustment: 0, Height: 0.00001 },
        Member: {
          Name: options.nodeName,
          Addr: options.nodeAddress,
          Port: 8301,
          Tags: { dc: options.datacenter, id: this.state.nodeId, role: 'consul', build: '1.17.0:double', vsn: '2', port: '8300' },
          Status: 1,
          ProtocolMin: 1,
          ProtocolMax: 5,
          ProtocolCur: 2,
          DelegateMin: 2,
          DelegateMax: 5,
          DelegateCur: 4,
        },
        Stats: {
          agent: { check_monitors: '0', check_ttls: String([...this.state.checks.values()].filter((check) => check.type === 'ttl').length), checks: String(checks), services: String(services) },
          build: { prerelease: '', revision: 'double', version: '1.17.0', version_metadata: '' },
        },
        Meta: { 'consul-network-segment': '', 'consul-version': '1.17.0' },
      },
    };
  }

  /** `HealthServiceChecks`: the service checks of every instance of a service. */
  #healthChecks(context: Context): Promise<Reply> {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const name = context.tail;
    if (name === '') throw new HttpError(400, 'Missing service name');
    this.#checkDatacenter(context.query);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, CHECK_FIELDS);
    return this.#blockingRead(context, params, authz, () => {
      let filtered = false;
      const checks: unknown[] = [];
      for (const service of this.#servicesNamed(partition, namespace, name)) {
        if (!authz.allowed('service', service.name, 'read')) {
          filtered = true;
          continue;
        }
        for (const check of this.state.checksOf(service)) {
          const json = checkJson(this.#format(), check, 'catalog');
          if (filter?.matches(json) === false) continue;
          checks.push(json);
        }
      }
      return { index: this.state.serviceIndex(partition, namespace, name), json: checks, filtered };
    });
  }

  /** `HealthChecksInState`: `any` or one status; the state store answers other words with no checks. */
  #healthState(context: Context): Promise<Reply> {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const state = context.tail;
    if (state === '') throw new HttpError(400, 'Missing check state');
    this.#checkDatacenter(context.query);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, CHECK_FIELDS);
    return this.#blockingRead(context, params, authz, () => {
      let filtered = false;
      const checks: unknown[] = [];
      if (HEALTH_STATES.includes(state)) {
        const all = [...(namespace === 'default' ? this.state.nodeChecks.values() : []), ...this.state.checks.values()];
        for (const check of all) {
          if (check.namespace !== namespace || check.partition !== partition) continue;
          if (state !== 'any' && check.status !== state) continue;
          const readable = check.serviceId === '' ? authz.allowed('node', this.state.options.nodeName, 'read') : authz.allowed('service', check.serviceName, 'read');
          if (!readable) {
            filtered = true;
            continue;
          }
          const json = checkJson(this.#format(), check, 'catalog');
          if (filter?.matches(json) === false) continue;
          checks.push(json);
        }
      }
      return { index: this.state.index, json: checks, filtered };
    });
  }

  /** `CatalogNodes`: the double's one node. */
  #catalogNodes(context: Context): Promise<Reply> {
    const params = this.#readParams(context);
    const nodeMeta = context.query.getAll('node-meta');
    this.#checkDatacenter(context.query);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, NODE_SCHEMA);
    return this.#blockingRead(context, params, authz, () => {
      const node = nodeJson(this.#format());
      const readable = authz.allowed('node', this.state.options.nodeName, 'read');
      const matches = readable && this.#nodeMetaMatches(nodeMeta) && filter?.matches(node) !== false;
      return { index: this.state.nodesIndex, json: matches ? [node] : [], filtered: !readable };
    });
  }

  #agentServices(context: Context): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, AGENT_SERVICE_SCHEMA);
    let filtered = false;
    const result: Record<string, unknown> = {};
    for (const service of this.state.services.values()) {
      if (!service.local || service.namespace !== namespace || service.partition !== partition) continue;
      if (!authz.allowed('service', service.name, 'read')) {
        filtered = true;
        continue;
      }
      const json = agentServiceJson(this.#format(), service);
      if (filter?.matches({ ...json, Kind: service.kind }) === false) continue;
      result[service.id] = json;
    }
    return { status: 200, json: result, headers: filteredHeader(filtered, authz) };
  }

  #agentChecks(context: Context): Reply {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, AGENT_CHECK_SCHEMA);
    let filtered = false;
    const result: Record<string, unknown> = {};
    for (const check of this.state.checks.values()) {
      if (check.namespace !== namespace || check.partition !== partition) continue;
      const readable = check.serviceId === '' ? authz.allowed('node', this.state.options.nodeName, 'read') : authz.allowed('service', check.serviceName, 'read');
      if (!readable) {
        filtered = true;
        continue;
      }
      const json = checkJson(this.#format(), check, 'agent');
      if (filter?.matches(json) === false) continue;
      result[check.checkId] = json;
    }
    return { status: 200, json: result, headers: filteredHeader(filtered, authz) };
  }

  #healthService(context: Context): Promise<Reply> {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const name = context.tail;
    if (name === '') throw new HttpError(400, 'Missing service name');
    const passing = queryBool(context.query, 'passing');
    if (passing === 'invalid') throw new HttpError(400, 'Invalid value for ?passing');
    const tags = context.query.getAll('tag');
    const nodeMeta = context.query.getAll('node-meta');
    this.#checkDatacenter(context.query);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, HEALTH_SCHEMA);
    return this.#blockingRead(context, params, authz, () => {
      let filtered = false;
      const entries: unknown[] = [];
      for (const service of this.#servicesNamed(partition, namespace, name)) {
        if (!authz.allowed('service', service.name, 'read') || !authz.allowed('node', this.state.options.nodeName, 'read')) {
          filtered = true;
          continue;
        }
        if (!tags.every((tag) => service.tags.includes(tag)) || !this.#nodeMetaMatches(nodeMeta)) continue;
        const entry = healthEntryJson(this.#format(), service);
        const datum = { ...entry, Service: { ...(entry['Service'] as object), Kind: service.kind } };
        if (filter?.matches(datum) === false) continue;
        // ?passing drops every entry with any non-passing check, node checks and maintenance included.
        if (passing === true && (entry['Checks'] as { Status: string }[]).some((check) => check.Status !== 'passing')) continue;
        entries.push(entry);
      }
      return { index: this.state.serviceIndex(partition, namespace, name), json: entries, filtered };
    });
  }

  #catalogServices(context: Context): Promise<Reply> {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const nodeMeta = context.query.getAll('node-meta');
    this.#checkDatacenter(context.query);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, CATALOG_SCHEMA, 'catalog services');
    return this.#blockingRead(context, params, authz, () => {
      let filtered = false;
      const tagsByName = new Map<string, Set<string>>();
      for (const service of this.state.services.values()) {
        if (service.namespace !== namespace || service.partition !== partition) continue;
        if (!authz.allowed('service', service.name, 'read')) {
          filtered = true;
          continue;
        }
        if (!this.#nodeMetaMatches(nodeMeta)) continue;
        // The services table holds no node data: NodeMeta and the node's addresses are empty in
        // what the filter sees, so NodeMeta filters match nothing here (hashicorp/consul#17422).
        const row = { ...catalogServiceJson(this.#format(), service), ID: '', Address: '', Datacenter: '', TaggedAddresses: {}, NodeMeta: {} };
        if (filter?.matches(row) === false) continue;
        const tags = tagsByName.get(service.name) ?? new Set<string>();
        for (const tag of service.tags) tags.add(tag);
        tagsByName.set(service.name, tags);
      }
      const json: Record<string, string[]> = {};
      for (const name of [...tagsByName.keys()].sort()) json[name] = [...(tagsByName.get(name) ?? [])].sort();
      return { index: this.state.servicesTableIndex, json, filtered };
    });
  }

  #catalogService(context: Context): Promise<Reply> {
    const { namespace, partition } = this.#entMeta(context);
    const params = this.#readParams(context);
    const name = context.tail;
    if (name === '') throw new HttpError(400, 'Missing service name');
    const tags = context.query.getAll('tag');
    this.#checkDatacenter(context.query);
    const authz = this.#authorize(context);
    const filter = this.#compileFilter(params.filter, CATALOG_SCHEMA);
    return this.#blockingRead(context, params, authz, () => {
      let filtered = false;
      const rows: unknown[] = [];
      for (const service of this.#servicesNamed(partition, namespace, name)) {
        if (!authz.allowed('service', service.name, 'read')) {
          filtered = true;
          continue;
        }
        if (!tags.every((tag) => service.tags.includes(tag))) continue;
        const row = catalogServiceJson(this.#format(), service);
        if (filter?.matches(row) === false) continue;
        rows.push(row);
      }
      return { index: this.state.serviceIndex(partition, namespace, name), json: rows, filtered };
    });
  }

  /**
   * Consul's blockingQuery: answer at once without `?index`; otherwise hold the request until the
   * result's index passes it, the state store is abandoned (snapshot restore), or the wait (plus
   * up to wait/16 of jitter) runs out.
   */
  async #blockingRead(
    context: Context,
    params: ReadParams,
    authz: Authorizer,
    compute: () => { index: number; json: unknown; filtered: boolean },
  ): Promise<Reply> {
    let result = compute();
    if (params.minIndex > 0 && result.index <= params.minIndex) {
      const key = Symbol('blocking query');
      this.#blocking.set(key, context.path);
      let release = (): void => {};
      const woken = new Promise<void>((resolve) => {
        release = resolve;
      });
      const unsubscribe = this.state.subscribe((abandon) => {
        try {
          if (abandon || compute().index > params.minIndex) release();
        } catch {
          // The final compute below throws the same error, which becomes the answer.
          release();
        }
      });
      const timer = setTimeout(release, params.waitMs + Math.random() * (params.waitMs / 16));
      timer.unref();
      await Promise.race([woken, context.closed]);
      clearTimeout(timer);
      unsubscribe();
      this.#blocking.delete(key);
      result = compute();
    }
    return {
      status: 200,
      json: result.json,
      headers: {
        'X-Consul-Index': String(Math.max(1, result.index)),
        'X-Consul-Knownleader': 'true',
        'X-Consul-Lastcontact': '0',
        'X-Consul-Effective-Consistency': params.consistency,
        'X-Consul-Query-Backend': 'blocking-query',
        ...(params.cached ? { 'X-Cache': 'MISS', Age: '0' } : {}),
        ...filteredHeader(result.filtered, authz),
      },
    };
  }

  // --- shared parsing -----------------------------------------------------------------------

  /**
   * Filter errors come back from the servers' RPC endpoints: Consul 1.7 answered them with 500
   * (hashicorp/consul#7338, go-bexpr 0.1.2); the double answers 500 for the generations before
   * 0.1.12 and 400 for the current one (unverified, see docs/backends/consul.md).
   */
  #errorReply(error: unknown): Reply {
    if (error instanceof HttpError) return { status: error.status, body: error.message };
    if (error instanceof AclError) return { status: 403, body: error.message };
    const filterStatus = this.#options.bexpr === '0.1.2' || this.#options.bexpr === '0.1.10' ? 500 : 400;
    if (error instanceof FilterError) return { status: filterStatus, body: `Failed to create boolean expression evaluator: ${error.message}` };
    if (error instanceof FilterEvaluationError) return { status: filterStatus, body: error.message };
    return { status: 500, body: error instanceof Error ? error.message : String(error) };
  }

  /** The request's filter, or none when this Consul ignores `filter` on the endpoint. */
  #compileFilter(expression: string, schema: SelectorSchema, endpoint: 'catalog services' | 'other' = 'other'): Filter | undefined {
    const version = this.#options.bexpr ?? '0.1.12';
    if (expression === '' || version === 'none') return undefined;
    if (endpoint === 'catalog services' && this.#options.catalogServicesFilter === false) return undefined;
    return createFilter(expression, schema, version);
  }

  /** OSS rejects `ns` and `partition`; Enterprise defaults both to `default`. */
  #entMeta(context: Context): { namespace: string; partition: string } {
    const headerNs = first(context.headers['x-consul-namespace']);
    const queryNs = context.query.get('ns') ?? '';
    const headerPartition = first(context.headers['x-consul-partition']);
    const queryPartition = context.query.get('partition') ?? '';
    if (!this.#enterprise) {
      if (headerNs !== undefined && headerNs !== '') throw new HttpError(400, 'Invalid header: "X-Consul-Namespace" - Namespaces are a Consul Enterprise feature');
      if (queryNs !== '') throw new HttpError(400, 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature');
      if (headerPartition !== undefined && headerPartition !== '') throw new HttpError(400, 'Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature');
      if (queryPartition !== '') throw new HttpError(400, 'Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature');
      return { namespace: 'default', partition: 'default' };
    }
    return {
      namespace: queryNs !== '' ? queryNs : headerNs !== undefined && headerNs !== '' ? headerNs : 'default',
      partition: queryPartition !== '' ? queryPartition : headerPartition !== undefined && headerPartition !== '' ? headerPartition : 'default',
    };
  }

  #readParams(context: Context): ReadParams {
    const query = context.query;
    const stale = query.has('stale');
    const consistent = query.has('consistent');
    const cached = query.has('cached');
    if (stale && consistent) throw new HttpError(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
    if (cached && consistent) throw new HttpError(400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
    const maxStale = query.get('max_stale');
    if (maxStale !== null && maxStale !== '' && parseGoDuration(maxStale) === undefined) {
      throw new HttpError(400, `Invalid max_stale value ${JSON.stringify(maxStale)}`);
    }
    let waitMs = DEFAULT_WAIT_MS;
    const wait = query.get('wait');
    if (wait !== null && wait !== '') {
      const parsed = parseGoDuration(wait);
      if (parsed === undefined) throw new HttpError(400, 'Invalid wait time');
      waitMs = parsed <= 0 ? DEFAULT_WAIT_MS : Math.min(parsed, MAX_WAIT_MS);
    }
    let minIndex = 0;
    const index = query.get('index');
    if (index !== null && index !== '') {
      // strconv.ParseUint(idx, 10, 64) in parseWait: digits only, at most 2^64-1.
      if (!/^\d{1,20}$/.test(index) || BigInt(index) > MAX_INDEX) throw new HttpError(400, 'Invalid index');
      minIndex = Number(index);
    }
    return {
      minIndex,
      waitMs,
      consistency: consistent ? 'consistent' : stale || (maxStale !== null && maxStale !== '') ? 'stale' : 'leader',
      cached,
      filter: query.get('filter') ?? '',
    };
  }

  #authorize(context: Context): Authorizer {
    return resolveToken(this.#options.acl, tokenOf(context.query, context.headers));
  }

  #checkDatacenter(query: URLSearchParams): void {
    const dc = query.get('dc');
    if (dc !== null && dc !== '' && dc !== this.state.options.datacenter) throw new HttpError(500, 'No path to datacenter');
  }

  #localService(partition: string, namespace: string, id: string): ServiceRecord {
    const service = this.state.service(partition, namespace, id);
    if (service === undefined || !service.local) {
      throw new HttpError(404, `Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`);
    }
    return service;
  }

  #servicesNamed(partition: string, namespace: string, name: string): ServiceRecord[] {
    return [...this.state.services.values()]
      .filter((service) => service.name === name && service.namespace === namespace && service.partition === partition)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  #nodeMetaMatches(pairs: readonly string[]): boolean {
    const meta: Record<string, string> = { 'consul-network-segment': '', 'consul-version': '1.17.0' };
    return pairs.every((pair) => {
      const [key = '', value = ''] = pair.split(':', 2);
      return meta[key] === value;
    });
  }

  #requireScriptChecks(checks: readonly CheckDefinition[]): void {
    if (this.#options.enableScriptChecks !== true && checks.some((check) => check.scriptArgs.length > 0)) {
      throw new HttpError(500, SCRIPTS_DISABLED);
    }
  }
}


function filteredHeader(filtered: boolean, authz: Authorizer): Record<string, string> {
  // Only to callers who sent a token, so anonymous callers learn nothing about what is hidden.
  return filtered && authz.supplied ? { 'X-Consul-Results-Filtered-By-ACLs': 'true' } : {};
}

function isStatus(value: string): value is CheckStatus {
  return value === 'passing' || value === 'warning' || value === 'critical';
}

/** Go's strconv.ParseBool. */
function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** A flag parameter: present with an empty value means true. */
function queryBool(query: URLSearchParams, name: string): boolean | 'invalid' {
  if (!query.has(name)) return false;
  const raw = query.get(name) ?? '';
  if (raw === '') return true;
  return parseGoBool(raw) ?? 'invalid';
}

/** The service's checks as the agent takes them: `Check` then `Checks`, empty ones dropped (`CheckType.Empty`). */
function checksOf(definition: ServiceDefinition): CheckDefinition[] {
  return [definition.check, ...definition.checks].filter((check): check is CheckDefinition => check !== undefined && !isEmptyCheck(check));
}

/** `NodeService.Validate` (agent/structs/structs.go), the rules the double enforces. */
function validationProblems(definition: ServiceDefinition): string[] {
  const problems: string[] = [];
  const kind = definition.kind;
  if (kind === 'connect-proxy') {
    if (definition.port === 0) problems.push(`Port or SocketPath must be set for a ${kind}`);
    if (definition.proxy.destinationServiceName.trim() === '') problems.push('Proxy.DestinationServiceName must be non-empty for Connect proxy services');
  }
  if (kind.endsWith('-gateway')) {
    if (definition.port === 0 && kind !== 'ingress-gateway' && kind !== 'api-gateway') problems.push(`Port must be non-zero for a ${kind}`);
    if (definition.sidecarService !== undefined) problems.push(`A ${kind} cannot have a sidecar service defined`);
  }
  if (definition.sidecarService !== undefined) {
    if (definition.sidecarService.id !== '') problems.push('A SidecarService cannot specify an ID as this is managed by the agent');
    if (definition.sidecarService.sidecarService !== undefined) problems.push('A SidecarService cannot have a nested SidecarService');
  }
  if (definition.connectNative && definition.port === 0) problems.push('Port or SocketPath must be set for a Connect native service.');
  return problems;
}

/** `sidecarDefaultChecks`: a TCP check on the proxy's listener and an alias of the service it fronts. */
function sidecarDefaultChecks(serviceId: string, address: string, port: number): CheckDefinition[] {
  const host = isIPv6(address) ? `[${address}]` : address;
  return [
    { ...emptyCheck(), name: 'Connect Sidecar Listening', tcp: `${host}:${port}`, intervalMs: 10_000 },
    { ...emptyCheck(), name: `Connect Sidecar Aliasing ${serviceId}`, aliasService: serviceId },
  ];
}

function weightsProblem(weights: { Passing: number; Warning: number }): string | undefined {
  if (weights.Passing < 1) return 'Passing must be greater than 0';
  if (weights.Warning < 0) return 'Warning must be greater or equal than 0';
  if (weights.Passing > 65_535 || weights.Warning > 65_535) return 'DNS Weight must be between 0 and 65535';
  return undefined;
}

function metaProblemOf(meta: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(meta);
  if (entries.length > 64) return 'Node metadata cannot contain more than 64 key/value pairs';
  for (const [key, value] of entries) {
    const pair = `Couldn't load metadata pair ('${key}', '${value}'): `;
    if (key === '') return `${pair}Key cannot be blank`;
    if (!META_KEY.test(key)) return `${pair}Key contains invalid characters`;
    // validateMetaPair measures with Go's len: UTF-8 bytes, whatever the message says.
    if (Buffer.byteLength(key) > 128) return `${pair}Key is too long (limit: 128 characters)`;
    if (key.startsWith('consul-')) return `${pair}Key prefix 'consul-' is reserved for internal use`;
    if (Buffer.byteLength(value) > 512) return `${pair}Value is too long (limit: 512 characters)`;
  }
  return undefined;
}

/** The agent adds `lan_ipv4`/`wan_ipv4` (or `_ipv6`) tagged addresses for a service with an IP address. */
function withDefaultTaggedAddresses(
  given: Readonly<Record<string, { Address: string; Port: number }>>,
  address: string,
  port: number,
): Record<string, { Address: string; Port: number }> {
  const result = { ...given };
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (family !== undefined) {
    result[`lan_${family}`] ??= { Address: address, Port: port };
    result[`wan_${family}`] ??= { Address: address, Port: port };
  }
  return result;
}

function cleanPath(raw: string): string {
  const parts: string[] = [];
  for (const part of raw.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}${raw.endsWith('/') ? '/' : ''}`;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
