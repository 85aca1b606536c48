/**
 * Debian's chromium, headless, driven through playwright-core (which brings no browser of its
 * own). `npm test` installs chromium when it is missing (scripts/ensure-chromium.mjs); a missing
 * browser is an error, never a skip. This machine's network is closed, hence the flags that stop
 * chromium from reaching out.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless chromium with a fresh profile; `close()` ends it and deletes the profile. */
export async function launchChromium(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`chromium not found at ${CHROMIUM_PATH}. Run \`npm test\` (it installs Debian's chromium) or \`apt-get install chromium\`, or set CHROMIUM_PATH.`);
  }
  const profile = mkdtempSync(join(tmpdir(), 'rollcall-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 860 },
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
