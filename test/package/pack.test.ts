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
let tarball = '';
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
  tarball = join(consumer, (packed[0] as { filename: string }).filename);
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error']);
}, 240_000);

afterAll(() => rmSync(consumer, { recursive: true, force: true }));

describe('the packed package', { timeout: 120_000 }, () => {
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
    // Loggers are the user's choice: pino is only a dev dependency.
    expect(existsSync(join(consumer, 'node_modules/pino'))).toBe(false);
    expect(JSON.parse(run('node', ['esm.mjs']))).toEqual({ url: 'http://127.0.0.1:8080/items', code: 'SERVICE_UNAVAILABLE', unavailable: true });
  });

  it('installs the rollcall executable, which runs without any optional peer', () => {
    const bin = join(consumer, 'node_modules/.bin/rollcall');
    expect(run(bin, ['--help'])).toMatch(/services/);
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(run(bin, ['--version'])).toContain(version);
  });

  it('loads rollcall/testing without vitest and runs its conformance suite under node:test', () => {
    expect(existsSync(join(consumer, 'node_modules/vitest'))).toBe(false);
    const suite = (runner: string): string => `import { MemoryBackend, MemoryRegistry } from 'rollcall';
import { describeBackendConformance } from 'rollcall/testing';
import { afterEach, describe, it } from 'node:test';
const registry = new MemoryRegistry();
describeBackendConformance('MemoryBackend', { create: ({ namespace }) => new MemoryBackend({ registry, namespace }) }${runner});
`;
    writeFileSync(join(consumer, 'explicit.test.mjs'), suite(', { describe, it, afterEach }'));
    // Without a runner the suite finds node:test itself.
    writeFileSync(join(consumer, 'detected.test.mjs'), suite(''));
    const report = run('node', ['--test', '--test-reporter=tap', 'explicit.test.mjs', 'detected.test.mjs']);
    expect(report).toMatch(/^# fail 0$/m);
    expect(Number(/^# pass (\d+)$/m.exec(report)?.[1])).toBeGreaterThanOrEqual(2 * 17);
    const faulty = `const { FaultyBackend } = require('rollcall/testing');
const { MemoryBackend } = require('rollcall');
const backend = new FaultyBackend(new MemoryBackend());
backend.fail();
backend.instances('orders').catch((error) => console.log(error.code));`;
    writeFileSync(join(consumer, 'faulty.cjs'), faulty);
    expect(run('node', ['faulty.cjs']).trim()).toBe('REGISTRY_UNAVAILABLE');
  }, 120_000);

  it('gives backend authors rollcall/backend from import and require, and keeps internals out of the root', () => {
    const script = (load: string): string => `${load}
const hub = new WatchHub((service, sink) => {
  const timer = setTimeout(() => sink.change([]), 1);
  return () => clearTimeout(timer);
}, () => {});
const seen = await new Promise((resolve) => {
  const stop = hub.subscribe('orders', { onChange: (list) => { stop(); resolve(list.length); }, onError: () => {} });
});
const records = new MalformedRecords(loggerOption(undefined, 'logger', {}));
let malformed = '';
try {
  parseInstanceRecord({ id: 1 }, 'key');
} catch (error) {
  malformed = error.code;
  records.report('key', {}, error.message);
}
const parsed = parseInstanceRecord({ id: 'o1', service: 'orders', host: '10.0.0.1', port: 80, registeredAt: 1, updatedAt: 1 }, 'key');
let invalid = false;
try {
  assertServiceName('bad name');
} catch (error) {
  invalid = error instanceof root.InvalidArgumentError && error.field === 'service';
}
const internals = ['describeValue', 'messageOf', 'WatchHub', 'parseInstanceRecord'].filter((name) => name in root);
console.log(JSON.stringify({ seen, malformed, counted: records.count, parsed: parsed.id, invalid, internals }));
`;
    const names = 'MalformedRecords, WatchHub, assertServiceName, loggerOption, parseInstanceRecord';
    writeFileSync(join(consumer, 'backend.mjs'), script(`import { ${names} } from 'rollcall/backend';\nimport * as root from 'rollcall';`));
    writeFileSync(join(consumer, 'backend.cjs'), `(async () => {${script(`const { ${names} } = require('rollcall/backend');\nconst root = require('rollcall');`)}})();`);
    const expected = { seen: 0, malformed: 'MALFORMED_RECORD', counted: 1, parsed: 'o1', invalid: true, internals: [] };
    expect(JSON.parse(run('node', ['backend.mjs']))).toEqual(expected);
    expect(JSON.parse(run('node', ['backend.cjs']))).toEqual(expected);
  });

  it('names its repository, homepage and issue tracker', () => {
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/rollcall/package.json'), 'utf8')) as Record<string, unknown>;
    expect(installed).toMatchObject({
      repository: { type: 'git', url: 'git+https://github.com/rollcall-js/rollcall.git' },
      homepage: 'https://github.com/rollcall-js/rollcall#readme',
      bugs: { url: 'https://github.com/rollcall-js/rollcall/issues' },
    });
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

  it('passes publint and arethetypeswrong, node10 resolution included', () => {
    expect(run(join(root, 'node_modules/.bin/publint'), ['--strict'], root)).toMatch(/All good!/);
    const report = JSON.parse(run(join(root, 'node_modules/.bin/attw'), [tarball, '--profile', 'strict', '--format', 'json'])) as {
      problems?: Record<string, unknown> | unknown[];
      analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string } }> }> };
    };
    expect(Object.values(report.problems ?? {})).toEqual([]);
    const subpaths = Object.keys((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> }).exports);
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(subpaths.sort());
    for (const [subpath, entry] of Object.entries(report.analysis.entrypoints)) {
      if (subpath === './package.json') continue;
      expect(entry.resolutions.node10?.resolution?.fileName, subpath).toMatch(/\.d\.cts$/);
    }
  });

  it('builds its API reference from the TSDoc without a warning', () => {
    // typedoc.json treats warnings (a broken {@link}, an exported type left out) as errors.
    expect(() => run(join(root, 'node_modules/.bin/typedoc'), ['--emit', 'none'], root)).not.toThrow();
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
    writeFileSync(join(consumer, 'tsconfig.json'), JSON.stringify({ compilerOptions: compilerOptions({ module: 'nodenext' }), files: ['types.mts', 'types.cts'] }));
    expect(typecheck('tsconfig.json')).toBe('');
  });

  it('resolves the types of every subpath under moduleResolution node10', () => {
    writeFileSync(
      join(consumer, 'node10.ts'),
      `import { MemoryBackend, type RegistryBackend } from 'rollcall';
import { FaultyBackend } from 'rollcall/testing';
import { WatchHub, type RegistryBackend as Contract, type WatchSink } from 'rollcall/backend';
import type { RedisBackendOptions } from 'rollcall/redis';
import type { DiscoveryFetch } from 'rollcall/http';
export const backend: RegistryBackend = new FaultyBackend(new MemoryBackend());
export const contract: Contract = backend;
export const hub = new WatchHub((_service: string, sink: WatchSink) => () => sink.change([]), () => undefined);
export type Used = [RedisBackendOptions, DiscoveryFetch];
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.node10.json'),
      JSON.stringify({ compilerOptions: compilerOptions({ module: 'commonjs', moduleResolution: 'node10', skipLibCheck: true }), files: ['node10.ts'] }),
    );
    expect(typecheck('tsconfig.node10.json')).toBe('');
  });
});

function compilerOptions(extra: Record<string, unknown>): Record<string, unknown> {
  return { strict: true, noEmit: true, skipLibCheck: false, types: ['node'], typeRoots: [join(root, 'node_modules/@types')], lib: ['ES2023', 'ESNext.Disposable'], ...extra };
}

/** tsc's output for `project` in the consumer: empty when it type-checks. */
function typecheck(project: string): string {
  try {
    return run(join(root, 'node_modules/.bin/tsc'), ['-p', project]);
  } catch (error) {
    return String((error as { stdout?: string }).stdout ?? error);
  }
}
