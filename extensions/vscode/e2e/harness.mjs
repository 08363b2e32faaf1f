// What every VS Code journey here (journey.mjs, agents.mjs, ...) starts with: its environment,
// headless Chromium on code-server, and numbered screenshots. The Python tests in
// tests/extensions/ start code-server (tests/extensions/vscode_harness.py), then run a journey.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

/** `env(NAME)`: the variable's value; a journey run without it names the test that runs it. */
export function environment(test) {
  return (name) => {
    const value = process.env[name];
    if (!value) {
      throw new Error(`${name} is not set: run this through ${test}`);
    }
    return value;
  };
}

export const BROWSER_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Headless Chromium (CHROMIUM, else Debian's) with its own profile folder, and its page;
 * every wait times out after `timeout` ms unless told otherwise. */
export async function openBrowser(profile, { timeout, args = [], permissions } = {}) {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [...BROWSER_ARGS, ...args],
  });
  context.setDefaultTimeout(timeout);
  if (permissions) await context.grantPermissions(permissions.names, { origin: permissions.origin });
  const page = context.pages()[0] ?? (await context.newPage());
  return { context, page };
}

/** Let finite CSS animations and transitions (notifications sliding in) finish first. */
export async function settle(page) {
  await page
    .evaluate(() =>
      Promise.all(
        document
          .getAnimations()
          .filter((a) => a.effect?.getComputedTiming().iterations !== Infinity)
          .map((a) => a.finished.catch(() => undefined)),
      ),
    )
    .catch(() => undefined);
}

/** `shot(name, on = page)`: a numbered screenshot (01-name.png, ...) in `folder`, after the
 * page settled (unless `settled` is false); its path. */
export function screenshots(folder, page, { settled = true } = {}) {
  mkdirSync(folder, { recursive: true });
  let number = 0;
  return async (name, on = page) => {
    if (settled) await settle(on);
    number += 1;
    const path = join(folder, `${String(number).padStart(2, '0')}-${name}.png`);
    await on.screenshot({ path });
    return path;
  };
}
