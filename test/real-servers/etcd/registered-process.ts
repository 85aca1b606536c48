/**
 * A process that registers one instance in etcd and heartbeats until it is killed: the subject of
 * the lease-expiry test. Arguments: endpoint, namespace, instance id, ttlMs.
 */
import { EtcdBackend } from '../../../src/backends/etcd/index.js';
import { autoRegister } from '../../../src/registration/registration.js';

const [endpoint, namespace, id, ttl] = process.argv.slice(2);
const backend = new EtcdBackend({ endpoints: endpoint, namespace, env: {} });
await autoRegister({ backend, service: 'orders', id, host: '127.0.0.1', port: 8080, ttlMs: Number(ttl), required: true });
process.stdout.write('registered\n');
// Heartbeat timers are unref'd: this keeps the process alive until the test kills it.
setInterval(() => {}, 1 << 30);
