import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

// A program run end to end: the test waits as long as the child may run (60 s), not vitest's default.
describe('npm run demo', { timeout: 90_000 }, () => {
  it('exits 0 and shows every step: spread, drain, stale, env fallback, recovery', async () => {
    const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'demo'], { cwd: root, timeout: 60_000 });
    // The text of the section whose title contains `title`, up to the next section.
    const answers = (title: string): string => stdout.split(title)[1]?.split('\n── ')[0] ?? '';
    expect(stdout).toMatch(/orders-1 listening on 127\.0\.0\.1:\d+, state: registered/);
    expect(answers('spreads the calls')).toMatch(/answers: .*orders-1 via cache/);
    expect(answers('spreads the calls')).toMatch(/orders-2 via cache/);
    expect(answers('spreads the calls')).toMatch(/orders-3 via cache/);
    expect(answers('it disappears from answers')).toContain('orders-3=draining');
    expect(answers('it disappears from answers').split('answers:')[1]?.split('\n')[0]).not.toContain('orders-3');
    expect(answers('stale cache')).toMatch(/event degraded: orders now served from stale/);
    expect(answers('stale cache')).toMatch(/answers: (orders-\d via stale, ){3}orders-\d via stale/);
    expect(answers('environment fallback')).toMatch(/answers: orders-1 via env, orders-1 via env, orders-1 via env/);
    expect(answers('client recovers')).toMatch(/event recovered: orders answered by the registry again/);
    expect(answers('client recovers')).toMatch(/registrations: orders-1=registered, orders-2=registered/);
    expect(answers('client recovers')).toMatch(/resolver health: healthy/);
    expect(stdout).toMatch(/registry lists 0 instances\. Done\./);
  });
});
