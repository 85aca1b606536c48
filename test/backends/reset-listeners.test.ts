import { describe, expect, it } from 'vitest';
import { ResetListeners } from '../../src/backends/reset-listeners.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

describe('ResetListeners', () => {
  it('tells every listener in order, keeps one failure from the others, and counts reports', () => {
    const failures: unknown[] = [];
    const listeners = new ResetListeners((error) => failures.push(error));
    const heard: string[] = [];
    listeners.subscribe((reset) => heard.push(`first ${reset.reason}`));
    listeners.subscribe(() => {
      throw new Error('listener bug');
    });
    const stop = listeners.subscribe((reset) => heard.push(`last ${reset.reason}`));

    listeners.report({ reason: 'flushed' });
    stop();
    listeners.report({ service: 'orders', reason: 'epoch changed' });

    expect(heard).toEqual(['first flushed', 'last flushed', 'first epoch changed']);
    expect(failures.map((error) => (error as Error).message)).toEqual(['listener bug', 'listener bug']);
    expect(listeners.reported).toBe(2);
  });

  it('rejects a listener that is not a function, naming what it expected', () => {
    const listeners = new ResetListeners(() => {});
    expect(() => listeners.subscribe('not a function' as never)).toThrow(InvalidArgumentError);
    expect(() => listeners.subscribe(null as never)).toThrow(/a function receiving a RegistryReset/);
  });
});
