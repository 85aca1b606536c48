import { afterAll, beforeAll } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { describeBackendConformance } from '../../src/testing/index.js';
import { startRedis, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer | undefined;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

describeBackendConformance('RedisBackend (standalone redis-server)', {
  create: ({ namespace }) => {
    if (server === undefined) throw new Error('redis-server did not start');
    return new RedisBackend({ url: server.url, namespace });
  },
});
