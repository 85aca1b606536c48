/**
 * What a command touches outside itself: its streams, its environment and the signal that stops
 * long-running commands. `main.ts` wires them to the process; tests wire them to buffers.
 */
import type { Readable, Writable } from 'node:stream';

/** The environment variables a command reads. */
export type Env = Readonly<Record<string, string | undefined>>;

/** An output stream, and what it says about colour when it is a terminal. */
export type OutputStream = Writable & {
  readonly isTTY?: boolean | undefined;
  hasColors?(env?: object): boolean;
};

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Where `deregister` reads its confirmation. */
  readonly stdin: Readable;
  readonly env: Env;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: `watch` and `dashboard` stop then, and exit 0. */
  readonly interrupted: AbortSignal;
}
