/**
 * Request bodies as Consul decodes them: JSON keys matched case-insensitively with snake_case
 * aliases (Go's encoding/json plus Consul's UnmarshalJSON hooks), durations as Go duration text
 * or nanoseconds, and Go-style errors (`Request decode failed: ...`). Unknown keys are ignored,
 * as Consul ignores them, but reported so tests can assert a client sends none.
 */
import { parseGoDuration } from './duration.js';

/** An answer other than 200: status and plain-text body, as Consul's `HTTPError`. */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface CheckDefinition {
  checkId: string;
  name: string;
  notes: string;
  status: string;
  serviceId: string;
  ttlMs: number;
  intervalMs: number;
  timeoutMs: number;
  deregisterAfterMs: number;
  http: string;
  method: string;
  header: Record<string, string[]>;
  body: string;
  tcp: string;
  udp: string;
  grpc: string;
  h2ping: string;
  osService: string;
  scriptArgs: string[];
  dockerContainerId: string;
  shell: string;
  aliasNode: string;
  aliasService: string;
  tlsServerName: string;
  tlsSkipVerify: boolean;
  outputMaxSize: number;
  successBeforePassing: number;
  failuresBeforeWarning: number;
  failuresBeforeCritical: number;
}

/** The parts of `ConnectProxyConfig` the double keeps. */
export interface ProxyDefinition {
  destinationServiceName: string;
  destinationServiceId: string;
  localServiceAddress: string;
  localServicePort: number;
}

export interface ServiceDefinition {
  id: string;
  name: string;
  tags: string[] | null;
  address: string;
  taggedAddresses: Record<string, { Address: string; Port: number }>;
  meta: Record<string, string>;
  port: number;
  kind: string;
  weights: { Passing: number; Warning: number } | undefined;
  enableTagOverride: boolean;
  check: CheckDefinition | undefined;
  checks: CheckDefinition[];
  proxy: ProxyDefinition;
  /** `Connect.SidecarService`: a nested definition the agent registers as a service of its own. */
  sidecarService: ServiceDefinition | undefined;
  connectNative: boolean;
}

type FieldType = 'string' | 'int' | 'bool' | 'strings' | 'stringMap' | 'duration' | 'object' | 'objects' | 'headers' | 'any';

interface FieldSpec {
  readonly go: string;
  readonly type: FieldType;
  readonly aliases?: readonly string[];
}

const CHECK_FIELDS: Readonly<Record<string, FieldSpec>> = {
  checkId: { go: 'CheckID', type: 'string', aliases: ['ID'] },
  name: { go: 'Name', type: 'string' },
  notes: { go: 'Notes', type: 'string' },
  status: { go: 'Status', type: 'string' },
  serviceId: { go: 'ServiceID', type: 'string' },
  ttlMs: { go: 'TTL', type: 'duration' },
  intervalMs: { go: 'Interval', type: 'duration' },
  timeoutMs: { go: 'Timeout', type: 'duration' },
  deregisterAfterMs: { go: 'DeregisterCriticalServiceAfter', type: 'duration' },
  http: { go: 'HTTP', type: 'string' },
  method: { go: 'Method', type: 'string' },
  header: { go: 'Header', type: 'headers' },
  body: { go: 'Body', type: 'string' },
  tcp: { go: 'TCP', type: 'string' },
  udp: { go: 'UDP', type: 'string' },
  grpc: { go: 'GRPC', type: 'string' },
  grpcUseTls: { go: 'GRPCUseTLS', type: 'bool' },
  h2ping: { go: 'H2PING', type: 'string' },
  h2pingUseTls: { go: 'H2PingUseTLS', type: 'bool' },
  osService: { go: 'OSService', type: 'string' },
  scriptArgs: { go: 'ScriptArgs', type: 'strings', aliases: ['Args'] },
  dockerContainerId: { go: 'DockerContainerID', type: 'string' },
  shell: { go: 'Shell', type: 'string' },
  aliasNode: { go: 'AliasNode', type: 'string' },
  aliasService: { go: 'AliasService', type: 'string' },
  tlsServerName: { go: 'TLSServerName', type: 'string' },
  tlsSkipVerify: { go: 'TLSSkipVerify', type: 'bool' },
  outputMaxSize: { go: 'OutputMaxSize', type: 'int' },
  successBeforePassing: { go: 'SuccessBeforePassing', type: 'int' },
  failuresBeforeWarning: { go: 'FailuresBeforeWarning', type: 'int' },
  failuresBeforeCritical: { go: 'FailuresBeforeCritical', type: 'int' },
};

