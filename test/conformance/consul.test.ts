import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { ConsulBackend } from '../../src/backends/consul/index.js';
import { describeBackendConformance } from '../../src/testing/index.js';
import { ConsulDouble } from '../helpers/consul-double/index.js';

let double: ConsulDouble;

beforeAll(async () => {
  double = await ConsulDouble.start();
});

afterAll(async () => {
  await double.close();
});

// Consul keeps an expired instance listed as critical until its reaper removes it (at least a
// minute later), hence `expiry: 'critical'`. Namespaces map to the rollcall_namespace Meta key.
describeBackendConformance('ConsulBackend on the Consul double', {
  create: ({ namespace }) => new ConsulBackend({ address: double.url, namespace, env: {} }),
  expiry: 'critical',
}, { describe, it, afterEach });
