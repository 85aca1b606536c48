/**
 * The package as users get it: packed, installed into an empty project without any optional
 * peer, used from `import` and `require`, with types resolving for both.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const consumer = mkdtempSync(join(tmpdir(), 'rollcall-consumer-'));
const run = (command: string, args: string[], cwd = consumer): string =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 180_000 });

const usage = (load: string): string => `${load}
const backend = new MemoryBackend();
const registration = await autoRegister({ backend, service: 'orders', host: '127.0.0.1', port: 8080 });
const resolver = createResolver({ backend });
const url = await resolver.resolveUrl('orders', '/items');
const error = await resolver.resolve('nobody').catch((e) => e);
await registration.stop();
await resolver.close();
console.log(JSON.stringify({ url, code: error.code, unavailable: error instanceof ServiceUnavailableError }));
`;

beforeAll(() => {
  if (!existsSync(join(root, 'dist/index.js'))) run('npm', ['run', '-s', 'build'], root);
  const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', consumer], root)) as Array<{ filename: string }>;
  const tarball = join(consumer, (packed[0] as { filename: string }).filename);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error']);
}, 240_000);

afterAll(() => rmSync(consumer, { recursive: true, force: true }));

describe('the packed package', () => {
  it('ships only dist and package files', () => {
    const files = run('npm', ['pack', '--dry-run', '--json'], root);
    const paths = (JSON.parse(files) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
    expect(paths.every((p) => p.startsWith('dist/') || ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(p))).toBe(true);
    expect(paths).toContain('dist/index.d.cts');
  });

  it('works from import, without any optional peer installed', () => {
    writeFileSync(
      join(consumer, 'esm.mjs'),
      usage(`import { MemoryBackend, autoRegister, createResolver, ServiceUnavailableError } from 'rollcall';`),
    );
    expect(existsSync(join(consumer, 'node_modules/ioredis'))).toBe(false);
    expect(JSON.parse(run('node', ['esm.mjs']))).toEqual({ url: 'http://127.0.0.1:8080/items', code: 'SERVICE_UNAVAILABLE', unavailable: true });
  });

  it('installs the rollcall executable, which runs without any optional peer', () => {
    const bin = join(consumer, 'node_modules/.bin/rollcall');
    expect(run(bin, ['--help'])).toMatch(/services/);
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(run(bin, ['--version'])).toContain(version);
  });

  it('works from require', () => {
    writeFileSync(
      join(consumer, 'cjs.cjs'),
      `(async () => {${usage(`const { MemoryBackend, autoRegister, createResolver, ServiceUnavailableError } = require('rollcall');`)}})();`,
    );
    expect(JSON.parse(run('node', ['cjs.cjs']))).toEqual({ url: 'http://127.0.0.1:8080/items', code: 'SERVICE_UNAVAILABLE', unavailable: true });
  });

  it('matches errors with instanceof across the ESM and CJS copies', () => {
    writeFileSync(
      join(consumer, 'dual.mjs'),
      `import { createRequire } from 'node:module';
import { ClosedError, RollcallError } from 'rollcall';
const cjs = createRequire(import.meta.url)('rollcall');
const fromCjs = new cjs.ClosedError('x');
console.log(JSON.stringify([fromCjs instanceof ClosedError, fromCjs instanceof RollcallError, new ClosedError('y') instanceof cjs.RollcallError]));`,
    );
    expect(JSON.parse(run('node', ['dual.mjs']))).toEqual([true, true, true]);
  });

  it('resolves types for both import and require', () => {
    const source = (load: string): string => `${load}
const backend: RegistryBackend = new MemoryBackend();
export const resolver: Resolver = createResolver({ backend, cacheTtlMs: 1000 });
export const pending: Promise<ServiceInstance> = resolver.resolve('orders');
// @ts-expect-error cacheTtlMs is a number
createResolver({ backend, cacheTtlMs: 'soon' });
`;
    writeFileSync(join(consumer, 'types.mts'), source(`import { MemoryBackend, createResolver, type RegistryBackend, type Resolver, type ServiceInstance } from 'rollcall';`));
    writeFileSync(
      join(consumer, 'types.cts'),
      source(`import rollcall = require('rollcall');
const { MemoryBackend, createResolver } = rollcall;
type RegistryBackend = rollcall.RegistryBackend; type Resolver = rollcall.Resolver; type ServiceInstance = rollcall.ServiceInstance;`),
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { module: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')], lib: ['ES2023', 'ESNext.Disposable'] },
        files: ['types.mts', 'types.cts'],
      }),
    );
    const output = (() => {
      try {
        return run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json']);
      } catch (error) {
        return String((error as { stdout?: string }).stdout ?? error);
      }
    })();
    expect(output).toBe('');
  });
});
