/**
 * `npm run bench`: every hot path against a floor measured in the same run, each figure twice.
 * Prints a table, writes bench/results.json and regenerates docs/benchmarks.md with its chart.
 */
import { resolve } from 'node:path';
import { cachedResolve, concurrentMisses, scale } from './core.js';
import { etcdFigures } from './etcd.js';
import { repeated, repeatedAll, type Figure } from './figure.js';
import { discoveryFetchThroughput } from './http.js';
import { memoryFigures } from './memory.js';
import { resolveWithMetrics, scrapeCost } from './observability.js';
import { redisFigures } from './redis.js';
import { printTable, writeReports } from './report.js';

const root = resolve(import.meta.dirname, '..');

async function main(): Promise<void> {
  const started = Date.now();
  const figures: Figure[] = [];
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    process.stdout.write(`measuring ${what} ...\n`);
    return run();
  };
  figures.push(await step('cached resolve()', () => repeated(cachedResolve)));
  figures.push(await step('cached resolve() with metrics and tracing on', () => repeated(resolveWithMetrics)));
  figures.push(await step('resolve() at 10,000 services', () => repeated(scale)));
  figures.push(await step('concurrent misses', () => repeated(concurrentMisses)));
  figures.push(...(await step('memory on the watch path (in a child process)', memoryFigures)));
  figures.push(await step('a metrics scrape', () => repeated(scrapeCost)));
  figures.push(...(await step('discovery-aware fetch against plain undici fetch', () => repeatedAll(discoveryFetchThroughput))));
  figures.push(...(await step('through redis-servers started for the bench', redisFigures)));
  figures.push(...(await step('through an etcd member started for the bench', etcdFigures)));
  console.log('');
  printTable(figures);
  writeReports(root, figures, Date.now() - started);
  console.log('\nwrote bench/results.json, docs/benchmarks.md, docs/benchmarks.svg');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
