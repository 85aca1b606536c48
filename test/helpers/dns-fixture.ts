/**
 * The setup the DNS real-server tests share: one Knot server per test file, and DNS backends (or
 * anything else a test opens) closed after each test, newest first. Call `useDnsServer()` at the
 * top of a test file; it registers the hooks there.
 */
import { afterAll, beforeAll } from 'vitest';
import { DnsBackend, type DnsBackendOptions } from '../../src/backends/dns/index.js';
import { useCleanups } from './cleanups.js';
import { startDnsServer, type DnsServer } from './dns-server.js';

export interface DnsFixture {
  /** The file's server, started before its first test and stopped after its last. */
  readonly server: DnsServer;
  /** A DnsBackend asking the file's server for its names (no environment), closed after the test. */
  readonly backend: (options?: DnsBackendOptions) => DnsBackend;
  /** Runs `cleanups` after the current test, newest first. */
  readonly defer: (...cleanups: (() => unknown)[]) => void;
}

export function useDnsServer(): DnsFixture {
  let server: DnsServer | undefined;
  const defer = useCleanups();
  beforeAll(async () => {
    server = await startDnsServer();
  });
  afterAll(async () => {
    await server?.stop();
  });
  const started = (): DnsServer => {
    if (server === undefined) throw new Error('the DNS server did not start');
    return server;
  };
  return {
    get server() {
      return started();
    },
    backend: (options = {}) => {
      const created = new DnsBackend({ env: {}, servers: [started().server], name: started().template, ...options });
      defer(() => created.close());
      return created;
    },
    defer,
  };
}
