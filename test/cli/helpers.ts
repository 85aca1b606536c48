/**
 * Runs the real `rollcall` executable in a child process. The built file (dist/cli.js, what
 * `npx rollcall` runs once installed, shebang and bundle included) when it is at least as new as
 * every source file; otherwise the source through `node --import tsx`, so a stale build is never
 * what gets tested. `npm test` builds first, so the full run always exercises the built file.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

const root = resolve(import.meta.dirname, '../..');
const built = join(root, 'dist/cli.js');

function newestSource(): number {
  const files = readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true }).filter((entry) => entry.isFile());
  return Math.max(statSync(join(root, 'package.json')).mtimeMs, ...files.map((entry) => statSync(join(entry.parentPath, entry.name)).mtimeMs));
}

/** Which of the two runs `rollcall`, and the node arguments that load it. */
export const executable: { readonly kind: 'built' | 'source'; readonly script: readonly string[] } =
  existsSync(built) && statSync(built).mtimeMs >= newestSource()
    ? { kind: 'built', script: [built] }
    : { kind: 'source', script: ['--import', 'tsx', join(root, 'src/cli/main.ts')] };

/** Variables of this machine that would choose a registry or colours behind a test's back. */
const SCRUBBED = /^(REDIS_URL|CONSUL_.*|ETCD_.*|DNS_.*|ROLLCALL_.*|NO_COLOR|FORCE_COLOR|[A-Z0-9_]+_URL)$/;

function childEnv(env: Readonly<Record<string, string>>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !SCRUBBED.test(name)));
  return { ...base, ...env };
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly env?: Readonly<Record<string, string>>;
  /** Node options before the script (`--import` of a loader hook). */
  readonly nodeOptions?: readonly string[];
  /** Written to stdin, which is then closed. */
  readonly input?: string;
}

/** Runs `rollcall ...args` to completion. */
export function rollcall(args: readonly string[], options: RunOptions = {}): Promise<CliResult> {
  const child = start(args, options);
  child.stdin.end(options.input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolvePromise, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** `rollcall ...args --json`, parsed, with the exit code. */
export async function rollcallJson<T = unknown>(args: readonly string[], options: RunOptions = {}): Promise<{ code: number | null; json: T; stderr: string }> {
  const result = await rollcall([...args, '--json'], options);
  let json: T;
  try {
    json = JSON.parse(result.stdout) as T;
  } catch {
    throw new Error(`rollcall ${args.join(' ')} --json printed no JSON (exit ${result.code}):\n${result.stdout}\n${result.stderr}`);
  }
  return { code: result.code, json, stderr: result.stderr };
}

/** A long-running `rollcall` (watch, dashboard): its output line by line, and how to stop it. */
export interface RunningCli {
  readonly child: ChildProcessWithoutNullStreams;
  /** Every stdout line so far. */
  readonly lines: string[];
  /**
   * Resolves with the first stdout line that `match` accepts among those from index `after` on
   * (those seen so far, then those to come).
   */
  nextLine(match: (line: string) => boolean, options?: { timeoutMs?: number; after?: number }): Promise<string>;
  readonly stderr: () => string;
  /** Sends `signal` and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnRollcall(args: readonly string[], options: RunOptions = {}): RunningCli {
  const child = start(args, options);
  if (options.input !== undefined) child.stdin.write(options.input);
  const lines: string[] = [];
  const waiters = new Set<{ match: (line: string) => boolean; resolve: (line: string) => void }>();
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  const exited = new Promise<number | null>((resolvePromise) => child.once('close', (code) => resolvePromise(code)));
  return {
    child,
    lines,
    stderr: () => stderr,
    nextLine(match, { timeoutMs = 10_000, after = 0 } = {}) {
      const seen = lines.slice(after).find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      const found = new Promise<string>((resolvePromise, reject) => {
        const waiter = { match, resolve: (line: string) => (clearTimeout(timer), resolvePromise(line)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
      // A test that failed before awaiting it has its own error to report; this one is noise then.
      found.catch(() => undefined);
      return found;
    },
    async stop(signal = 'SIGINT') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

function start(args: readonly string[], options: RunOptions): ChildProcessWithoutNullStreams {
  // The built file runs as users run it, through its shebang; node options need node in front.
  const [command, ...script] = executable.kind === 'built' && options.nodeOptions === undefined ? executable.script : [process.execPath, ...(options.nodeOptions ?? []), ...executable.script];
  return spawn(command as string, [...script, ...args], { cwd: root, env: childEnv(options.env ?? {}), stdio: 'pipe' });
}
