import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, defaultEnvVariable } from '../../src/index.js';
import { envFallbackOption, lookupEnv, type EnvLookup } from '../../src/resolution/env-fallback.js';

function reason(lookup: EnvLookup): string | undefined {
  return lookup.ok ? undefined : lookup.reason;
}

describe('environment fallback', () => {
  it('reads one URL or a list, with default ports, IPv6 hosts and the service name mapped to a variable', () => {
    const found = lookupEnv('ip-intel', { env: { IP_INTEL_URL: ' http://10.0.0.5:8080 , https://[::1], grpc://h:50051 ' } }, 0);
    expect(found.ok && found.instances.map((i) => `${i.protocol}://${i.host}:${i.port}`)).toEqual(['http://10.0.0.5:8080', 'https://::1:443', 'grpc://h:50051']);
    expect(found.ok && found.instances[0]?.meta).toEqual({ source: 'env', variable: 'IP_INTEL_URL' });
    expect(defaultEnvVariable('orders.api')).toBe('ORDERS_API_URL');
  });

  it('refuses a URL that would lose part of itself, saying which part', () => {
    const cases: Array<[string, string]> = [
      ['http://h:80/base', 'expected no path: rollcall appends the request path itself'],
      ['http://h:80/?region=eu', 'expected no query (?...): rollcall appends the request path and query itself'],
      ['http://h:80?region=eu', 'expected no query (?...): rollcall appends the request path and query itself'],
      ['http://h:80/#top', 'expected no fragment (#...)'],
      ['http://user:pw@h:80', 'expected no credentials in the URL'],
      ['http://h\n:80', 'expected no control characters (tabs, line breaks)'],
      ['http://h\t.example:80', 'expected no control characters (tabs, line breaks)'],
      ['grpc://h', 'expected a port: grpc has no default port'],
      ['h:80', 'expected an absolute URL such as http://host:8080'],
      ['file:///etc/passwd', 'expected an absolute URL such as http://host:8080'],
      ['not a url', 'expected an absolute URL such as http://host:8080'],
    ];
    for (const [value, why] of cases) {
      expect(reason(lookupEnv('orders', { env: { ORDERS_URL: value } }, 0))).toBe(`ORDERS_URL entry 1 (${JSON.stringify(value)}) is not usable: ${why}`);
    }
  });

  it('turns whatever a variable function or an env object holds into a reason, never a throw', () => {
    const env = { ORDERS_URL: 'http://h:80' };
    expect(reason(lookupEnv('orders', { env, variable: () => 5 as never }, 0))).toBe('envFallback.variable returned 5 for orders, expected a variable name');
    expect(reason(lookupEnv('orders', { env, variable: () => '' }, 0))).toMatch(/returned "" for orders/);
    const throwing = (): string => {
      throw new Error('no mapping');
    };
    expect(reason(lookupEnv('orders', { env, variable: throwing }, 0))).toBe('envFallback.variable threw for orders: no mapping');
    for (const variable of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      expect(reason(lookupEnv('orders', { env, variable: () => variable }, 0))).toBe(`${variable} is not set`);
      expect(reason(lookupEnv('orders', { variable: () => variable }, 0))).toBe(`${variable} is not set`);
    }
    expect(reason(lookupEnv('orders', { env: { ORDERS_URL: 42 } as never }, 0))).toBe('ORDERS_URL holds 42, expected a string of URLs');
    expect(reason(lookupEnv('orders', { env: { ORDERS_URL: ' , ' } }, 0))).toBe('ORDERS_URL lists no URL');
  });

  it('checks the option itself when the resolver is built', () => {
    expect(envFallbackOption(undefined, 'envFallback')).toEqual({});
    expect(envFallbackOption(true, 'envFallback')).toEqual({});
    expect(envFallbackOption(false, 'envFallback')).toBeUndefined();
    const custom = { variable: (service: string) => `${service}_ADDR`, env: {} };
    expect(envFallbackOption(custom, 'envFallback')).toBe(custom);
    for (const bad of [null, 'yes', 1, [], { variable: 'ORDERS_URL' }, { env: 'X=1' }, { env: null }, { env: [] }]) {
      expect(() => envFallbackOption(bad as never, 'envFallback')).toThrow(InvalidArgumentError);
    }
  });
});
