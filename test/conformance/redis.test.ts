import { afterAll, afterEach, beforeAll, describe, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/index.js';
import { describeBackendConformance } from '../../src/testing/index.js';
import { redisCommand, startRedis, type RedisServer } from '../helpers/redis-server.js';

let server: RedisServer | undefined;

beforeAll(async () => {
  server = await startRedis();
});

afterAll(async () => {
  await server?.stop();
});

function running(): RedisServer {
  if (server === undefined) throw new Error('redis-server did not start');
  return server;
}

describeBackendConformance('RedisBackend (standalone redis-server)', {
  create: ({ namespace }) => new RedisBackend({ url: running().url, namespace }),
  // What a flush does to one namespace, without touching the other tests' namespaces.
  loseData: async ({ namespace }) => {
    for (const pattern of [`{${namespace}:*`, `{${namespace}}:*`]) {
      const keys = (await redisCommand(running(), 'KEYS', pattern)) as string[];
      if (keys.length > 0) await redisCommand(running(), 'DEL', ...keys);
    }
  },
}, { describe, it, afterEach });
