import { describe, expect, it } from 'vitest';
import type { RegistryReset } from '../../../src/backends/backend.js';
import { ResetDetector } from '../../../src/backends/etcd/resets.js';

function detector(): { detector: ResetDetector; resets: RegistryReset[] } {
  const resets: RegistryReset[] = [];
  const created = new ResetDetector((error) => {
    throw error;
  });
  created.onReset((reset) => resets.push(reset));
  return { detector: created, resets };
}

describe('etcd reset detection', () => {
  it('reports a vanished or rewritten epoch once, and an epoch appearing not at all', () => {
    const { detector: subject, resets } = detector();
    subject.afterRead('orders', subject.beforeRead('orders'), undefined, 5);
    subject.afterRead('orders', subject.beforeRead('orders'), 'E1', 6);
    expect(resets).toEqual([]);
    subject.afterRead('orders', subject.beforeRead('orders'), undefined, 9);
    subject.afterRead('orders', subject.beforeRead('orders'), undefined, 10);
    subject.afterRead('orders', subject.beforeRead('orders'), 'E2', 11);
    expect(resets).toHaveLength(1);
    subject.afterRead('orders', subject.beforeRead('orders'), 'E3', 12);
    expect(resets.map((reset) => reset.service)).toEqual(['orders', 'orders']);
    expect(resets[1]?.reason).toContain('new value');
  });

  it('does not report again what a newer observation saw first (a watch event, then a read in flight)', () => {
    const { detector: subject, resets } = detector();
    subject.afterRead('orders', subject.beforeRead('orders'), 'E1', 3);
    const inFlight = subject.beforeRead('orders');
    subject.epochEvent('orders', undefined);
    expect(resets).toHaveLength(1);
    subject.afterRead('orders', inFlight, undefined, 7);
    expect(resets).toHaveLength(1);
  });

  it('ignores a read answering with an older view than one that completed after it was sent', () => {
    const { detector: subject, resets } = detector();
    subject.afterRead('orders', subject.beforeRead('orders'), 'E1', 3);
    const slow = subject.beforeRead('orders');
    const fast = subject.beforeRead('orders');
    subject.afterRead('orders', fast, 'E1', 8);
    subject.afterRead('orders', slow, 'E1', 7);
    expect(resets).toEqual([]);
  });

  it('reports a revision going back once for the whole namespace, not again per service', () => {
    const { detector: subject, resets } = detector();
    subject.afterRead('orders', subject.beforeRead('orders'), 'E1', 40);
    subject.afterRead('payments', subject.beforeRead('payments'), 'P1', 41);
    subject.observeRevision(45);
    subject.afterRead('orders', subject.beforeRead('orders'), undefined, 2);
    expect(resets).toEqual([{ reason: expect.stringContaining('went back from 45 to 2') as string }]);
    subject.afterRead('payments', subject.beforeRead('payments'), undefined, 3);
    subject.afterRead('orders', subject.beforeRead('orders'), 'E9', 4);
    expect(resets).toHaveLength(1);
  });

  it('keeps telling the other listeners when one throws', () => {
    const errors: unknown[] = [];
    const subject = new ResetDetector((error) => errors.push(error));
    const heard: string[] = [];
    subject.onReset(() => {
      throw new Error('bad listener');
    });
    const stop = subject.onReset((reset) => heard.push(reset.reason));
    subject.afterRead('orders', subject.beforeRead('orders'), 'E1', 1);
    subject.epochEvent('orders', undefined);
    expect(heard).toHaveLength(1);
    expect(errors).toHaveLength(1);
    stop();
    subject.epochEvent('orders', 'E2');
    subject.epochEvent('orders', undefined);
    expect(heard).toHaveLength(1);
    expect(subject.detected).toBe(2);
  });
});
