/**
 * The rooms' fences in eslint.config.js stop what docs/architecture.md's room table forbids, type
 * imports and re-exports included, and let through what it allows. Only the fence rule runs here
 * (no type information), so this is fast; `npx eslint .` applies the same entries to every file.
 */
import { resolve } from 'node:path';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
// A path in a variable: eslint.config.js is plain JavaScript, without types to resolve.
const configFile = resolve(ROOT, 'eslint.config.js');
const { default: config } = (await import(configFile)) as { default: Linter.Config[] };
const fences = config.filter((entry) => entry.rules?.['no-restricted-imports'] !== undefined);
const linter = new Linter({ cwd: ROOT, configType: 'flat' });

/** The fence messages for `source` at `file` (relative to the repository). */
function fenced(file: string, source: string): string[] {
  const setup: Linter.Config = { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } };
  return linter.verify(source, [setup, ...fences], resolve(ROOT, file)).map((message) => message.message);
}

describe('the room fences', () => {
  it('are configured for every room', () => {
    expect(fences.length).toBeGreaterThan(15);
  });

  it.each([
    ['core imports nothing of ours', 'src/core/clock.ts', "import type { Resolver } from '../resolution/resolver.js';", /src\/core\/ may import only nothing of ours/],
    ['registration reaches only the contract', 'src/registration/options.ts', "import { MemoryBackend } from '../backends/memory.js';", /src\/registration\//],
    ['balancing does not know resolution (re-export)', 'src/balancing/filter.ts', "export { Resolver } from '../resolution/resolver.js';", /src\/balancing\//],
    ['integrations do not reach http', 'src/integrations/nest/tokens.ts', "import type { DiscoveryFetchOptions } from '../../http/options.js';", /src\/integrations\//],
    ['the gateway takes only integrations/options', 'src/gateway/options.ts', "import type { RollcallHandle } from '../integrations/handle.js';", /src\/gateway\//],
    ['a backend does not import another', 'src/backends/redis/keys.ts', "import { ConsulBackend } from '../consul/index.js';", /a backend never imports another/],
    ['the contract modules import no backend', 'src/backends/memory.ts', "import { RedisBackend } from './redis/index.js';", /never import a backend/],
    ['a backend publishes to observability, never reads it', 'src/backends/redis/keys.ts', "import type { StatusView } from '../../observability/status.js';", /src\/backends\//],
    ['the root entry loads no optional peer', 'src/integrations/handle.ts', "import type { Redis } from 'ioredis';", /optional peer/],
    ['nor does index.ts', 'src/index.ts', "export { Redis } from 'ioredis';", /optional peer/],
  ])('stop this: %s', (_what, file, source, message) => {
    expect(fenced(file, source)).toEqual([expect.stringMatching(message)]);
  });

  it.each([
    ['a backend publishing a registry call', 'src/backends/redis/keys.ts', "import type { RegistryTarget } from '../../observability/channels.js';"],
    ['registration on the contract', 'src/registration/options.ts', "import type { RegistryBackend } from '../backends/backend.js';"],
    ['a framework adapter on its peer', 'src/integrations/express.ts', "import type { Server } from 'express';"],
    ['a Nest module reading status', 'src/integrations/nest/tokens.ts', "import type { StatusReader } from '../../observability/status.js';"],
    ['a room importing its own modules', 'src/resolution/resolver.ts', "import type { ResolverOptions } from './options.js';"],
  ])('let this through: %s', (_what, file, source) => {
    expect(fenced(file, source)).toEqual([]);
  });
});
