// Workspaces in VS Code, end to end: drives a real VS Code (code-server) with the CodeForge
// extension installed, in headless Chromium, against the real `codeforge lsp` and a platform with
// the local runtime. tests/extensions/test_vscode_workspaces.py starts everything, then runs this.
//
// The journey, create → clone → switch, from the Workspaces view only: its "+" asks the name,
// template and runtime and the new workspace shows "running · local"; the row's "Clone
// Workspace…" asks the clone's name (the source is the row); the clone's inline "Switch to
// Workspace…" asks workspaces.connect for its bridge and points the remote connection at it: the
// status bar shows the bridge, the language server comes back through it, the view marks the
// clone current, and the file open before stays open.
//
// Environment: CODE_SERVER_URL, PROJECT_DIR (the folder), PROJECT (its slug), ARTIFACTS_DIR
// (screenshots), BROWSER_PROFILE (an empty folder), CHROMIUM (optional). Exit status 0 when every
// step saw what it should; each step prints one line "ok NAME (ms) SCREENSHOT — detail".
import { join } from 'node:path';
import { environment, openBrowser, screenshots } from './harness.mjs';

const env = environment('tests/extensions/test_vscode_workspaces.py');
const URL_BASE = env('CODE_SERVER_URL');
const FOLDER = env('PROJECT_DIR');
const PROJECT = env('PROJECT');
const ARTIFACTS = env('ARTIFACTS_DIR');
const PROFILE = env('BROWSER_PROFILE');
const STEP_TIMEOUT = 90_000;

const { context, page } = await openBrowser(PROFILE, { timeout: STEP_TIMEOUT });

const shot = screenshots(ARTIFACTS, page);

async function step(name, body) {
  const started = Date.now();
  try {
    const detail = await body();
    const path = await shot(name);
    console.log(`ok ${name} (${Date.now() - started} ms) ${path}${detail ? ` — ${detail}` : ''}`);
  } catch (error) {
    await shot(`${name}-FAILED`).catch(() => undefined);
    const toasts = await page.locator('.notification-toast').allInnerTexts().catch(() => []);
    console.log(`# notifications at failure: ${toasts.join(' | ').replace(/\s+/g, ' ')}`);
    console.log(`# workspaces view at failure: ${(await rows.allInnerTexts().catch(() => [])).join(' | ').replace(/\s+/g, ' ')}`);
    console.log(`not ok ${name}: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

const oneLine = (text) => text.replace(/\s+/g, ' ').trim();
const quickInput = page.locator('.quick-input-widget');
const quickInputBox = quickInput.locator('input.input');
const pane = page.locator('.pane', { has: page.locator('.pane-header', { hasText: 'Workspaces' }) }).first();
const rows = pane.locator('.monaco-list-row');
const row = (name) => rows.filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${name}$`) }) }).first();

/** Move the keyboard focus of an open list down to `item` (lists take keys, not clicks). */
async function focusRow(item) {
  for (let i = 0; i < 20 && !(await item.evaluate((el) => el.classList.contains('focused'))); i++) {
    await page.keyboard.press('ArrowDown');
  }
}

/** Wait until the quick input's title contains `title`, then type `text` and press Enter. */
async function answer(title, text) {
  await quickInput.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'visible' });
  await quickInputBox.fill(text);
  await page.keyboard.press('Enter');
}

/** Pick a quick-pick row by its label. */
async function choose(title, label) {
  await quickInput.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'visible' });
  await quickInputBox.fill(label);
  const item = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  await item.waitFor({ state: 'visible' });
  await focusRow(item);
  await page.keyboard.press('Enter');
}

async function clearNotifications() {
  for (const close of await page.locator('.notification-toast .codicon-notifications-clear').all()) {
    await close.click().catch(() => undefined);
  }
}

try {
  await step('workspaces-view', async () => {
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(FOLDER)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    await page.locator('.statusbar-item', { hasText: 'CodeForge:' }).filter({ hasText: `· ${PROJECT}` }).first().waitFor({ timeout: 120_000 });
    // A file open before the switch, to find open after it.
    for (let attempt = 1; ; attempt++) {
      await page.keyboard.press('F1');
      if (await quickInputBox.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false)) break;
      if (attempt === 4) throw new Error('the quick open did not open');
      await page.keyboard.press('Escape');
    }
    await quickInputBox.fill('notes.txt');
    const file = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: 'notes.txt' }).first();
    await file.waitFor();
    await focusRow(file);
    await page.keyboard.press('Enter');
    await page.locator('.tab', { hasText: 'notes.txt' }).waitFor();
    // The CodeForge icon in the activity bar opens its view container, Workspaces in it.
    const icon = page.locator('.activitybar .action-item a[aria-label^="CodeForge"]').first();
    for (let attempt = 0; attempt < 10 && !(await pane.isVisible()); attempt++) {
      await icon.click();
      await page.waitForTimeout(500);
    }
    await rows.filter({ hasText: 'No workspace yet' }).first().waitFor();
    return oneLine(await pane.innerText());
  });

  await step('create', async () => {
    await pane.locator('.pane-header').hover();
    await pane.locator('.pane-header .action-label[aria-label^="Create Workspace"]').click();
    await answer('Create a workspace (1/3)', 'ws-main');
    await answer('Create a workspace (2/3)', 'empty');
    await choose('Create a workspace (3/3)', 'local');
    const created = row('ws-main');
    await created.filter({ hasText: 'running · local' }).waitFor();
    return oneLine(await created.innerText());
  });

  await step('clone', async () => {
    await clearNotifications();
    await row('ws-main').click({ button: 'right' });
    const item = page.locator('.monaco-menu .action-item', { hasText: 'Clone Workspace' }).first();
    await item.waitFor();
    // Menus take keys, not clicks.
    await focusRow(item);
    await page.keyboard.press('Enter');
    await answer('Clone a workspace (1/1)', 'ws-copy');
    const clone = row('ws-copy');
    await clone.filter({ hasText: 'running · local' }).waitFor();
    return oneLine(await rows.allInnerTexts().then((t) => t.join(' | ')));
  });

  await step('switch', async () => {
    await clearNotifications();
    const clone = row('ws-copy');
    await clone.hover();
    await clone.locator('.action-label[aria-label^="Switch to Workspace"]').click();
    const toast = page.locator('.notification-toast', { hasText: 'switched to workspace ws-copy' }).first();
    await toast.waitFor();
    const bridge = /\((ws:\/\/127\.0\.0\.1:(\d+))\)/.exec(await toast.innerText());
    if (!bridge) throw new Error(`no bridge URL in: ${oneLine(await toast.innerText())}`);
    // The remote status item names the bridge and says connected once the server is back through it.
    await page.locator('.statusbar-item', { hasText: `127.0.0.1:${bridge[2]}` }).filter({ has: page.locator('.codicon-remote') }).first().waitFor();
    // The view, refreshed after the new server connected, marks the clone current.
    await row('ws-copy').filter({ hasText: 'current' }).waitFor();
    // The file open before is still open.
    await page.locator('.tab', { hasText: 'notes.txt' }).waitFor();
    return `${bridge[1]}; ${oneLine(await row('ws-copy').innerText())}`;
  });
} finally {
  await context.close();
}
