#!/usr/bin/env node
/**
 * The `rollcall` executable (package.json `bin`). Wires the command line to this process: its
 * streams, its environment, Ctrl-C. It sets the exit code rather than calling `process.exit`, so
 * output piped to another program is never cut short.
 */
import { getEventListeners } from 'node:events';
import { runCli } from './cli.js';

const interrupt = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    // Commands that run until stopped (watch, dashboard) listen and shut down cleanly; the others
    // stop at once, as does a second Ctrl-C during a shutdown.
    if (interrupt.signal.aborted || getEventListeners(interrupt.signal, 'abort').length === 0) process.exit(130);
    interrupt.abort();
  });
}
// `rollcall services | head -1`: the reader left, nothing more to say.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, interrupted: interrupt.signal }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`rollcall: unexpected failure: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 70;
  },
);
