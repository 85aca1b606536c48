import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

/** The framework packages (CommonJS, so they land in require.cache) loaded by importing `entries`. */
async function frameworksLoadedBy(...entries: string[]): Promise<string[]> {
  const script = `
    import { createRequire } from 'node:module';
    for (const entry of ${JSON.stringify(entries)}) await import(entry);
    const loaded = Object.keys(createRequire(import.meta.url).cache)
      .map((file) => /node_modules\\/((?:@nestjs\\/|@fastify\\/|@opentelemetry\\/)?[^/]+)\\//.exec(file)?.[1])
      .filter((name) => name !== undefined && /^(fastify|fastify-plugin|@fastify\\/.+|express|express4|@nestjs\\/.+|prom-client|@opentelemetry\\/.+)$/.test(name));
    console.log(JSON.stringify([...new Set(loaded)].sort()));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 20_000 });
  return JSON.parse(stdout) as string[];
}

describe('optional framework peers', () => {
  it('are never loaded by the root entry (@fastify/reply-from, prom-client and @opentelemetry/api included) nor by lifespan(), and rollcall/express loads no Express of its own', async () => {
    const [rootEntry, express] = await Promise.all([
      frameworksLoadedBy('./src/index.ts', './src/integrations/lifespan.ts'),
      frameworksLoadedBy('./src/integrations/express.ts'),
    ]);
    expect(rootEntry).toEqual([]);
    expect(express).toEqual([]);
  });

  it('are loaded by their own subpaths only (which also shows the check sees them)', async () => {
    const [fastify, nest, gateway, prometheus, otel] = await Promise.all([
      frameworksLoadedBy('./src/integrations/fastify.ts'),
      frameworksLoadedBy('./src/integrations/nest/index.ts'),
      frameworksLoadedBy('./src/gateway/index.ts'),
      frameworksLoadedBy('./src/prometheus/index.ts'),
      frameworksLoadedBy('./src/otel/index.ts'),
    ]);
    expect(prometheus).toContain('prom-client');
    expect(otel).toEqual(['@opentelemetry/api']);
    expect(fastify).toEqual(['fastify-plugin']);
    expect(gateway).toEqual(expect.arrayContaining(['@fastify/reply-from', 'fastify-plugin']));
    expect(nest).toEqual(expect.arrayContaining(['@nestjs/common', '@nestjs/core']));
    expect(nest).not.toContain('fastify');
  });

  it('rollcall/nest works without @nestjs/terminus installed: the health indicator needs none of it', async () => {
    // A resolve hook makes terminus unresolvable, as when it is not installed.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === '@nestjs/terminus' || specifier.startsWith('@nestjs/terminus/')) throw new Error('@nestjs/terminus is not installed');
      return next(specifier, context);
    }`;
    const script = `
      import { register } from 'node:module';
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
      const nest = await import('./src/integrations/nest/index.ts');
      const terminus = await import('@nestjs/terminus').then(() => 'loaded', (error) => error.message);
      console.log(JSON.stringify({ indicator: typeof nest.RollcallHealthIndicator, terminus }));
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, timeout: 20_000 });
    expect(JSON.parse(stdout)).toEqual({ indicator: 'function', terminus: '@nestjs/terminus is not installed' });
  });
});
