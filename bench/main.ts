/**
 * `npm run bench`: every hot path against a floor measured in the same run. Prints a table,
 * writes bench/results.json and regenerates docs/benchmarks.md with its chart.
 */
import { resolve } from 'node:path';
import { absorbListing, cachedResolve, memoryPerInstance, outageThroughput, scale } from './core.js';
import type { Figure } from './figure.js';
import { etcdBench } from './etcd.js';
import { discoveryFetchThroughput } from './http.js';
import { resolveWithMetrics, scrapeCost } from './observability.js';
import { redisBench } from './redis.js';
import { printTable, writeReports } from './report.js';

const root = resolve(import.meta.dirname, '..');

async function main(): Promise<void> {
  const started = Date.now();
  const figures: Figure[] = [];
  for (const measure of [cachedResolve, resolveWithMetrics, scale, memoryPerInstance, absorbListing, outageThroughput, scrapeCost]) {
    process.stdout.write(`measuring ${measure.name} ...\n`);
    figures.push(await measure());
  }
  process.stdout.write('measuring discovery-aware fetch against plain undici fetch ...\n');
  figures.push(...(await discoveryFetchThroughput()));
  process.stdout.write('measuring through a redis-server started for the bench ...\n');
  const redis = await redisBench();
  try {
    figures.push(...(await redis.figures()));
  } finally {
    await redis.stop();
  }
  process.stdout.write('measuring through an etcd member started for the bench ...\n');
  const etcd = await etcdBench();
  try {
    figures.push(...(await etcd.figures()));
  } finally {
    await etcd.stop();
  }
  console.log('');
  printTable(figures);
  writeReports(root, figures, Date.now() - started);
  console.log('\nwrote bench/results.json, docs/benchmarks.md, docs/benchmarks.svg');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
