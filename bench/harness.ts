/**
 * Measures a subject against its floor in the same run: both warmed up, then run in alternating
 * batches (so drift and GC hit both alike), reporting medians and interquartile spreads.
 */

export interface Stats {
  /** Median of the per-batch values. */
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
}

export interface Comparison {
  readonly floor: Stats;
  readonly subject: Stats;
  /** subject median / floor median. */
  readonly ratio: number;
}

export interface CompareOptions {
  /** Operations per batch. */
  readonly batch: number;
  /** Batches of each side that count. */
  readonly rounds: number;
  /** Uncounted batches of each side first. */
  readonly warmupRounds: number;
}

export function stats(values: readonly number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return { median: at(0.5), p25: at(0.25), p75: at(0.75) };
}

/** The `q` quantile (0-1) of `values`. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** Stats in nanoseconds as microseconds. */
export function micro(value: Stats): Stats {
  return { median: value.median / 1_000, p25: value.p25 / 1_000, p75: value.p75 / 1_000 };
}

/** A single value as Stats (a figure measured once per run). */
export function single(value: number): Stats {
  return { median: value, p25: value, p75: value };
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `check()` holds, polling on every turn of the event loop; returns the ms it took from `since`. */
export async function whenTrue(check: () => boolean, since: bigint, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(process.hrtime.bigint() - since) / 1e6;
}

/** Milliseconds since `since` (a `process.hrtime.bigint()`). */
export function msSince(since: bigint): number {
  return Number(process.hrtime.bigint() - since) / 1e6;
}

/** Nanoseconds per operation of `operation`, run `batch` times in sequence, each awaited. */
export async function timeBatch(operation: () => unknown, batch: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < batch; i++) await operation();
  return Number(process.hrtime.bigint() - start) / batch;
}

/** ns/op of `subject` and `floor`, interleaved batch by batch. */
export async function compare(floor: () => unknown, subject: () => unknown, options: CompareOptions): Promise<Comparison> {
  const floors: number[] = [];
  const subjects: number[] = [];
  for (let round = 0; round < options.warmupRounds + options.rounds; round++) {
    const counted = round >= options.warmupRounds;
    // Alternate which side goes first so neither always runs on a warmer cache.
    const order = round % 2 === 0 ? [floor, subject] : [subject, floor];
    for (const side of order) {
      const value = await timeBatch(side, options.batch);
      if (counted) (side === floor ? floors : subjects).push(value);
    }
  }
  const floorStats = stats(floors);
  const subjectStats = stats(subjects);
  return { floor: floorStats, subject: subjectStats, ratio: subjectStats.median / floorStats.median };
}

/** Milliseconds of `fn`, repeated `rounds` times (after one warm-up run). */
export async function timeRuns(fn: () => unknown, rounds: number): Promise<Stats> {
  await fn();
  const values: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const start = process.hrtime.bigint();
    await fn();
    values.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return stats(values);
}

/** Heap bytes retained by what `build` returns, measured after forced GCs. */
export async function retainedBytes(build: () => unknown): Promise<{ bytes: number; keep: unknown }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run node with --expose-gc to measure memory');
  const settle = async (): Promise<number> => {
    for (let i = 0; i < 3; i++) {
      gc();
      await new Promise((resolve) => setImmediate(resolve));
    }
    return process.memoryUsage().heapUsed;
  };
  const before = await settle();
  const keep = await build();
  const after = await settle();
  return { bytes: after - before, keep };
}
