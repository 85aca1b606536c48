/**
 * The double rejects what Consul rejects, with Consul's status codes and texts
 * (shared/reference/consul-http-api.md), and behaves like Consul where rollcall depends on it:
 * TTL checks, the reaper, maintenance mode, blocking queries, filters and ACLs.
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

/** Waits for `check` over turns of the event loop, leaving fake timers where they stand. */
async function ioUntil(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setImmediate(resolve));
}

const ttlService = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  ID: id,
  Name: 'web',
  Port: 8080,
  Check: { TTL: '30s', Status: 'passing' },
  ...extra,
});

describe('HTTP conventions', () => {
  it('answers writes with 200 and an empty body, errors in plain text, and sets the default ACL policy header', async () => {
    const { call } = await start();
    const ok = await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    expect([ok.status, ok.text, ok.headers.get('content-type')]).toEqual([200, '', null]);
    expect(ok.headers.get('x-consul-default-acl-policy')).toBe('allow');
    const error = await call('PUT', '/v1/agent/service/register', { body: {} });
    expect([error.status, error.text, error.headers.get('content-type')]).toEqual([400, 'Missing service name', 'text/plain; charset=utf-8']);
  });

  it('allows only the documented method, with 405 and an Allow header', async () => {
    const { call } = await start();
    const wrong = await call('GET', '/v1/agent/service/register');
    expect([wrong.status, wrong.text, wrong.headers.get('allow')]).toEqual([405, 'method GET not allowed', 'OPTIONS,PUT']);
    const pass = await call('GET', '/v1/agent/check/pass/service:web-1');
    expect([pass.status, pass.headers.get('allow')]).toEqual([405, 'OPTIONS,PUT']);
    const read = await call('PUT', '/v1/health/service/web');
    expect([read.status, read.text, read.headers.get('allow')]).toEqual([405, 'method PUT not allowed', 'GET,OPTIONS']);
    const options = await call('OPTIONS', '/v1/health/service/web');
    expect([options.status, options.headers.get('allow')]).toEqual([200, 'GET,OPTIONS']);
  });

  it('rejects unknown paths, redirects unclean ones and refuses unprintable characters', async () => {
    const { call } = await start();
    const unknown = await call('GET', '/v1/agent/nothing-here');
    expect([unknown.status, unknown.text]).toEqual([404, 'Invalid URL path: not a recognized HTTP API endpoint\n']);
    const unclean = await call('PUT', '/v1/agent/service/deregister//web-1');
    expect([unclean.status, unclean.headers.get('location')]).toEqual([301, '/v1/agent/service/deregister/web-1']);
    expect((await call('PUT', '/v1/agent/service/deregister/web%0a1')).status).toBe(400);
  });

  it('rejects Enterprise parameters on the community edition, and isolates namespaces on Enterprise', async () => {
    const community = await start();
    const ns = await community.call('GET', '/v1/health/service/web?ns=team-a');
    expect([ns.status, ns.text]).toEqual([400, 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature']);
    const partition = await community.call('PUT', '/v1/agent/service/register?partition=p1', { body: ttlService('web-1') });
    expect([partition.status, partition.text]).toEqual([400, 'Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature']);

    const enterprise = await start({ enterprise: true });
    expect((await enterprise.call('PUT', '/v1/agent/service/register?ns=team-a', { body: ttlService('web-1') })).status).toBe(200);
    expect((await enterprise.call('GET', '/v1/health/service/web?ns=team-a')).json<unknown[]>()).toHaveLength(1);
    expect((await enterprise.call('GET', '/v1/health/service/web?ns=team-b')).json<unknown[]>()).toEqual([]);
    expect((await enterprise.call('GET', '/v1/health/service/web')).json<unknown[]>()).toEqual([]);
  });
});

describe('PUT /v1/agent/service/register', () => {
  it('rejects bad bodies as Consul does', async () => {
    const { call } = await start();
    const cases: [unknown, number, string][] = [
      ['', 400, 'Request decode failed: EOF'],
      ['{"Name": ', 400, 'Request decode failed: unexpected EOF'],
      ['oops', 400, "Request decode failed: invalid character 'o' looking for beginning of value"],
      ['[]', 400, 'Request decode failed: json: cannot unmarshal array into Go value of type structs.ServiceDefinition'],
      [{ Name: 'web', Port: '8080' }, 400, 'Request decode failed: json: cannot unmarshal string into Go struct field ServiceDefinition.Port of type int'],
      [{ Port: 8080 }, 400, 'Missing service name'],
      [{ Name: 'web', Address: '0.0.0.0' }, 400, 'Invalid service address'],
      [{ Name: 'web', Weights: { Passing: 0, Warning: 1 } }, 400, 'Invalid Weights: Passing must be greater than 0'],
      [{ Name: 'web', Meta: { 'consul-x': 'y' } }, 400, "Invalid Service Meta: Couldn't load metadata pair ('consul-x', 'y'): Key prefix 'consul-' is reserved for internal use"],
      [{ Name: 'web', Meta: { 'bad key': 'y' } }, 400, "Invalid Service Meta: Couldn't load metadata pair ('bad key', 'y'): Key contains invalid characters"],
      [{ Name: 'web', Check: { DeregisterCriticalServiceAfter: '1m' } }, 400, 'Invalid check: TTL must be > 0 for TTL checks'],
      [{ Name: 'web', Check: { TTL: '10s', Interval: '10s' } }, 400, 'Invalid check: Interval and TTL cannot both be specified'],
      [{ Name: 'web', Check: { HTTP: 'http://127.0.0.1/health' } }, 400, 'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks'],
      [{ Name: 'web', Check: { TTL: 'soon' } }, 400, 'Request decode failed: time: invalid duration "soon"'],
      [{ Name: 'web', Check: { TTL: '10s', Status: 'fine' } }, 400, "Status for checks must 'passing', 'warning', 'critical'"],
      [{ Name: 'web', Check: { Args: ['/bin/true'], Interval: '10s' } }, 500, "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true"],
    ];
    for (const [body, status, text] of cases) {
      const answer = await call('PUT', '/v1/agent/service/register', { body });
      expect([answer.status, answer.text], JSON.stringify(body)).toEqual([status, text]);
    }
    expect((await call('GET', '/v1/agent/services')).json()).toEqual({});
  });

  it('generates check ids and names, defaults the id to the name and the status to critical', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { Name: 'web', Check: { TTL: '10s' } } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-2', Name: 'web', Checks: [{ TTL: '10s' }, { TTL: '20s', Name: 'second' }] } });
    const checks = (await call('GET', '/v1/agent/checks')).json<Record<string, { Name: string; Status: string; ServiceID: string }>>();
    expect(Object.entries(checks).map(([id, c]) => [id, c.Name, c.Status, c.ServiceID])).toEqual([
      ['service:web', "Service 'web' check", 'critical', 'web'],
      ['service:web-2:1', "Service 'web' check", 'critical', 'web-2'],
      ['service:web-2:2', 'second', 'critical', 'web-2'],
    ]);
  });

  it('accepts snake_case keys, drops an empty Check and reports fields Consul would ignore', async () => {
    const { double, call } = await start();
    const answer = await call('PUT', '/v1/agent/service/register', {
      body: { name: 'web', id: 'web-1', enable_tag_override: true, check: { ttl: '10s', deregister_critical_service_after: '2m' }, Checks: [{}], Colour: 'blue' },
    });
    expect(answer.status).toBe(200);
    const service = (await call('GET', '/v1/agent/services')).json<Record<string, { EnableTagOverride: boolean }>>()['web-1'];
    expect(service?.EnableTagOverride).toBe(true);
    const checks = (await call('GET', '/v1/health/service/web')).json<{ Checks: { CheckID: string; Definition: { DeregisterCriticalServiceAfter: string } }[] }[]>()[0]?.Checks;
    expect(checks?.map((c) => [c.CheckID, c.Definition.DeregisterCriticalServiceAfter])).toEqual([
      ['serfHealth', '0s'],
      ['service:web-1', '2m0s'],
    ]);
    expect(double.ignoredFields).toEqual(['ServiceDefinition.Colour']);
  });

  it('replaces or keeps earlier checks according to replace-existing-checks, maintenance mode included', async () => {
    const { call } = await start();
    const two = { ID: 'web-1', Name: 'web', Checks: [{ CheckID: 'a', TTL: '10s' }, { CheckID: 'b', TTL: '10s' }] };
    const one = { ID: 'web-1', Name: 'web', Checks: [{ CheckID: 'a', TTL: '10s' }] };
    const ids = async (): Promise<string[]> => Object.keys((await call('GET', '/v1/agent/checks')).json<object>()).sort();
    await call('PUT', '/v1/agent/service/register', { body: two });
    await call('PUT', '/v1/agent/service/maintenance/web-1?enable=true');
    await call('PUT', '/v1/agent/service/register?replace-existing-checks=false', { body: one });
    expect(await ids()).toEqual(['_service_maintenance:web-1', 'a', 'b']);
    // addServiceInternal removes every check of the service the request does not name: the
    // maintenance check too, which silently ends `consul maint`.
    await call('PUT', '/v1/agent/service/register?replace-existing-checks', { body: one });
    expect(await ids()).toEqual(['a']);
  });

  it('adds lan/wan tagged addresses for an IP address and defaults Tags, Meta and Weights', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Address: '10.0.0.7', Port: 81 } });
    const service = (await call('GET', '/v1/agent/services')).json<Record<string, unknown>>()['web-1'];
    expect(service).toMatchObject({
      Tags: [],
      Meta: {},
      Weights: { Passing: 1, Warning: 1 },
      TaggedAddresses: { lan_ipv4: { Address: '10.0.0.7', Port: 81 }, wan_ipv4: { Address: '10.0.0.7', Port: 81 } },
    });
  });
});

