/**
 * When each instance of a Redis service last renewed its lease. The backend contract has no such
 * read, so this reads the Redis key layout (docs/backends/redis.md) through the backend's own key
 * builders, an internal import the package does not export: a lease deadline (server clock) in
 * `{N:S}:deadlines`, and each record starting with its TTL. A renewal sets the deadline to the
 * server's now plus the TTL, so the last heartbeat is `deadline - ttl`.
 */
import type { RedisBackend } from '../backends/redis/index.js';
import { serviceKeys } from '../backends/redis/keys.js';

const TTL_PREFIX = /^(\d{1,9}) /;

/**
 * Last heartbeat of each instance of `service`, in epoch ms by this machine's clock (converted
 * through the server's own `TIME`, so clock skew does not matter), keyed by id. Empty when the
 * read fails: heartbeats are a detail, never worth failing a command for.
 */
export async function redisHeartbeats(backend: RedisBackend, service: string): Promise<ReadonlyMap<string, number>> {
  const keys = serviceKeys(backend.namespace, service);
  try {
    const [time, scores] = await Promise.all([backend.client.time(), backend.client.zrange(keys.deadlines, 0, -1, 'WITHSCORES')]);
    const localNow = Date.now();
    const serverNow = Number(time[0]) * 1_000 + Math.floor(Number(time[1]) / 1_000);
    const heartbeats = new Map<string, number>();
    const ids = scores.filter((_, index) => index % 2 === 0);
    if (ids.length === 0) return heartbeats;
    const records = await backend.client.hmget(keys.records, ...ids);
    ids.forEach((id, index) => {
      const deadline = Number(scores[index * 2 + 1]);
      const ttl = TTL_PREFIX.exec(records[index] ?? '')?.[1];
      if (ttl === undefined || !Number.isFinite(deadline)) return;
      const renewedAt = deadline - Number(ttl);
      heartbeats.set(id, localNow - Math.max(0, serverNow - renewedAt));
    });
    return heartbeats;
  } catch {
    return new Map();
  }
}
