/**
 * The peer: what a team writes without rollcall, straightforwardly, on the same Redis with ioredis.
 * Each instance is a key with a TTL (`SET ... PX`, refreshed by its heartbeat) listed in a set per
 * service; a caller reads the service (`SMEMBERS` + `MGET`, expired keys come back empty) at most
 * every 5 s and picks round-robin from that local copy. It is here to be compared with, not used.
 */
import type { Redis } from 'ioredis';

/** How long the peer's callers keep a service's list. */
export const PEER_CACHE_MS = 5_000;

interface PeerInstance {
  readonly id: string;
  readonly host: string;
  readonly port: number;
}

export class PeerRegistry {
  readonly #redis: Redis;
  readonly #cache = new Map<string, { readonly at: number; readonly instances: readonly PeerInstance[]; next: number }>();

  constructor(redis: Redis) {
    this.#redis = redis;
  }

  async register(service: string, instance: PeerInstance, ttlMs: number): Promise<void> {
    await this.#redis.multi().set(`peer:${service}:${instance.id}`, JSON.stringify(instance), 'PX', ttlMs).sadd(`peer:${service}`, instance.id).exec();
  }

  async heartbeat(service: string, id: string, ttlMs: number): Promise<void> {
    await this.#redis.pexpire(`peer:${service}:${id}`, ttlMs);
  }

  async deregister(service: string, id: string): Promise<void> {
    await this.#redis.multi().del(`peer:${service}:${id}`).srem(`peer:${service}`, id).exec();
  }

  /** One instance, from a copy of the list at most 5 s old. */
  async resolve(service: string): Promise<PeerInstance | undefined> {
    let cached = this.#cache.get(service);
    if (cached === undefined || Date.now() - cached.at >= PEER_CACHE_MS) {
      cached = { at: Date.now(), instances: await this.#read(service), next: 0 };
      this.#cache.set(service, cached);
    }
    const instance = cached.instances[cached.next];
    cached.next = cached.next + 1 >= cached.instances.length ? 0 : cached.next + 1;
    return instance;
  }

  /** Whether the local copy holds `id` (what callers are answered from). */
  lists(service: string, id: string): boolean {
    return this.#cache.get(service)?.instances.some((instance) => instance.id === id) === true;
  }

  async #read(service: string): Promise<PeerInstance[]> {
    const ids = await this.#redis.smembers(`peer:${service}`);
    if (ids.length === 0) return [];
    const records = await this.#redis.mget(ids.map((id) => `peer:${service}:${id}`));
    return records.filter((record): record is string => record !== null).map((record) => JSON.parse(record) as PeerInstance);
  }
}
