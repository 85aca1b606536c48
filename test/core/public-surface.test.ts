/**
 * What each entry point shows: the root lists its exports by name (no `export *`), so internal
 * helpers stay internal; backend authors' tools live in `rollcall/backend`; `rollcall/redis` and
 * `rollcall/etcd` keep their key layouts to themselves.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as backend from '../../src/backends/index.js';
import * as etcd from '../../src/backends/etcd/index.js';
import * as redis from '../../src/backends/redis/index.js';
import * as root from '../../src/index.js';

const repository = resolve(import.meta.dirname, '../..');

describe('the public surface', () => {
  it('names every export of every entry point: no entry re-exports a module wholesale', () => {
    const config = readFileSync(resolve(repository, 'tsup.config.ts'), 'utf8');
    const entries = [...config.matchAll(/^\s+[\w-]+: '(src\/[^']+\.ts)',$/gm)].map((match) => match[1] as string);
    expect(entries).toContain('src/index.ts');
    expect(entries).toContain('src/backends/index.ts');
    for (const entry of entries) expect(readFileSync(resolve(repository, entry), 'utf8'), entry).not.toMatch(/^export \* from/m);
  });

  it('keeps internal helpers and backend-author tools out of the root', () => {
    for (const name of ['describeValue', 'messageOf', 'WatchHub', 'parseInstanceRecord', 'MalformedRecords']) expect(name in root, name).toBe(false);
    expect(Object.keys(root)).toEqual(expect.arrayContaining(['createResolver', 'autoRegister', 'ServiceUnavailableError', 'InstancesEjectedError', 'roundRobin', 'assertServiceName']));
  });

  it('gives backend authors the contract tools in rollcall/backend', () => {
    expect(Object.keys(backend).sort()).toEqual(
      [
        'ClosedError',
        'INSTANCE_ID_PATTERN',
        'INSTANCE_LIMITS',
        'InvalidArgumentError',
        'MalformedRecordError',
        'MalformedRecords',
        'RegistryAuthError',
        'RegistryUnavailableError',
        'SERVICE_NAME_PATTERN',
        'TTL_LIMITS',
        'WatchHub',
        'assertInstanceRef',
        'assertInstanceStatus',
        'assertServiceName',
        'assertTtl',
        'createInstance',
        'isInstanceStatus',
        'loggerOption',
        'parseInstanceRecord',
        'withStatus',
      ].sort(),
    );
    expect(backend.InvalidArgumentError).toBe(root.InvalidArgumentError);
  });

  it('does not export the Redis or etcd key layout', () => {
    for (const name of ['serviceKeys', 'servicesIndexKey']) expect(name in redis, name).toBe(false);
    expect(Object.keys(redis)).toEqual(expect.arrayContaining(['RedisBackend', 'InstanceOwnedError', 'RECORD_MAX_BYTES']));
    for (const name of ['KeyLayout', 'KEY_ROOT']) expect(name in etcd, name).toBe(false);
    expect(Object.keys(etcd).sort()).toEqual(['DEFAULT_NAMESPACE', 'EtcdBackend', 'NAMESPACE_PATTERN', 'RECORD_MAX_BYTES']);
  });
});