describe('deregistration and maintenance', () => {
  it('deregisters a service with its checks and answers 404 for an unknown id', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    expect((await call('PUT', '/v1/agent/service/deregister/web-1')).status).toBe(200);
    expect((await call('GET', '/v1/agent/checks')).json()).toEqual({});
    const again = await call('PUT', '/v1/agent/service/deregister/web-1');
    expect([again.status, again.text]).toEqual([404, 'Unknown service ID "web-1". Ensure that the service ID is passed, not the service name.']);
    // The servers' own service is in the catalog but not the agent's to remove.
    expect((await call('PUT', '/v1/agent/service/deregister/consul')).status).toBe(404);
  });

  it('validates maintenance requests and toggles the critical maintenance check', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    expect([(await call('PUT', '/v1/agent/service/maintenance/web-1')).text]).toEqual(['Missing value for enable']);
    expect((await call('PUT', '/v1/agent/service/maintenance/web-1?enable=maybe')).text).toBe('Invalid value for enable: "maybe"');
    expect((await call('PUT', '/v1/agent/service/maintenance/?enable=true')).text).toBe('Missing service ID');
    expect((await call('PUT', '/v1/agent/service/maintenance/nope?enable=true')).status).toBe(404);
    expect((await call('PUT', '/v1/agent/service/maintenance/web-1?enable=1')).status).toBe(200);
    expect((await call('PUT', '/v1/agent/service/maintenance/web-1?enable=true&reason=deploying')).status).toBe(200);
    const checks = (await call('GET', '/v1/health/service/web')).json<{ Checks: { CheckID: string; Status: string; Name: string; Notes: string; Type: string }[] }[]>()[0]?.Checks;
    expect(checks?.find((c) => c.CheckID === '_service_maintenance:web-1')).toMatchObject({
      Status: 'critical',
      Name: 'Service Maintenance Mode',
      Type: 'maintenance',
      // Enabling twice keeps the first check and its reason.
      Notes: 'Maintenance mode is enabled for this service, but no reason was provided. This is a default message.',
    });
    expect((await call('GET', '/v1/health/service/web?passing')).json()).toEqual([]);
    expect((await call('PUT', '/v1/agent/service/maintenance/web-1?enable=false')).status).toBe(200);
    expect((await call('GET', '/v1/health/service/web?passing')).json<unknown[]>()).toHaveLength(1);
  });
});

