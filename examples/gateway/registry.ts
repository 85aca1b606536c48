/**
 * Which registry the gateway example uses: the in-process memory registry by default, Redis when
 * REDIS_URL is set. The Redis backend is imported only then, so the default run never loads ioredis.
 */
import { MemoryBackend, MemoryRegistry, type RegistryBackend } from '../../src/index.js';

export interface Registry {
  /** A new client of the registry. Each service of this process gets its own, as separate processes would. */
  connect(): RegistryBackend;
  /** For the console: `memory ...` or the Redis URL without credentials. */
  readonly description: string;
}

export async function chooseRegistry(env: NodeJS.ProcessEnv = process.env): Promise<Registry> {
  const url = env.REDIS_URL;
  if (url === undefined || url === '') {
    const registry = new MemoryRegistry();
    return { connect: () => new MemoryBackend({ registry }), description: 'memory, in-process (set REDIS_URL to use Redis)' };
  }
  const { RedisBackend } = await import('../../src/backends/redis/index.js');
  return { connect: () => new RedisBackend({ url }), description: `redis at ${withoutCredentials(url)}` };
}

function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return '(REDIS_URL is not a valid URL)';
  }
}
