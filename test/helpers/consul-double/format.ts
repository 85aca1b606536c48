/**
 * The double's records rendered as Consul's API structs (field names and casing of the Go
 * types; see consul-fixtures/ for the doc samples they are checked against). Enterprise-only
 * fields (`Namespace`, `Partition`) appear only when the double runs as Enterprise.
 */
import { formatGoDuration } from './duration.js';
import type { CheckRecord, ConsulState, ServiceRecord } from './state.js';

export interface FormatContext {
  readonly state: ConsulState;
  readonly enterprise: boolean;
}

function enterpriseFields(context: FormatContext, record: { readonly namespace: string; readonly partition: string }): Record<string, string> {
  return context.enterprise ? { Namespace: record.namespace, Partition: record.partition } : {};
}

export function nodeJson(context: FormatContext): Record<string, unknown> {
  const { options } = context.state;
  return {
    ID: context.state.nodeId,
    Node: options.nodeName,
    Address: options.nodeAddress,
    Datacenter: options.datacenter,
    TaggedAddresses: { lan: options.nodeAddress, lan_ipv4: options.nodeAddress, wan: options.nodeAddress, wan_ipv4: options.nodeAddress },
    Meta: { 'consul-network-segment': '', 'consul-version': '1.17.0' },
    ...(context.enterprise ? { Partition: 'default' } : {}),
    CreateIndex: 10,
    ModifyIndex: 10,
  };
}

/** `structs.NodeService` as in `/v1/health/service`. */
export function serviceJson(context: FormatContext, service: ServiceRecord): Record<string, unknown> {
  return {
    ID: service.id,
    Service: service.name,
    Tags: [...service.tags],
    Address: service.address,
    ...(Object.keys(service.taggedAddresses).length === 0 ? {} : { TaggedAddresses: service.taggedAddresses }),
    Meta: { ...service.meta },
    Port: service.port,
    Weights: { ...service.weights },
    EnableTagOverride: service.enableTagOverride,
    ...(service.kind === '' ? {} : { Kind: service.kind }),
    Proxy: proxyJson(service),
    Connect: service.connectNative ? { Native: true } : {},
    ...enterpriseFields(context, service),
    CreateIndex: service.createIndex,
    ModifyIndex: service.modifyIndex,
  };
}

/** `structs.ConnectProxyConfig` with `omitempty` fields left out, as Consul renders it. */
function proxyJson(service: ServiceRecord): Record<string, unknown> {
  const { proxy } = service;
  return {
    ...(proxy.destinationServiceName === '' ? {} : { DestinationServiceName: proxy.destinationServiceName }),
    ...(proxy.destinationServiceId === '' ? {} : { DestinationServiceID: proxy.destinationServiceId }),
    ...(proxy.localServiceAddress === '' ? {} : { LocalServiceAddress: proxy.localServiceAddress }),
    ...(proxy.localServicePort === 0 ? {} : { LocalServicePort: proxy.localServicePort }),
    Mode: '',
    MeshGateway: {},
    Expose: {},
  };
}

/** `api.AgentService` as in `/v1/agent/services`. */
export function agentServiceJson(context: FormatContext, service: ServiceRecord): Record<string, unknown> {
  return {
    ID: service.id,
    Service: service.name,
    Tags: [...service.tags],
    Meta: { ...service.meta },
    Port: service.port,
    Address: service.address,
    ...(Object.keys(service.taggedAddresses).length === 0 ? {} : { TaggedAddresses: service.taggedAddresses }),
    Weights: { ...service.weights },
    EnableTagOverride: service.enableTagOverride,
    ...(service.kind === '' ? {} : { Kind: service.kind }),
    ...(service.kind === 'connect-proxy' || service.kind.endsWith('-gateway') ? { Proxy: proxyJson(service) } : {}),
    Datacenter: context.state.options.datacenter,
    ...enterpriseFields(context, service),
  };
}