describe('TTL checks', () => {
  it('updates status and output, and answers unknown and non-TTL checks as Consul does', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Checks: [{ CheckID: 'ttl', TTL: '30s' }, { CheckID: 'http', HTTP: 'http://127.0.0.1:1/', Interval: '10s' }] } });
    expect((await call('PUT', '/v1/agent/check/update/ttl', { body: { Status: 'warning', Output: 'slow' } })).status).toBe(200);
    expect((await call('PUT', '/v1/agent/check/pass/ttl?note=fine')).status).toBe(200);
    expect((await call('GET', '/v1/agent/checks')).json<Record<string, object>>()['ttl']).toMatchObject({ Status: 'passing', Output: 'fine', Type: 'ttl' });
    const cases: [string, unknown, number, string][] = [
      ['/v1/agent/check/update/ttl', { Status: 'bogus' }, 400, "Invalid check status: 'bogus'"],
      ['/v1/agent/check/update/ttl', {}, 400, "Invalid check status: ''"],
      ['/v1/agent/check/update/ttl', '', 400, 'Request decode failed: EOF'],
      ['/v1/agent/check/update/nope', { Status: 'passing' }, 404, 'Unknown check ID "nope". Ensure that the check ID is passed, not the check name.'],
      ['/v1/agent/check/fail/serfHealth', undefined, 404, 'Unknown check ID "serfHealth". Ensure that the check ID is passed, not the check name.'],
      ['/v1/agent/check/update/http', { Status: 'passing' }, 500, 'CheckID "http" does not have associated TTL'],
    ];
    for (const [path, body, status, text] of cases) {
      const answer = await call('PUT', path, body === undefined ? {} : { body });
      expect([answer.status, answer.text], path).toEqual([status, text]);
    }
  });

  it('turns critical when the TTL passes, keeping the last output', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'a', Name: 'web', Check: { TTL: '150ms', Status: 'passing' } } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'b', Name: 'web', Check: { TTL: '150ms' } } });
    await call('PUT', '/v1/agent/check/pass/service:b?note=all%20good');
    const outputs = async (): Promise<[string, string][]> =>
      Object.values((await call('GET', '/v1/agent/checks')).json<Record<string, { CheckID: string; Status: string; Output: string }>>()).map((c) => [c.Status, c.Output]);
    await vi.waitFor(async () =>
      expect(await outputs()).toEqual([
        ['critical', 'TTL expired'],
        ['critical', 'TTL expired (last output before timeout follows): all good'],
      ]),
    );
  });

  it('truncates output beyond OutputMaxSize as Consul does', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'a', Name: 'web', Check: { TTL: '30s', OutputMaxSize: 5 } } });
    await call('PUT', '/v1/agent/check/update/service:a', { body: { Status: 'passing', Output: 'abcdefgh' } });
    expect((await call('GET', '/v1/agent/checks')).json<Record<string, { Output: string }>>()['service:a']?.Output).toBe('abcde ... (captured 5 of 8 bytes)');
  });

  it('syncs output-only changes to the catalog only after check_update_interval', async () => {
    const { call } = await start({ checkUpdateIntervalMs: 200 });
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    const before = Number((await call('GET', '/v1/health/service/web')).headers.get('x-consul-index'));
    await call('PUT', '/v1/agent/check/update/service:web-1', { body: { Status: 'passing', Output: 'new words' } });
    const catalogOutput = async (): Promise<[number, string | undefined]> => {
      const answer = await call('GET', '/v1/health/service/web');
      const entry = answer.json<{ Checks: { CheckID: string; Output: string }[] }[]>()[0];
      return [Number(answer.headers.get('x-consul-index')), entry?.Checks.find((c) => c.CheckID === 'service:web-1')?.Output];
    };
    expect(await catalogOutput()).toEqual([before, '']);
    await vi.waitFor(async () => expect(await catalogOutput()).toEqual([before + 1, 'new words']));
  });
});

