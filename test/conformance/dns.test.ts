import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { DnsBackend } from '../../src/backends/dns/index.js';
import { describeReadOnlyBackendConformance } from '../../src/testing/index.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';

let dns: DnsServer | undefined;

beforeAll(async () => {
  dns = await startDnsServer();
});

afterAll(async () => {
  await dns?.stop();
});

function running(): DnsServer {
  if (dns === undefined) throw new Error('knotd did not start');
  return dns;
}

const LISTED = ['listed-a', 'listed-b'];

// Records carry a 1 s TTL and the backend reuses answers at least 1 s (minTtlMs): a change shows
// within about 2 s.
describeReadOnlyBackendConformance('DnsBackend (Knot DNS)', {
  create: () => new DnsBackend({ servers: [running().server], name: running().template, services: LISTED, env: {} }),
  publish: (service, instances) => running().setService(service, instances),
  changeTimeoutMs: 3_000,
  listedServices: LISTED,
}, { describe, it, afterEach });
