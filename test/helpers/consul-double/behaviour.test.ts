/**
 * The double against Consul's own source, where an earlier double and real Consul disagreed
 * (issue #12). Each test names the source it follows; docs/backends/consul.md lists them.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { rawCall, type RawAnswer, type RawRequest } from './client.js';
import { ConsulDouble, type ConsulDoubleOptions } from './index.js';

const doubles: ConsulDouble[] = [];

async function start(options: ConsulDoubleOptions = {}): Promise<{ double: ConsulDouble; call: (method: string, path: string, request?: RawRequest) => Promise<RawAnswer> }> {
  const double = await ConsulDouble.start(options);
  doubles.push(double);
  return { double, call: (method, path, request) => rawCall(double.url, method, path, request) };
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(doubles.splice(0).map((double) => double.close()));
});

interface HealthEntry {
  Service: { ID: string; Service: string; Kind?: string; Port: number; Address: string; Tags: string[]; Meta: Record<string, string>; Proxy: Record<string, unknown> };
  Checks: { CheckID: string; Status: string; Output: string; Name: string; Type: string }[];
}

const index = (answer: RawAnswer): number => Number(answer.headers.get('x-consul-index'));
const filter = (expression: string): string => `filter=${encodeURIComponent(expression)}`;

describe('re-registration (agent/agent.go addServiceInternal, agent/local/state.go)', () => {
  it("keeps an existing check's status and output: the body's Status applies to new checks only", async () => {
    const { call } = await start();
    const body = (status: string): unknown => ({ ID: 'web-1', Name: 'web', Port: 80, Check: { CheckID: 'ttl', TTL: '30s', Status: status } });
    await call('PUT', '/v1/agent/service/register', { body: body('critical') });
    await call('PUT', '/v1/agent/check/warn/ttl?note=slow');
    await call('PUT', '/v1/agent/service/register', { body: body('passing') });
    const check = (await call('GET', '/v1/agent/checks')).json<Record<string, { Status: string; Output: string }>>()['ttl'];
    expect([check?.Status, check?.Output]).toEqual(['warning', 'slow']);
  });

  it('does not move X-Consul-Index for an identical registration, and does for a changed one', async () => {
    const { call } = await start();
    const body = { ID: 'web-1', Name: 'web', Port: 80, Meta: { v: '1' }, Check: { TTL: '30s', Status: 'passing' } };
    await call('PUT', '/v1/agent/service/register', { body });
    const first = index(await call('GET', '/v1/health/service/web'));
    await call('PUT', '/v1/agent/service/register', { body });
    expect(index(await call('GET', '/v1/health/service/web'))).toBe(first);
    expect(index(await call('GET', '/v1/catalog/services'))).toBe(first);
    await call('PUT', '/v1/agent/service/register', { body: { ...body, Meta: { v: '2' } } });
    expect(index(await call('GET', '/v1/health/service/web'))).toBeGreaterThan(first);
  });

  it('restarts the TTL of a re-added check', async () => {
    const { double, call } = await start();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const body = { ID: 'web-1', Name: 'web', Port: 80, Check: { TTL: '300ms', Status: 'passing' } };
    const status = (): string | undefined => double.state.checks.get('default/default/service:web-1')?.status;
    await call('PUT', '/v1/agent/service/register', { body });
    await vi.advanceTimersByTimeAsync(200);
    await call('PUT', '/v1/agent/service/register', { body });
    await vi.advanceTimersByTimeAsync(299);
    expect(status()).toBe('passing');
    await vi.advanceTimersByTimeAsync(1);
    expect(status()).toBe('critical');
  });

  it('measures Meta values in UTF-8 bytes, as validateMetaPair uses Go len', async () => {
    const { call } = await start();
    const answer = await call('PUT', '/v1/agent/service/register', { body: { Name: 'web', Meta: { note: 'é'.repeat(300) } } });
    expect([answer.status, answer.text]).toEqual([400, `Invalid Service Meta: Couldn't load metadata pair ('note', '${'é'.repeat(300)}'): Value is too long (limit: 512 characters)`]);
    expect((await call('PUT', '/v1/agent/service/register', { body: { Name: 'web', Meta: { note: 'é'.repeat(256) } } })).status).toBe(200);
  });
});

describe('Connect sidecars and gateways (agent/sidecar_service.go, agent/structs/structs.go)', () => {
  it('expands Connect.SidecarService into a connect-proxy service with defaults, ports from 21000, and default checks', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Address: '10.0.0.5', Port: 8080, Tags: ['v1'], Connect: { SidecarService: {} } } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-2', Name: 'web', Port: 8081, Connect: { sidecar_service: { Port: 9999 } } } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'api-1', Name: 'api', Port: 7000, Connect: { SidecarService: {} } } });
    const proxies = (await call('GET', '/v1/health/service/web-sidecar-proxy')).json<HealthEntry[]>();
    expect(proxies.map((entry) => [entry.Service.ID, entry.Service.Kind, entry.Service.Port, entry.Service.Address, entry.Service.Tags])).toEqual([
      ['web-1-sidecar-proxy', 'connect-proxy', 21_000, '10.0.0.5', ['v1']],
      ['web-2-sidecar-proxy', 'connect-proxy', 9999, '', []],
    ]);
    expect(proxies[0]?.Service.Proxy).toMatchObject({ DestinationServiceName: 'web', DestinationServiceID: 'web-1', LocalServiceAddress: '127.0.0.1', LocalServicePort: 8080 });
    expect(proxies[0]?.Checks.filter((check) => check.CheckID !== 'serfHealth').map((check) => [check.CheckID, check.Name, check.Type, check.Status])).toEqual([
      ['service:web-1-sidecar-proxy:1', 'Connect Sidecar Listening', 'tcp', 'critical'],
      ['service:web-1-sidecar-proxy:2', 'Connect Sidecar Aliasing web-1', 'alias', 'critical'],
    ]);
    const api = (await call('GET', '/v1/health/service/api-sidecar-proxy')).json<HealthEntry[]>();
    expect(api[0]?.Service.Port).toBe(21_001);
    expect(Object.keys((await call('GET', '/v1/catalog/services')).json<object>())).toEqual(['api', 'api-sidecar-proxy', 'consul', 'web', 'web-sidecar-proxy']);
    // The sidecar goes with its service.
    await call('PUT', '/v1/agent/service/deregister/web-1');
    expect((await call('GET', '/v1/health/service/web-sidecar-proxy')).json<HealthEntry[]>().map((entry) => entry.Service.ID)).toEqual(['web-2-sidecar-proxy']);
  });

  it('validates proxies and gateways as NodeService.Validate does', async () => {
    const { call } = await start();
    const cases: [unknown, string][] = [
      [{ Name: 'web', Port: 80, Connect: { SidecarService: { ID: 'mine' } } }, 'A SidecarService cannot specify an ID as this is managed by the agent'],
      [{ Name: 'proxy', Kind: 'connect-proxy', Port: 80 }, 'Proxy.DestinationServiceName must be non-empty for Connect proxy services'],
      [{ Name: 'gw', Kind: 'mesh-gateway' }, 'Port must be non-zero for a mesh-gateway'],
    ];
    for (const [body, problem] of cases) {
      const answer = await call('PUT', '/v1/agent/service/register', { body });
      expect([answer.status, answer.text]).toEqual([400, `Validation failed: 1 error occurred:\n\t* ${problem}\n\n`]);
    }
    expect((await call('PUT', '/v1/agent/service/register', { body: { Name: 'gw', Kind: 'mesh-gateway', Port: 8443 } })).status).toBe(200);
    expect((await call('GET', '/v1/health/service/gw')).json<HealthEntry[]>()[0]?.Service.Kind).toBe('mesh-gateway');
  });
});

describe('filter generations (github.com/hashicorp/go-bexpr v0.1.2, v0.1.10, v0.1.12)', () => {
  async function withTeams(options: ConsulDoubleOptions): ReturnType<typeof start> {
    const started = await start(options);
    await started.call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80, Meta: { team: 'a' }, Check: { TTL: '30s', Status: 'passing' } } });
    await started.call('PUT', '/v1/agent/service/register', { body: { ID: 'web-2', Name: 'web', Port: 81, Tags: ['canary'], Check: { TTL: '30s', Status: 'warning' } } });
    return started;
  }
  const read = async (call: (method: string, path: string) => Promise<RawAnswer>, expression: string): Promise<[number, string[] | string]> => {
    const answer = await call('GET', `/v1/health/service/web?${filter(expression)}`);
    return answer.status === 200 ? [200, answer.json<HealthEntry[]>().map((entry) => entry.Service.ID)] : [answer.status, answer.text];
  };

  it('0.1.2 (Consul 1.5-1.10) validates selectors and operators up front and treats a missing map key as not present', async () => {
    const { call } = await withTeams({ bexpr: '0.1.2' });
    expect(await read(call, 'Service.Meta.team is empty')).toEqual([
      500,
      'Failed to create boolean expression evaluator: Invalid match operator "Is Empty" for selector ["Service" "Meta" "team"]',
    ]);
    expect(await read(call, 'Service.Colour == "blue"')).toEqual([500, 'Failed to create boolean expression evaluator: Selector ["Service" "Colour"] is not valid']);
    expect(await read(call, 'Service.Port == eighty')).toEqual([
      500,
      'Failed to create boolean expression evaluator: Failed to coerce value "eighty" for selector ["Service" "Port"]: strconv.ParseInt: parsing "eighty": invalid syntax',
    ]);
    expect(await read(call, 'Service.Meta.team == "a"')).toEqual([200, ['web-1']]);
    expect(await read(call, 'Service.Meta["team"] != "a"')).toEqual([200, ['web-2']]);
    expect(await read(call, '"team" not in Service.Meta')).toEqual([200, ['web-2']]);
    // Through a slice of structs, any element may match.
    expect(await read(call, 'Checks.Status == "warning"')).toEqual([200, ['web-2']]);
    expect(await read(call, 'Checks is empty')).toEqual([200, []]);
  });

  it('0.1.10 (Consul 1.11 on) fails the request on a missing map key, an unknown field, or a slice crossed without an index', async () => {
    const { call } = await withTeams({ bexpr: '0.1.10' });
    expect(await read(call, 'Service.Meta.team == "a"')).toEqual([500, `error finding value in datum: /Service/Meta/team at part 2: couldn't find key "team"`]);
    expect(await read(call, 'Service.Colour == "blue"')).toEqual([500, `error finding value in datum: /Service/Colour at part 1: couldn't find struct field with name "Colour"`]);
    expect(await read(call, 'Checks.Status == "warning"')).toEqual([500, `error finding value in datum: /Checks/Status at part 1: cannot parse 'Status' as int`]);
    // What every generation accepts: the key's presence first, its value behind an `and`.
    expect(await read(call, '"team" in Service.Meta and Service.Meta.team == "a"')).toEqual([200, ['web-1']]);
    expect(await read(call, '"team" not in Service.Meta and Service.Kind == ""')).toEqual([200, ['web-2']]);
    expect(await read(call, 'Checks.1.Status == "warning"')).toEqual([200, ['web-2']]);
  });

  it('0.1.12 treats a missing map key as not present again, so `is empty` holds for it', async () => {
    const { call } = await withTeams({ bexpr: '0.1.12' });
    expect(await read(call, 'Service.Meta.team is empty')).toEqual([200, ['web-2']]);
    expect(await read(call, 'Service.Meta["team"] == "a"')).toEqual([200, ['web-1']]);
    expect(await read(call, 'Service.Meta.team != "a"')).toEqual([200, ['web-2']]);
    expect(await read(call, 'Checks.Status == "warning"')).toEqual([400, `error finding value in datum: /Checks/Status at part 1: cannot parse 'Status' as int`]);
    expect(await read(call, 'Service.Tags contains "canary"')).toEqual([200, ['web-2']]);
  });

  it('cannot quote a double quote in any generation', async () => {
    for (const bexpr of ['0.1.2', '0.1.10', '0.1.12'] as const) {
      const { call } = await withTeams({ bexpr });
      const [status] = await read(call, '"x\\"y" in Service.Tags');
      expect(status, bexpr).toBeGreaterThanOrEqual(400);
    }
  });

  it('ignores filter where Consul did: everywhere before 1.5, on /v1/catalog/services before 1.14', async () => {
    const none = await withTeams({ bexpr: 'none' });
    expect(await read(none.call, 'Service.Meta.team == "zzz"')).toEqual([200, ['web-1', 'web-2']]);
    const old = await withTeams({ catalogServicesFilter: false });
    expect((await old.call('GET', `/v1/catalog/services?${filter('ServiceName == "nothing"')}`)).json()).toEqual({ consul: [], web: ['canary'] });
    expect((await old.call('GET', `/v1/catalog/service/web?${filter('ServiceMeta.team == "a"')}`)).json<unknown[]>()).toHaveLength(1);
  });

  it('filters /v1/catalog/services over rows without node data, so NodeMeta matches nothing (hashicorp/consul#17422)', async () => {
    const { call } = await withTeams({});
    const services = async (expression: string): Promise<unknown> => (await call('GET', `/v1/catalog/services?${filter(expression)}`)).json();
    expect(await services('NodeMeta["consul-version"] == "1.17.0"')).toEqual({});
    expect(await services('ServiceMeta.team == "a"')).toEqual({ web: [] });
    expect((await call('GET', `/v1/catalog/service/web?${filter('NodeMeta["consul-version"] == "1.17.0"')}`)).json<unknown[]>()).toHaveLength(2);
  });
});

describe('blocking-query indexes (agent/http.go parseWait)', () => {
  it('accepts any uint64 index and refuses one past 2^64-1', async () => {
    const { call } = await start();
    const ok = await call('GET', '/v1/health/service/web?index=18446744073709551615&wait=10ms');
    expect(ok.status).toBe(200);
    const past = await call('GET', '/v1/health/service/web?index=18446744073709551616');
    expect([past.status, past.text]).toEqual([400, 'Invalid index']);
  });
});

describe('endpoints real tools call', () => {
  it('lists datacenters and nodes, with filters and indexes', async () => {
    const { double, call } = await start({ datacenter: 'eu-1' });
    expect((await call('GET', '/v1/catalog/datacenters')).json()).toEqual(['eu-1']);
    const nodes = await call('GET', '/v1/catalog/nodes');
    expect(nodes.json<{ Node: string; ID: string; Datacenter: string }[]>().map((node) => [node.Node, node.ID, node.Datacenter])).toEqual([
      ['consul-double', double.state.nodeId, 'eu-1'],
    ]);
    expect(index(nodes)).toBeGreaterThan(0);
    expect((await call('GET', `/v1/catalog/nodes?${filter('Meta["consul-version"] == "1.17.0"')}`)).json<unknown[]>()).toHaveLength(1);
    expect((await call('GET', `/v1/catalog/nodes?${filter('Node == "elsewhere"')}`)).json()).toEqual([]);
  });

  it("lists a service's checks and the checks in a state", async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80, Check: { TTL: '30s', Status: 'passing' } } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-2', Name: 'web', Port: 81, Check: { TTL: '30s' } } });
    const ids = async (path: string): Promise<string[]> => (await call('GET', path)).json<{ CheckID: string }[]>().map((check) => check.CheckID);
    expect(await ids('/v1/health/checks/web')).toEqual(['service:web-1', 'service:web-2']);
    expect(await ids(`/v1/health/checks/web?${filter('Status == "critical"')}`)).toEqual(['service:web-2']);
    expect(await ids('/v1/health/state/critical')).toEqual(['service:web-2']);
    expect(await ids('/v1/health/state/passing')).toEqual(['serfHealth', 'service:web-1']);
    expect(await ids('/v1/health/state/any')).toEqual(['serfHealth', 'service:web-1', 'service:web-2']);
    expect(await ids('/v1/health/state/sleepy')).toEqual([]);
    const missing = await call('GET', '/v1/health/state/');
    expect([missing.status, missing.text]).toEqual([400, 'Missing check state']);
  });

  it("describes the agent on /v1/agent/self, behind agent:read", async () => {
    const { double, call } = await start({
      acl: { defaultPolicy: 'deny', tokens: { ops: { accessorId: 'acc-ops', policy: { agentPrefix: { '': 'read' } } } } },
    });
    const self = await call('GET', '/v1/agent/self', { headers: { 'X-Consul-Token': 'ops' } });
    expect(self.json()).toMatchObject({ Config: { Datacenter: 'dc1', NodeName: 'consul-double', NodeID: double.state.nodeId, Server: true }, Member: { Name: 'consul-double', Status: 1 } });
    const anonymous = await call('GET', '/v1/agent/self');
    expect([anonymous.status, anonymous.text]).toEqual([
      403,
      `Permission denied: anonymous token lacks permission 'agent:read' on "consul-double". The anonymous token is used implicitly when a request does not specify a token.`,
    ]);
  });

  it('deregisters one check, answering 404 for an unknown one', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80, Checks: [{ CheckID: 'a', TTL: '30s' }, { CheckID: 'b', TTL: '30s' }] } });
    const before = index(await call('GET', '/v1/health/service/web'));
    expect((await call('PUT', '/v1/agent/check/deregister/a')).status).toBe(200);
    expect(Object.keys((await call('GET', '/v1/agent/checks')).json<object>())).toEqual(['b']);
    expect(index(await call('GET', '/v1/health/service/web'))).toBeGreaterThan(before);
    const unknown = await call('PUT', '/v1/agent/check/deregister/a');
    expect([unknown.status, unknown.text]).toEqual([404, 'Unknown check ID "a". Ensure that the check ID is passed, not the check name.']);
    expect((await call('GET', '/v1/agent/check/deregister/b')).status).toBe(405);
  });
});

describe('restarts (agent/nodeid.go)', () => {
  it('restarts without data as a -dev agent does: connections dropped, empty catalog, indexes from the start, a new node id', async () => {
    const { double, call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80 } });
    for (let n = 0; n < 20; n++) await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80, Meta: { n: String(n) } } });
    const before = await call('GET', '/v1/health/service/web');
    const nodeId = double.state.nodeId;
    const pending = call('GET', `/v1/health/service/web?index=${index(before)}&wait=30s`).then(
      () => 'answered',
      () => 'dropped',
    );
    await vi.waitFor(() => expect(double.blockingQueries()).toBe(1));
    double.restart({ keepData: false });
    await expect(pending).resolves.toBe('dropped');
    const after = await call('GET', '/v1/health/service/web');
    expect(after.json()).toEqual([]);
    expect(index(after)).toBeLessThan(index(before));
    expect(double.state.nodeId).not.toBe(nodeId);
    expect(Object.keys((await call('GET', '/v1/catalog/services')).json<object>())).toEqual(['consul']);
  });

  it('keeps data and node id across a restart with its data directory', async () => {
    const { double, call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80 } });
    const nodeId = double.state.nodeId;
    double.restart({ keepData: true });
    expect((await call('GET', '/v1/health/service/web')).json<unknown[]>()).toHaveLength(1);
    expect(double.state.nodeId).toBe(nodeId);
  });

  it('gets a new node id when a client agent restarts without its data while servers keep the catalog', async () => {
    const { double, call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Port: 80 } });
    const before = index(await call('GET', '/v1/health/service/web'));
    const nodeId = double.state.nodeId;
    double.state.forgetLocalServices();
    const after = await call('GET', '/v1/health/service/web');
    expect([after.json(), index(after) > before, double.state.nodeId !== nodeId]).toEqual([[], true, true]);
  });
});