describe('the critical-service reaper', () => {
  it('removes a service critical for longer than DeregisterCriticalServiceAfter, counted from when it turned critical', async () => {
    const { double, call } = await start({ reapIntervalMs: 50, deregisterCriticalMinMs: 400 });
    const ids = async (): Promise<string[]> => (await call('GET', '/v1/health/service/web')).json<{ Service: { ID: string } }[]>().map((e) => e.Service.ID);
    // 10ms is below the minimum: the agent raises it, as Consul raises anything below one minute.
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-1', Name: 'web', Check: { TTL: '200ms', Status: 'passing', DeregisterCriticalServiceAfter: '10ms' } } });
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-2', Name: 'web', Check: { TTL: '30s', Status: 'passing', DeregisterCriticalServiceAfter: '10ms' } } });
    // Registered critical, never updated: CriticalTime stays zero (agent/local/state.go), so the reaper leaves it alone.
    await call('PUT', '/v1/agent/service/register', { body: { ID: 'web-3', Name: 'web', Check: { TTL: '30s', Status: 'critical', DeregisterCriticalServiceAfter: '10ms' } } });
    await vi.waitFor(() => expect(double.state.checks.get('default/default/service:web-1')?.status).toBe('critical'));
    const criticalAt = Date.now();
    await vi.waitFor(async () => expect(await ids()).toEqual(['web-2', 'web-3']), { timeout: 3_000 });
    expect(Date.now() - criticalAt).toBeGreaterThanOrEqual(400 - 20);
    expect(double.state.reaped).toEqual(['web-1']);
    // Its first critical update starts its clock.
    const failedAt = Date.now();
    await call('PUT', '/v1/agent/check/fail/service:web-3');
    await vi.waitFor(async () => expect(await ids()).toEqual(['web-2']), { timeout: 3_000 });
    expect(Date.now() - failedAt).toBeGreaterThanOrEqual(400 - 20);
  });
});

