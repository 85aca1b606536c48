import fc from 'fast-check';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { forwardedRequestHeaders, forwardedResponseHeaders } from '../../src/gateway/headers.js';
import { pathProblem, segmentCount, upstreamTarget } from '../../src/gateway/path.js';
import { MemoryBackend, createInstance, describeRegistry, type InstanceStatus } from '../../src/index.js';

// @fastify/reply-from's own URL check, the one the gateway's pathProblem must agree with.
const { buildURL } = createRequire(import.meta.url)('@fastify/reply-from/lib/utils.js') as { buildURL: (source: string, base: string | undefined) => URL };

const pathChar = fc.constantFrom(...'abcXYZ019-._~!$&\'()*+,;=:@'.split(''), '%2F', '%20', '%2e', '%2E', '%41', '%', '%zz', '.', '..');
const segment = fc.array(pathChar, { maxLength: 6 }).map((chars) => chars.join(''));
const serviceName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/);
const staticSegment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,8}$/);
/** Anything after the service: `''`, or `/` then segments, empty ones (repeated slashes) included. */
const rest = fc.oneof(fc.constant(''), fc.array(segment, { minLength: 1, maxLength: 5 }).map((segments) => `/${segments.join('/')}`));
const query = fc.option(fc.stringMatching(/^[ -~]{0,20}$/).filter((q) => !q.includes('#')), { nil: undefined });

describe('gateway paths (property)', () => {
  it('sends the instance exactly what follows <prefix>/<service>, whatever the slashes before it', () => {
    fc.assert(
      fc.property(fc.array(staticSegment, { minLength: 1, maxLength: 3 }), serviceName, rest, query, fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 4, maxLength: 4 }), (prefix, service, after, q, slashes) => {
        // Fastify's ignoreDuplicateSlashes can route a URL with repeated slashes between the skipped segments.
        const skipped = [...prefix, service].map((name, i) => '/'.repeat(slashes[i % slashes.length] as number) + name).join('');
        const url = `${skipped}${after}${q === undefined ? '' : `?${q}`}`;
        expect(upstreamTarget(url, segmentCount(`/${prefix.join('/')}`) + 1)).toEqual({ path: after === '' ? '/' : after, query: q ?? '' });
      }),
      { numRuns: 1500 },
    );
  });

  it('refuses a path exactly when @fastify/reply-from would', () => {
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segments) => {
        const path = `/${segments.join('/')}`;
        let refused = false;
        try {
          buildURL(`http://127.0.0.1:8080${path}`, undefined);
        } catch {
          refused = true;
        }
        expect(pathProblem(path) !== undefined).toBe(refused);
      }),
      { numRuns: 1500 },
    );
  });
});

const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,12}$/);
const hopByHop = fc.constantFrom('keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade');

describe('gateway headers (property)', () => {
  it('drops hop-by-hop headers and those the Connection header names, and keeps every other one as it was', () => {
    fc.assert(
      fc.property(
        fc.dictionary(headerName, fc.stringMatching(/^[!-~]{1,10}$/), { maxKeys: 8 }),
        fc.array(hopByHop, { maxLength: 3 }),
        fc.option(fc.array(headerName, { maxLength: 3 }), { nil: undefined }),
        (plain, hops, named) => {
          const headers: Record<string, string> = { ...plain };
          for (const hop of hops) headers[hop] = 'x';
          // Connection lists options and header names, in any case; every one of them goes.
          if (named !== undefined) headers.connection = ['keep-alive', ...named.map((name) => name.toUpperCase())].join(', ');
          const dropped = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', ...(named ?? [])]);

          const kept = forwardedResponseHeaders(headers);

          expect(kept).toEqual(Object.fromEntries(Object.entries(headers).filter(([name]) => !dropped.has(name))));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('appends the client to X-Forwarded-For and says what this hop saw', () => {
    fc.assert(
      fc.property(fc.option(fc.stringMatching(/^[0-9a-f.:, ]{1,30}$/), { nil: undefined }), fc.ipV4(), (chain, ip) => {
        const headers = chain === undefined ? {} : { 'x-forwarded-for': chain };
        const from = { ip, protocol: 'https', host: 'gw.example:8443', prefix: '/api/v1/orders' };

        expect(forwardedRequestHeaders(headers, from)).toEqual({
          'x-forwarded-for': chain === undefined ? ip : `${chain}, ${ip}`,
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'gw.example:8443',
          'x-forwarded-prefix': '/api/v1/orders',
        });
      }),
      { numRuns: 1000 },
    );
  });
});

const status = fc.constantFrom<InstanceStatus>('passing', 'warning', 'critical', 'draining');

describe('describeRegistry (property)', () => {
  it('lists every service once, sorted, with counts that add up and the best status as health', async () => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(serviceName, fc.array(status, { minLength: 1, maxLength: 4 }), { minKeys: 0, maxKeys: 8 }), async (fleet) => {
        const backend = new MemoryBackend();
        for (const [service, statuses] of Object.entries(fleet)) {
          for (const [n, each] of statuses.entries()) {
            await backend.register(createInstance({ id: `i-${n}`, service, host: '10.0.0.1', port: 80, status: each }, 0), { ttlMs: 60_000 });
          }
        }

        const registry = await describeRegistry(backend, { concurrency: 3 });

        const names = Object.keys(fleet).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        expect(registry.services.map((s) => s.service)).toEqual(names);
        for (const described of registry.services) {
          const statuses = fleet[described.service] as InstanceStatus[];
          expect(described.instances.map((i) => i.status).sort()).toEqual([...statuses].sort());
          for (const each of ['passing', 'warning', 'critical', 'draining'] as const) {
            expect(described.counts[each]).toBe(statuses.filter((s) => s === each).length);
          }
          const best = statuses.includes('passing') ? 'passing' : statuses.includes('warning') ? 'warning' : 'critical';
          expect(described.health).toBe(best);
        }
        const total = Object.values(registry.instanceCounts).reduce((a, b) => a + b, 0);
        expect(total).toBe(Object.values(fleet).flat().length);
        expect(Object.values(registry.healthCounts).reduce((a, b) => a + b, 0)).toBe(names.length);
        await backend.close();
      }),
      { numRuns: 300 },
    );
  });
});
