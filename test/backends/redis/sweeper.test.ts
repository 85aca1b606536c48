/**
 * The expiry sweeper's schedule, on fake timers and a scripted lease: one look per lease per
 * participant while another holds the lease, a renewal every third of a lease while holding it,
 * sweeps at the namespace's earliest deadline (plus a margin) and not before, bounded work per
 * turn, a message making the holder look at once and the others soon, and the lease given up on stop.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DUE_LIMIT, EXPIRY_MARGIN_MS, SWEEP_LEASE_MS, Sweeper, type SweepCheck } from '../../../src/backends/redis/sweeper.js';

interface Scripted {
  sweeper: Sweeper;
  /** ms (fake clock) of each look. */
  looks: number[];
  swept: string[];
  released: number;
  errors: unknown[];
  /** What the next looks answer, in turn; the last one answers every look after. */
  answer: (...next: (Partial<SweepCheck> | Error)[]) => void;
}

const T0 = 1_000_000;

function scripted(random = (): number => 0.5): Scripted {
  let answers: (Partial<SweepCheck> | Error)[] = [{ held: false, participants: 1 }];
  const state: Omit<Scripted, 'sweeper'> = {
    looks: [],
    swept: [],
    released: 0,
    errors: [],
    answer: (...values) => {
      answers = values;
    },
  };
  const sweeper = new Sweeper({
    check: () => {
      state.looks.push(Date.now() - T0);
      const next = (answers.length > 1 ? answers.shift() : answers[0]) as Partial<SweepCheck> | Error;
      if (next instanceof Error) return Promise.reject(next);
      // The fake clock stands for the server's.
      return Promise.resolve({ held: false, participants: 1, serverNow: Date.now(), nextExpiry: undefined, due: [], ...next });
    },
    sweep: (service) => {
      state.swept.push(service);
      return Promise.resolve();
    },
    release: () => {
      state.released++;
      return Promise.resolve();
    },
    onError: (error) => state.errors.push(error),
    random,
  });
  return Object.assign(state, { sweeper });
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('Sweeper', () => {
  it('looks at once, then about once per lease per participant while another backend holds the lease', async () => {
    const s = scripted();
    s.answer({ held: false, participants: 200 });
    s.sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.looks).toEqual([0]);
    // 200 participants: each looks every ~200 leases, so the namespace looks about once a lease.
    await vi.advanceTimersByTimeAsync(SWEEP_LEASE_MS * 200 - 1);
    expect(s.looks).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.looks).toEqual([0, SWEEP_LEASE_MS * 200]);
    expect(s.sweeper.held).toBe(false);
  });

  it('spreads the looks of many participants over time instead of making them look together', async () => {
    const randoms = [0, 0.25, 0.5, 0.75, 0.999];
    const looks = await Promise.all(
      randoms.map(async (r) => {
        const s = scripted(() => r);
        s.answer({ held: false, participants: 5 });
        s.sweeper.start();
        await vi.advanceTimersByTimeAsync(0);
        return s;
      }),
    );
    await vi.advanceTimersByTimeAsync(SWEEP_LEASE_MS * 5 * 1.5);
    const second = looks.map((s) => s.looks[1]);
    expect(new Set(second).size).toBe(randoms.length);
    for (const at of second) {
      expect(at).toBeGreaterThanOrEqual(SWEEP_LEASE_MS * 5 * 0.5);
      expect(at).toBeLessThanOrEqual(SWEEP_LEASE_MS * 5 * 1.5);
    }
  });

  it('renews a lease it holds every third of a lease, and sweeps nothing while nothing is due', async () => {
    const s = scripted();
    s.answer({ held: true, nextExpiry: T0 + 60_000 });
    s.sweeper.start();
    await vi.advanceTimersByTimeAsync(SWEEP_LEASE_MS * 3);
    expect(s.looks).toHaveLength(10);
    expect(s.looks[1]).toBe(SWEEP_LEASE_MS / 3);
    expect(s.swept).toEqual([]);
    expect(s.sweeper.held).toBe(true);
  });

  it('sweeps at the earliest deadline plus a margin, the services then due', async () => {
    const s = scripted();
    const orders = { service: 'orders', deadline: T0 + 500 };
    // The earliest deadline is 500 ms away; once it passed, one look finds it due, the next nothing.
    s.answer({ held: true, nextExpiry: T0 + 500 });
    s.sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    s.answer({ held: true, due: [orders] }, { held: true, nextExpiry: T0 + 60_000 });
    await vi.advanceTimersByTimeAsync(499 + EXPIRY_MARGIN_MS);
    expect(s.looks).toEqual([0]);
    expect(s.swept).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    // Swept at the deadline plus the margin, then looked again at once: nothing more due.
    expect(s.looks).toEqual([0, 500 + EXPIRY_MARGIN_MS, 500 + EXPIRY_MARGIN_MS]);
    expect(s.swept).toEqual(['orders']);
  });

  it('bounds the work of one turn when services keep coming due, and goes on after a short pause', async () => {
    const s = scripted();
    const due = Array.from({ length: DUE_LIMIT }, (_, n) => ({ service: `s${n}`, deadline: T0 }));
    s.answer({ held: true, due });
    s.sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.swept).toHaveLength(10 * DUE_LIMIT);
    await vi.advanceTimersByTimeAsync(EXPIRY_MARGIN_MS);
    expect(s.swept).toHaveLength(20 * DUE_LIMIT);
  });

  it('makes the holder look at once on a message, and the others within a second', async () => {
    const s = scripted(() => 0.5);
    s.answer({ held: false, participants: 50 });
    s.sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    s.sweeper.nudge();
    s.sweeper.nudge();
    await vi.advanceTimersByTimeAsync(499);
    expect(s.looks).toEqual([0]);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.looks).toEqual([0, 500]);

    const holder = scripted(() => 0.5);
    holder.answer({ held: true, nextExpiry: T0 + 60_000 });
    holder.sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    holder.sweeper.nudge();
    await vi.advanceTimersByTimeAsync(0);
    expect(holder.looks).toEqual([500, 500]);
  });

  it('tries again after a failed look, and gives the lease up once when stopped', async () => {
    const s = scripted(() => 0.5);
    s.answer(new Error('no answer'));
    s.sweeper.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(s.errors).toHaveLength(1);
    s.answer({ held: true });
    await vi.advanceTimersByTimeAsync(SWEEP_LEASE_MS / 3);
    expect(s.looks).toEqual([0, SWEEP_LEASE_MS / 3]);
    expect(s.sweeper.held).toBe(true);
    await s.sweeper.stop();
    await s.sweeper.stop();
    expect(s.released).toBe(1);
    await vi.advanceTimersByTimeAsync(SWEEP_LEASE_MS * 10);
    expect(s.looks).toHaveLength(2);
  });
});