describe('blocking queries', () => {
  it('answers at once without index, holds until the wait passes, and never sends index 0', async () => {
    const { double, call } = await start();
    const first = await call('GET', '/v1/health/service/web');
    const index = Number(first.headers.get('x-consul-index'));
    expect(index).toBeGreaterThan(0);
    expect([first.headers.get('x-consul-knownleader'), first.headers.get('x-consul-lastcontact'), first.headers.get('x-consul-effective-consistency')]).toEqual(['true', '0', 'leader']);
    // The double's clock stands still while the request travels for real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const held = call('GET', `/v1/health/service/web?index=${index}&wait=300ms`);
    await ioUntil(() => double.blockingQueries('/v1/health/service/web') === 1);
    await vi.advanceTimersByTimeAsync(299);
    expect(double.blockingQueries('/v1/health/service/web')).toBe(1);
    // The wait plus at most wait/16 of jitter, as Consul adds.
    await vi.advanceTimersByTimeAsync(1 + Math.ceil(300 / 16));
    await ioUntil(() => double.blockingQueries('/v1/health/service/web') === 0);
    expect(Number((await held).headers.get('x-consul-index'))).toBe(index);
  });

  it('wakes on a change to its service only, with a higher index', async () => {
    const { double, call } = await start();
    const index = Number((await call('GET', '/v1/health/service/web')).headers.get('x-consul-index'));
    // With the clock stopped, the wait cannot end the query: only a change can.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const pending = call('GET', `/v1/health/service/web?index=${index}&wait=10s`);
    await ioUntil(() => double.blockingQueries('/v1/health/service/web') === 1);
    await call('PUT', '/v1/agent/service/register', { body: { ...ttlService('db-1'), Name: 'db' } });
    expect(double.blockingQueries('/v1/health/service/web')).toBe(1);
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    const answer = await pending;
    expect(Number(answer.headers.get('x-consul-index'))).toBeGreaterThan(index);
    expect(answer.json<unknown[]>()).toHaveLength(1);
  });

  it('returns a lower index after a snapshot restore, and the same index on a spurious wake-up', async () => {
    const { double, call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    const index = Number((await call('GET', '/v1/health/service/web')).headers.get('x-consul-index'));
    const spurious = call('GET', `/v1/health/service/web?index=${index}&wait=10s`);
    await vi.waitFor(() => expect(double.blockingQueries()).toBe(1));
    double.state.wakeBlockingQueries();
    expect(Number((await spurious).headers.get('x-consul-index'))).toBe(index);
    const restored = call('GET', `/v1/health/service/web?index=${index}&wait=10s`);
    await vi.waitFor(() => expect(double.blockingQueries()).toBe(1));
    double.state.restoreSnapshot(3);
    expect(Number((await restored).headers.get('x-consul-index'))).toBe(3);
  });

  it('rejects bad wait, index and consistency parameters, and unknown datacenters', async () => {
    const { call } = await start();
    const cases: [string, number, string][] = [
      ['/v1/health/service/web?wait=soon', 400, 'Invalid wait time'],
      ['/v1/health/service/web?index=-1', 400, 'Invalid index'],
      ['/v1/catalog/services?stale&consistent', 400, 'Cannot specify ?stale with ?consistent, conflicting semantics.'],
      ['/v1/health/service/web?cached&consistent', 400, 'Cannot specify ?cached with ?consistent, conflicting semantics.'],
      ['/v1/health/service/web?max_stale=x', 400, 'Invalid max_stale value "x"'],
      ['/v1/health/service/web?passing=maybe', 400, 'Invalid value for ?passing'],
      ['/v1/health/service/', 400, 'Missing service name'],
      ['/v1/health/service/web?dc=mars', 500, 'No path to datacenter'],
    ];
    for (const [path, status, text] of cases) {
      const answer = await call('GET', path);
      expect([answer.status, answer.text], path).toEqual([status, text]);
    }
    expect((await call('GET', '/v1/health/service/web?dc=dc1&stale')).headers.get('x-consul-effective-consistency')).toBe('stale');
  });
});

describe('health filters', () => {
  it('drops entries with any non-passing check under ?passing, node checks included', async () => {
    const { double, call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    await call('PUT', '/v1/agent/service/register', { body: { ...ttlService('web-2'), Check: { TTL: '30s', Status: 'warning' } } });
    const ids = async (path: string): Promise<string[]> => (await call('GET', path)).json<{ Service: { ID: string } }[]>().map((e) => e.Service.ID);
    expect(await ids('/v1/health/service/web')).toEqual(['web-1', 'web-2']);
    expect(await ids('/v1/health/service/web?passing')).toEqual(['web-1']);
    expect(await ids('/v1/health/service/web?passing=false')).toEqual(['web-1', 'web-2']);
    double.state.setNodeHealth('critical', 'Agent not live or unreachable');
    expect(await ids('/v1/health/service/web?passing=1')).toEqual([]);
  });

  it('evaluates bexpr filters and tag parameters, and rejects unknown selectors', async () => {
    const { call } = await start();
    await call('PUT', '/v1/agent/service/register', { body: { ...ttlService('web-1'), Tags: ['v1'], Meta: { team: 'a' } } });
    await call('PUT', '/v1/agent/service/register', { body: { ...ttlService('web-2'), Tags: ['v1', 'canary'] } });
    const ids = async (query: string): Promise<string[]> =>
      (await call('GET', `/v1/health/service/web?${query}`)).json<{ Service: { ID: string } }[]>().map((e) => e.Service.ID);
    expect(await ids(`filter=${encodeURIComponent('Service.Meta.team == "a"')}`)).toEqual(['web-1']);
    expect(await ids(`filter=${encodeURIComponent('Service.Meta.team is empty')}`)).toEqual(['web-2']);
    expect(await ids(`filter=${encodeURIComponent('Service.Meta.team != "a" and "canary" in Service.Tags')}`)).toEqual(['web-2']);
    expect(await ids(`filter=${encodeURIComponent('not ("canary" in Service.Tags) or Service.Port == 1')}`)).toEqual(['web-1']);
    expect(await ids('tag=v1&tag=canary')).toEqual(['web-2']);
    const bad = await call('GET', `/v1/health/service/web?filter=${encodeURIComponent('Service.Colour == "blue"')}`);
    expect([bad.status, bad.text]).toEqual([400, `error finding value in datum: /Service/Colour at part 1: couldn't find struct field with name "Colour"`]);
    const catalog = await call('GET', `/v1/catalog/services?filter=${encodeURIComponent('ServiceMeta.team == "a"')}`);
    expect(catalog.json()).toEqual({ web: ['v1'] });
  });
});

describe('ACL enforcement', () => {
  const acl: ConsulDoubleOptions['acl'] = {
    defaultPolicy: 'deny',
    tokens: {
      'writer-secret': { accessorId: 'acc-writer', policy: { servicePrefix: { web: 'write' }, node: { 'consul-double': 'read' } } },
      'reader-secret': { accessorId: 'acc-reader', policy: { service: { web: 'read' }, nodePrefix: { '': 'read' } } },
    },
  };

  it('answers ACL not found for an unknown token on reads and writes, and advertises the default policy', async () => {
    const { call } = await start({ acl });
    const headers = { 'X-Consul-Token': 'no-such-secret' };
    for (const [method, path] of [['GET', '/v1/health/service/web'], ['GET', '/v1/catalog/services'], ['PUT', '/v1/agent/service/deregister/web-1']] as const) {
      const answer = await call(method, path, { headers });
      expect([answer.status, answer.text, answer.headers.get('x-consul-default-acl-policy')], path).toEqual([403, 'ACL not found', 'deny']);
    }
  });

  it('denies writes without permission with the modern messages, existence checked first', async () => {
    const { call } = await start({ acl });
    const anonymous = await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1') });
    expect([anonymous.status, anonymous.text]).toEqual([
      403,
      `Permission denied: anonymous token lacks permission 'service:write' on "web". The anonymous token is used implicitly when a request does not specify a token.`,
    ]);
    const reader = await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1'), headers: { 'X-Consul-Token': 'reader-secret' } });
    expect([reader.status, reader.text]).toEqual([403, `Permission denied: token with AccessorID 'acc-reader' lacks permission 'service:write' on "web"`]);
    expect((await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1'), headers: { 'X-Consul-Token': 'writer-secret' } })).status).toBe(200);
    expect((await call('PUT', '/v1/agent/service/deregister/nope')).status).toBe(404);
    expect((await call('PUT', '/v1/agent/check/pass/service:web-1')).status).toBe(403);
    expect((await call('PUT', '/v1/agent/check/pass/service:web-1', { headers: { Authorization: 'bearer writer-secret' } })).status).toBe(200);
  });

  it('filters reads instead of rejecting them, flagging it only to callers with a token', async () => {
    const { call } = await start({ acl });
    await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1'), headers: { 'X-Consul-Token': 'writer-secret' } });
    const anonymous = await call('GET', '/v1/health/service/web');
    expect([anonymous.status, anonymous.json(), anonymous.headers.get('x-consul-results-filtered-by-acls')]).toEqual([200, [], null]);
    const writer = await call('GET', '/v1/health/service/web', { headers: { 'X-Consul-Token': 'writer-secret' } });
    expect(writer.json<unknown[]>()).toHaveLength(1);
    const reader = await call('GET', '/v1/catalog/services', { headers: { 'X-Consul-Token': 'reader-secret' } });
    expect([reader.json(), reader.headers.get('x-consul-results-filtered-by-acls')]).toEqual([{ web: [] }, 'true']);
  });

  it('takes the token from ?token, then X-Consul-Token, then Authorization: Bearer', async () => {
    const { call } = await start({ acl });
    const register = (path: string, headers: Record<string, string>): Promise<RawAnswer> => call('PUT', path, { body: ttlService('web-1'), headers });
    expect((await register('/v1/agent/service/register?token=writer-secret', { 'X-Consul-Token': 'reader-secret' })).status).toBe(200);
    expect((await register('/v1/agent/service/register', { 'X-Consul-Token': 'reader-secret', Authorization: 'Bearer writer-secret' })).status).toBe(403);
    expect((await register('/v1/agent/service/register', { Authorization: 'Basic writer-secret' })).text).toMatch(/^Permission denied: anonymous token/);
  });

  it('ignores tokens when ACLs are disabled', async () => {
    const { call } = await start();
    const answer = await call('PUT', '/v1/agent/service/register', { body: ttlService('web-1'), headers: { 'X-Consul-Token': 'anything' } });
    expect(answer.status).toBe(200);
  });
});