const SERVICE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  id: { go: 'ID', type: 'string' },
  name: { go: 'Name', type: 'string' },
  tags: { go: 'Tags', type: 'strings' },
  address: { go: 'Address', type: 'string' },
  taggedAddresses: { go: 'TaggedAddresses', type: 'any' },
  meta: { go: 'Meta', type: 'stringMap' },
  port: { go: 'Port', type: 'int' },
  kind: { go: 'Kind', type: 'string' },
  weights: { go: 'Weights', type: 'object' },
  enableTagOverride: { go: 'EnableTagOverride', type: 'bool' },
  check: { go: 'Check', type: 'object' },
  checks: { go: 'Checks', type: 'objects' },
  // Accepted by Consul, unused by the double.
  connect: { go: 'Connect', type: 'any' },
  proxy: { go: 'Proxy', type: 'any' },
  namespace: { go: 'Namespace', type: 'string' },
  partition: { go: 'Partition', type: 'string' },
  locality: { go: 'Locality', type: 'any' },
  socketPath: { go: 'SocketPath', type: 'string' },
  token: { go: 'Token', type: 'string' },
};

const PROXY_FIELDS: Readonly<Record<string, FieldSpec>> = {
  destinationServiceName: { go: 'DestinationServiceName', type: 'string' },
  destinationServiceId: { go: 'DestinationServiceID', type: 'string' },
  localServiceAddress: { go: 'LocalServiceAddress', type: 'string' },
  localServicePort: { go: 'LocalServicePort', type: 'int' },
  // Accepted by Consul, unused by the double.
  config: { go: 'Config', type: 'any' },
  upstreams: { go: 'Upstreams', type: 'any' },
  meshGateway: { go: 'MeshGateway', type: 'any' },
  expose: { go: 'Expose', type: 'any' },
  mode: { go: 'Mode', type: 'string' },
  transparentProxy: { go: 'TransparentProxy', type: 'any' },
  localServiceSocketPath: { go: 'LocalServiceSocketPath', type: 'string' },
};

const CONNECT_FIELDS: Readonly<Record<string, FieldSpec>> = {
  native: { go: 'Native', type: 'bool' },
  sidecarService: { go: 'SidecarService', type: 'object' },
};

const UPDATE_FIELDS: Readonly<Record<string, FieldSpec>> = {
  status: { go: 'Status', type: 'string' },
  output: { go: 'Output', type: 'string' },
};

