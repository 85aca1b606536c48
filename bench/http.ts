/**
 * Discovery-aware fetch against plain undici fetch to a fixed URL: the same server (in a process
 * of its own, so that it does not share the client's event loop), the same undici Agent, the same
 * concurrency, in many short alternating windows so neither side gets a warmer run.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, fetch } from 'undici';
import { MemoryBackend, autoRegister, createResolver } from '../src/index.js';
import { createDiscoveryFetch } from '../src/http/index.js';
import type { Measured } from './figure.js';
import { single, stats } from './harness.js';

const CONCURRENCY = 16;
const WINDOW_MS = 500;
const ROUNDS = 16;

/** An HTTP server in a child process; resolves with its port and a way to stop it. */
async function serverProcess(): Promise<{ port: number; stop: () => Promise<void> }> {
  const source = `
    const { createServer } = require('node:http');
    const server = createServer((_request, response) => response.end('{"ok":true}'));
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
    process.on('SIGTERM', () => server.close(() => process.exit(0)));
  `;
  const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(chunk.toString().trim());
  return {
    port,
    stop: async () => {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Requests per second and every request's latency (ms) of `call` run by CONCURRENCY loops for WINDOW_MS. */
async function load(call: () => Promise<unknown>): Promise<{ rate: number; latencies: number[] }> {
  const latencies: number[] = [];
  const deadline = performance.now() + WINDOW_MS;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const begin = performance.now();
        await call();
        latencies.push(performance.now() - begin);
      }
    }),
  );
  return { rate: (latencies.length * 1_000) / (performance.now() - started), latencies };
}

const p99 = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.99)] ?? Number.NaN;

export async function discoveryFetchThroughput(): Promise<Measured[]> {
  const server = await serverProcess();
  const { port } = server;
  const backend = new MemoryBackend();
  const registration = await autoRegister({ backend, service: 'bench', host: '127.0.0.1', port });
  const resolver = createResolver({ backend });
  const dispatcher = new Agent({ connections: CONCURRENCY });
  const discoveryFetch = createDiscoveryFetch(resolver, { dispatcher });
  const plain = async (): Promise<unknown> => (await fetch(`http://127.0.0.1:${port}/items`, { dispatcher })).arrayBuffer();
  const discovered = async (): Promise<unknown> => (await discoveryFetch('http://bench/items')).arrayBuffer();

  await load(plain);
  await load(discovered);
  const floor = { rates: [] as number[], latencies: [] as number[] };
  const subject = { rates: [] as number[], latencies: [] as number[] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [side, call] of round % 2 === 0 ? ([[floor, plain], [subject, discovered]] as const) : ([[subject, discovered], [floor, plain]] as const)) {
      const result = await load(call);
      side.rates.push(result.rate);
      side.latencies.push(...result.latencies);
    }
  }

  await registration.stop();
  await resolver.close();
  await backend.close();
  await dispatcher.close();
  await server.stop();

  const floorRate = stats(floor.rates);
  const subjectRate = stats(subject.rates);
  return [
    {
      id: 'discovery-fetch-throughput',
      title: 'Discovery-aware fetch throughput',
      subject: `createDiscoveryFetch('http://bench/items'): resolve, pick, outcome report; ${CONCURRENCY} concurrent callers`,
      floor: `undici fetch to the same server (another process) by address, same Agent and concurrency, in ${ROUNDS} alternating ${WINDOW_MS} ms windows each`,
      unit: 'requests/s',
      target: { kind: 'min-ratio', value: 0.95 },
      run: { subject: subjectRate, floor: floorRate, ratio: subjectRate.median / floorRate.median },
    },
    {
      id: 'discovery-fetch-p99',
      title: 'Discovery-aware fetch p99 latency',
      subject: 'p99 latency of every request in the discovery windows',
      floor: 'p99 latency of every request in the plain undici windows',
      unit: 'ms',
      target: { kind: 'info' },
      run: { subject: single(p99(subject.latencies)), floor: single(p99(floor.latencies)), ratio: p99(subject.latencies) / p99(floor.latencies) },
    },
  ];
}
