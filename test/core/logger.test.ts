import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError, MemoryBackend, createResolver, type Logger } from '../../src/index.js';
import { loggerOption } from '../../src/core/logger.js';
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

describe('message-first loggers', () => {
  it('adapts console: message first, fields after, bindings of child() included', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const log = loggerOption(console, 'logger', { component: 'resolver' }).child({ service: 'orders' });
    log.warn({ reason: 'down' }, 'serving orders from stale cache');
    expect(warn).toHaveBeenCalledWith('serving orders from stale cache', { component: 'resolver', service: 'orders', reason: 'down' });
  });

  it('adapts a NestJS-style logger: info goes to log, debug to verbose', () => {
    const calls: string[] = [];
    const nest = {
      log: (message: string) => calls.push(`log:${message}`),
      warn: (message: string) => calls.push(`warn:${message}`),
      error: (message: string) => calls.push(`error:${message}`),
      verbose: (message: string) => calls.push(`verbose:${message}`),
    };
    const log = loggerOption(nest, 'logger', {});
    log.info({}, 'a');
    log.debug({}, 'b');
    log.error({}, 'c');
    expect(calls).toEqual(['log:a', 'verbose:b', 'error:c']);
  });

  it('rejects what cannot log, naming the option', () => {
    for (const value of [null, 5, 'console', {}, { warn: () => {} }, { warn: () => {}, error: () => {}, child: () => {} }]) {
      expect(() => loggerOption(value as never, 'logger', {})).toThrow(InvalidArgumentError);
    }
    expect(() => createResolver({ backend: new MemoryBackend(), logger: {} as never })).toThrow(/Invalid logger/);
  });
});