/** Parses a JSON body like Go's decoder; throws `400 Request decode failed: ...`. */
export function parseBody(text: string, goType: string): Record<string, unknown> {
  const trimmed = text.trim();
  if (trimmed === '') throw decodeFailed('EOF');
  // Go's wording for the common cases (a bad first character, a truncated body); other syntax
  // errors keep Consul's prefix with an approximate detail.
  const start = trimmed[0] ?? '';
  if (!/[{["\-0-9tfn]/.test(start)) throw decodeFailed(`invalid character '${start}' looking for beginning of value`);
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    const message = String(error);
    if (/end of JSON input|Unterminated/.test(message)) throw decodeFailed('unexpected EOF');
    const token = /Unexpected token '(.)'/.exec(message)?.[1] ?? /position (\d+)/.exec(message)?.[1];
    const char = token === undefined ? start : token.length === 1 ? token : (trimmed[Number(token)] ?? start);
    throw decodeFailed(`invalid character '${char}' looking for beginning of value`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw decodeFailed(`json: cannot unmarshal ${jsonType(value)} into Go value of type ${goType}`);
  }
  return value as Record<string, unknown>;
}

export function decodeServiceDefinition(text: string, ignored: string[]): ServiceDefinition {
  return decodeService(parseBody(text, 'structs.ServiceDefinition'), ignored);
}

function decodeService(raw: Record<string, unknown>, ignored: string[]): ServiceDefinition {
  const fields = decodeFields(raw, SERVICE_FIELDS, 'ServiceDefinition', ignored);
  const weights = fields['weights'] as Record<string, unknown> | undefined;
  const check = fields['check'] as Record<string, unknown> | undefined;
  const checks = (fields['checks'] as Record<string, unknown>[] | undefined) ?? [];
  return {
    id: str(fields['id']),
    name: str(fields['name']),
    tags: (fields['tags'] as string[] | undefined) ?? null,
    address: str(fields['address']),
    taggedAddresses: decodeTaggedAddresses(fields['taggedAddresses']),
    meta: (fields['meta'] as Record<string, string> | undefined) ?? {},
    port: (fields['port'] as number | undefined) ?? 0,
    kind: str(fields['kind']),
    weights: weights === undefined ? undefined : decodeWeights(weights, ignored),
    enableTagOverride: (fields['enableTagOverride'] as boolean | undefined) ?? false,
    check: check === undefined ? undefined : decodeCheck(check, 'CheckType', ignored),
    checks: checks.map((item) => decodeCheck(item, 'CheckType', ignored)),
    proxy: decodeProxy(fields['proxy'], ignored),
    ...decodeConnect(fields['connect'], ignored),
  };
}

function decodeProxy(value: unknown, ignored: string[]): ProxyDefinition {
  if (value !== undefined && (typeof value !== 'object' || value === null || Array.isArray(value))) throw typeError(value, 'ServiceDefinition.Proxy', 'structs.ConnectProxyConfig');
  const fields = value === undefined ? {} : decodeFields(value as Record<string, unknown>, PROXY_FIELDS, 'ConnectProxyConfig', ignored);
  return {
    destinationServiceName: str(fields['destinationServiceName']),
    destinationServiceId: str(fields['destinationServiceId']),
    localServiceAddress: str(fields['localServiceAddress']),
    localServicePort: num(fields['localServicePort']),
  };
}

/** `ServiceConnect`, whose UnmarshalJSON also takes `sidecar_service`. */
function decodeConnect(value: unknown, ignored: string[]): { sidecarService: ServiceDefinition | undefined; connectNative: boolean } {
  if (value === undefined) return { sidecarService: undefined, connectNative: false };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw typeError(value, 'ServiceDefinition.Connect', 'structs.ServiceConnect');
  const fields = decodeFields(value as Record<string, unknown>, CONNECT_FIELDS, 'ServiceConnect', ignored);
  const sidecar = fields['sidecarService'] as Record<string, unknown> | undefined;
  return {
    sidecarService: sidecar === undefined ? undefined : decodeService(sidecar, ignored),
    connectNative: (fields['native'] as boolean | undefined) ?? false,
  };
}

export function decodeCheckDefinition(text: string, ignored: string[]): CheckDefinition {
  return decodeCheck(parseBody(text, 'structs.CheckDefinition'), 'CheckDefinition', ignored);
}

export function decodeCheckUpdate(text: string): { status: string; output: string } {
  const fields = decodeFields(parseBody(text, 'agent.checkUpdate'), UPDATE_FIELDS, 'checkUpdate', []);
  return { status: str(fields['status']), output: str(fields['output']) };
}

/** A check definition with every field at its zero value. */
export function emptyCheck(): CheckDefinition {
  return decodeCheck({}, 'CheckType', []);
}

/** `CheckType.Validate()` of Consul (modern wording); `undefined` when valid. */
export function validateCheck(check: CheckDefinition): string | undefined {
  const intervalCheck = check.scriptArgs.length > 0 || [check.http, check.tcp, check.udp, check.grpc, check.h2ping, check.osService].some((v) => v !== '');
  const alias = check.aliasNode !== '' || check.aliasService !== '';
  if (check.intervalMs > 0 && check.ttlMs > 0) return 'Interval and TTL cannot both be specified';
  if (intervalCheck && check.intervalMs <= 0) return 'Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks';
  if (intervalCheck && alias) return 'Interval cannot be set for Alias checks';
  if (alias && check.ttlMs > 0) return 'TTL must be not be set for Alias checks';
  if (!intervalCheck && !alias && check.ttlMs <= 0) return 'TTL must be > 0 for TTL checks';
  if (check.outputMaxSize < 0) return 'MaxOutputMaxSize must be positive';
  if (check.failuresBeforeWarning > check.failuresBeforeCritical) return "FailuresBeforeWarning can't be higher than FailuresBeforeCritical";
  return undefined;
}

/** `CheckType.Empty()`: a check with no field set is dropped silently. */
export function isEmptyCheck(check: CheckDefinition): boolean {
  return Object.values(check as unknown as Record<string, unknown>).every((value) =>
    Array.isArray(value) ? value.length === 0 : typeof value === 'object' && value !== null ? Object.keys(value).length === 0 : !value,
  );
}

/** `CheckType.Type()`. */
export function checkTypeOf(check: CheckDefinition): string {
  if (check.grpc !== '' && check.intervalMs > 0) return 'grpc';
  if (check.http !== '' && check.intervalMs > 0) return 'http';
  if (check.ttlMs > 0) return 'ttl';
  if (check.tcp !== '' && check.intervalMs > 0) return 'tcp';
  if (check.udp !== '' && check.intervalMs > 0) return 'udp';
  if (check.aliasNode !== '' || check.aliasService !== '') return 'alias';
  if (check.dockerContainerId !== '' && check.scriptArgs.length > 0) return 'docker';
  if (check.scriptArgs.length > 0) return 'script';
  if (check.h2ping !== '') return 'h2ping';
  if (check.osService !== '') return 'os_service';
  return '';
}

function decodeCheck(raw: Record<string, unknown>, goStruct: string, ignored: string[]): CheckDefinition {
  const fields = decodeFields(raw, CHECK_FIELDS, goStruct, ignored);
  return {
    checkId: str(fields['checkId']),
    name: str(fields['name']),
    notes: str(fields['notes']),
    status: str(fields['status']),
    serviceId: str(fields['serviceId']),
    ttlMs: num(fields['ttlMs']),
    intervalMs: num(fields['intervalMs']),
    timeoutMs: num(fields['timeoutMs']),
    deregisterAfterMs: num(fields['deregisterAfterMs']),
    http: str(fields['http']),
    method: str(fields['method']),
    header: (fields['header'] as Record<string, string[]> | undefined) ?? {},
    body: str(fields['body']),
    tcp: str(fields['tcp']),
    udp: str(fields['udp']),
    grpc: str(fields['grpc']),
    h2ping: str(fields['h2ping']),
    osService: str(fields['osService']),
    scriptArgs: (fields['scriptArgs'] as string[] | undefined) ?? [],
    dockerContainerId: str(fields['dockerContainerId']),
    shell: str(fields['shell']),
    aliasNode: str(fields['aliasNode']),
    aliasService: str(fields['aliasService']),
    tlsServerName: str(fields['tlsServerName']),
    tlsSkipVerify: (fields['tlsSkipVerify'] as boolean | undefined) ?? false,
    outputMaxSize: num(fields['outputMaxSize']),
    successBeforePassing: num(fields['successBeforePassing']),
    failuresBeforeWarning: num(fields['failuresBeforeWarning']),
    failuresBeforeCritical: num(fields['failuresBeforeCritical']),
  };
}

function decodeWeights(raw: Record<string, unknown>, ignored: string[]): { Passing: number; Warning: number } {
  const fields = decodeFields(raw, { passing: { go: 'Passing', type: 'int' }, warning: { go: 'Warning', type: 'int' } }, 'Weights', ignored);
  return { Passing: num(fields['passing']), Warning: num(fields['warning']) };
}

function decodeTaggedAddresses(value: unknown): Record<string, { Address: string; Port: number }> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw typeError(value, 'ServiceDefinition.TaggedAddresses', 'map[string]structs.ServiceAddress');
  const result: Record<string, { Address: string; Port: number }> = {};
  for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw typeError(item, 'ServiceDefinition.TaggedAddresses', 'structs.ServiceAddress');
    const fields = decodeFields(item as Record<string, unknown>, { address: { go: 'Address', type: 'string' }, port: { go: 'Port', type: 'int' } }, 'ServiceAddress', []);
    result[key] = { Address: str(fields['address']), Port: num(fields['port']) };
  }
  return result;
}

function normalize(key: string): string {
  return key.replaceAll('_', '').toLowerCase();
}

function decodeFields(raw: Record<string, unknown>, specs: Readonly<Record<string, FieldSpec>>, goStruct: string, ignored: string[]): Record<string, unknown> {
  const byKey = new Map<string, [string, FieldSpec]>();
  for (const [name, spec] of Object.entries(specs)) {
    for (const key of [spec.go, ...(spec.aliases ?? [])]) byKey.set(normalize(key), [name, spec]);
  }
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    const found = byKey.get(normalize(key));
    if (found === undefined) {
      ignored.push(`${goStruct}.${key}`);
      continue;
    }
    const [name, spec] = found;
    if (value === null) continue;
    result[name] = coerce(value, spec, `${goStruct}.${spec.go}`);
  }
  return result;
}

function coerce(value: unknown, spec: FieldSpec, field: string): unknown {
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') throw typeError(value, field, 'string');
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(value, field, 'int');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw typeError(value, field, 'bool');
      return value;
    case 'strings':
      if (!Array.isArray(value)) throw typeError(value, field, '[]string');
      for (const item of value) if (typeof item !== 'string') throw typeError(item, field, 'string');
      return value;
    case 'stringMap':
      if (typeof value !== 'object' || Array.isArray(value)) throw typeError(value, field, 'map[string]string');
      for (const item of Object.values(value as object)) if (typeof item !== 'string') throw typeError(item, field, 'string');
      return value;
    case 'headers':
      if (typeof value !== 'object' || Array.isArray(value)) throw typeError(value, field, 'map[string][]string');
      return value;
    case 'duration': {
      if (typeof value === 'number') return value / 1e6;
      if (typeof value !== 'string') throw typeError(value, field, 'time.Duration');
      const ms = parseGoDuration(value);
      if (ms === undefined) throw decodeFailed(`time: invalid duration ${JSON.stringify(value)}`);
      return ms;
    }
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value)) throw typeError(value, field, 'struct');
      return value;
    case 'objects':
      if (!Array.isArray(value)) throw typeError(value, field, '[]struct');
      for (const item of value) if (typeof item !== 'object' || item === null || Array.isArray(item)) throw typeError(item, field, 'struct');
      return value;
    case 'any':
      return value;
  }
}

function typeError(value: unknown, field: string, goType: string): HttpError {
  const shown = typeof value === 'number' ? `number ${value}` : jsonType(value);
  return decodeFailed(`json: cannot unmarshal ${shown} into Go struct field ${field} of type ${goType}`);
}

function decodeFailed(detail: string): HttpError {
  return new HttpError(400, `Request decode failed: ${detail}`);
}

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  return typeof value;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function num(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}
