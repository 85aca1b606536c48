import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MemoryBackend, createResolver, type Logger } from '../../src/index.js';
import { FaultyBackend } from '../../src/testing/index.js';

afterEach(() => vi.useRealTimers());

describe('logging through pino', () => {
  it('accepts a pino logger and writes one warn line per degraded service, none per request', async () => {
    vi.useFakeTimers();
    const lines: Array<{ level: number; msg: string; component?: string; service?: string }> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(JSON.parse(chunk.toString()) as (typeof lines)[number]);
        callback();
      },
    });
    const logger: Logger = pino({ level: 'debug' }, sink);
    const faulty = new FaultyBackend(new MemoryBackend());
    const resolver = createResolver({ backend: faulty, logger, watch: false, cacheTtlMs: 1_000, envFallback: { env: { ORDERS_URL: 'http://127.0.0.1:1' } } });
    faulty.fail();
    for (let n = 0; n < 50; n++) await resolver.resolve('orders');
    await vi.advanceTimersByTimeAsync(0);
    const warnings = lines.filter((l) => l.level === 40 && l.service === 'orders');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ component: 'resolver', msg: expect.stringMatching(/^serving orders from environment fallback/) as string });
    await resolver.close();
  });
});
