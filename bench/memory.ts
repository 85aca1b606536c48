/**
 * Memory per cached instance on the real watch path, measured in a process of its own from a
 * bundle built like the package (see bench/memory-child.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'tsup';
import { startRedis } from '../test/helpers/redis-server.js';
import { repeated, type Figure, type Measured } from './figure.js';
import { single } from './harness.js';

export async function memoryFigures(): Promise<Figure[]> {
  // Inside the checkout (.tmp is ignored by git), so that the bundle finds ioredis in node_modules.
  const root = resolve(import.meta.dirname, '..');
  mkdirSync(join(root, '.tmp'), { recursive: true });
  const outDir = mkdtempSync(join(root, '.tmp', 'bench-'));
  const server = await startRedis();
  try {
    await build({
      entry: { 'memory-child': resolve(import.meta.dirname, 'memory-child.ts') },
      outDir,
      format: ['esm'],
      platform: 'node',
      target: 'node20',
      config: false,
      dts: false,
      silent: true,
      splitting: false,
      sourcemap: false,
    });
    const measure = (services: number, perService: number) => (): Promise<Measured> => {
      const output = execFileSync(process.execPath, ['--expose-gc', join(outDir, 'memory-child.js'), server.url, String(services), String(perService)], {
        encoding: 'utf8',
        cwd: root,
      });
      const { subject, floor } = JSON.parse(output.trim().split('\n').at(-1) ?? '{}') as { subject: number; floor: number };
      return Promise.resolve({
        id: `memory-${services}x${perService}`,
        title: `Memory per cached instance (${services.toLocaleString('en-US')} services x ${perService}, watched through Redis)`,
        subject: `heap retained by a resolver and its RedisBackend watching ${services.toLocaleString('en-US')} services of ${perService} instances, per instance (a bundle as the package ships, in a process of its own)`,
        floor: 'a Map<string, ServiceInstance[]> of the same instances, made the same way (parsed and validated), per instance',
        unit: 'bytes',
        target: { kind: 'max-ratio', value: 1.5 },
        note:
          perService <= 5
            ? 'With 5 instances a service, what each watched service costs (its cache entry and picker, its watch in the resolver, the backend and the subscriber connection, the loss detector) is shared by only 5 instances; the figure at 50 instances a service shows the cost per instance'
            : undefined,
        run: { subject: single(Math.round(subject)), floor: single(Math.round(floor)), ratio: subject / floor },
      });
    };
    return [await repeated(measure(10_000, 5)), await repeated(measure(1_000, 50))];
  } finally {
    await server.stop();
    rmSync(outDir, { recursive: true, force: true });
  }
}