/**
 * `structs.HealthCheck`. The catalog view (health endpoints) shows the output the catalog has;
 * the agent view (`/v1/agent/checks`) the latest one.
 */
export function checkJson(context: FormatContext, check: CheckRecord, view: 'catalog' | 'agent'): Record<string, unknown> {
  const service = check.serviceId === '' ? undefined : context.state.service(check.partition, check.namespace, check.serviceId);
  const definition = check.definition;
  return {
    Node: context.state.options.nodeName,
    CheckID: check.checkId,
    Name: check.name,
    Status: check.status,
    Notes: check.notes,
    Output: view === 'catalog' ? check.syncedOutput : check.output,
    ServiceID: check.serviceId,
    ServiceName: check.serviceName,
    ServiceTags: service === undefined ? [] : [...service.tags],
    Type: check.type,
    Interval: formatGoDuration(definition?.intervalMs ?? 0),
    Timeout: formatGoDuration(definition?.timeoutMs ?? 0),
    ExposedPort: 0,
    Definition: {
      Interval: formatGoDuration(definition?.intervalMs ?? 0),
      Timeout: formatGoDuration(definition?.timeoutMs ?? 0),
      DeregisterCriticalServiceAfter: formatGoDuration(definition?.deregisterAfterMs ?? 0),
      HTTP: definition?.http ?? '',
      Header: definition === undefined || Object.keys(definition.header).length === 0 ? null : definition.header,
      Method: definition?.method ?? '',
      Body: definition?.body ?? '',
      TLSServerName: definition?.tlsServerName ?? '',
      TLSSkipVerify: definition?.tlsSkipVerify ?? false,
      TCP: definition?.tcp ?? '',
    },
    ...enterpriseFields(context, check),
    CreateIndex: check.createIndex,
    ModifyIndex: check.modifyIndex,
  };
}

/** One `structs.CheckServiceNode`: what `/v1/health/service/:name` lists. */
export function healthEntryJson(context: FormatContext, service: ServiceRecord): Record<string, unknown> {
  const checks = [...context.state.nodeChecks.values(), ...context.state.checksOf(service)];
  return {
    Node: nodeJson(context),
    Service: serviceJson(context, service),
    Checks: checks.map((check) => checkJson(context, check, 'catalog')),
  };
}

/** One `structs.ServiceNode`: what `/v1/catalog/service/:name` lists (and `/v1/catalog/services` filters on). */
export function catalogServiceJson(context: FormatContext, service: ServiceRecord): Record<string, unknown> {
  const node = nodeJson(context);
  return {
    ID: node['ID'],
    Node: node['Node'],
    Address: node['Address'],
    Datacenter: node['Datacenter'],
    TaggedAddresses: node['TaggedAddresses'],
    NodeMeta: node['Meta'],
    ServiceKind: service.kind,
    ServiceID: service.id,
    ServiceName: service.name,
    ServiceTags: [...service.tags],
    ServiceAddress: service.address,
    ServiceTaggedAddresses: Object.keys(service.taggedAddresses).length === 0 ? null : service.taggedAddresses,
    ServiceWeights: { ...service.weights },
    ServiceMeta: { ...service.meta },
    ServicePort: service.port,
    ServiceEnableTagOverride: service.enableTagOverride,
    ServiceProxy: {
      DestinationServiceName: service.proxy.destinationServiceName,
      DestinationServiceID: service.proxy.destinationServiceId,
      LocalServiceAddress: service.proxy.localServiceAddress,
      LocalServicePort: service.proxy.localServicePort,
      Config: null,
      Upstreams: null,
      Mode: '',
      MeshGateway: {},
      Expose: {},
    },
    ServiceConnect: { Native: service.connectNative, Proxy: null },
    ...enterpriseFields(context, service),
    CreateIndex: service.createIndex,
    ModifyIndex: service.modifyIndex,
  };
}
