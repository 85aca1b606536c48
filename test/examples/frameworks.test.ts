import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

// The three framework examples tell the same story, each in its own framework, and print the same lines.
describe.each(['express', 'fastify', 'nest'])('examples/%s', { timeout: 60_000 }, (framework) => {
  it('runs as its README says: orders calls inventory through the resolver, then both shut down gracefully', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', `examples/${framework}/main.ts`, '--once'], { cwd: root, timeout: 30_000 });

    expect(stderr).toBe('');
    const inventory = /inventory listening on http:\/\/127\.0\.0\.1:(\d+), registered as inventory-\S+-\1-[0-9a-f]{8}/.exec(stdout);
    expect(inventory).not.toBeNull();
    expect(stdout).toMatch(/orders listening on http:\/\/127\.0\.0\.1:(\d+), registered as orders-\S+-\1-[0-9a-f]{8}/);
    expect(stdout).toContain(`GET /orders/42 → 200 {"order":"42","sku":"apple","available":7,"inventoryAt":"127.0.0.1:${inventory?.[1]}"}`);
    expect(stdout).toContain('inventory instances left: 0');
    expect(stdout).toMatch(/GET \/orders\/42 → 503 .*No instance of inventory is available/);
    expect(stdout.trim().endsWith('Done.')).toBe(true);
  });
});
