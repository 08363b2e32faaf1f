// Production errors in VS Code, end to end: drives a real VS Code (code-server) with the CodeForge
// extension installed, in headless Chromium, against the real `codeforge lsp` and the shared
// monitoring platform. tests/extensions/test_vscode_monitoring.py starts everything, then runs
// this.
//
// The journey: the workspace opens with no production problem; then (on this script's cue) the
// test ingests a real Python traceback as a log line, and one whose frames are not the project's.
// The first becomes an Error in the Problems panel at shop/orders.py's raising line (source
// "codeforge production"), the second nothing; its quick fixes are offered at that line; "Show
// error" opens the error's pane; "Resolve error" clears the problem.
//
// Environment: CODE_SERVER_URL, PROJECT_DIR (the workspace), PROJECT (its slug), RAISING_LINE
// (1-based), ARTIFACTS_DIR (screenshots), BROWSER_PROFILE (an empty folder), CHROMIUM
// (optional). The cue: this prints "# ingest" and waits for a line on stdin. Exit status 0 when
// every step saw what it should; each step prints one line "ok NAME (ms) SCREENSHOT — detail".
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { environment, openBrowser, screenshots } from './harness.mjs';

const env = environment('tests/extensions/test_vscode_monitoring.py');
const URL_BASE = env('CODE_SERVER_URL');
const FOLDER = env('PROJECT_DIR');
const PROJECT = env('PROJECT');
const LINE = Number(env('RAISING_LINE'));
const ARTIFACTS = env('ARTIFACTS_DIR');
const PROFILE = env('BROWSER_PROFILE');
const STEP_TIMEOUT = 90_000;
const SOURCE = 'codeforge production';
const ACTIONS = ['Fix with the Bug Fixer agent', 'Resolve error', 'Show error'];
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

const { context, page } = await openBrowser(PROFILE, { timeout: STEP_TIMEOUT });
const consoleLines = [];
page.on('console', (message) => consoleLines.push(`[${message.type()}] ${message.text()}`));

const shot = screenshots(ARTIFACTS, page);

/** A step takes its screenshot itself (`shoot`) at the moment that shows it best, else at its end. */
async function step(name, body) {
  const started = Date.now();
  let path;
  const shoot = async () => {
    path = await shot(name);
  };
  try {
    const detail = await body(shoot);
    if (!path) await shoot();
    console.log(`ok ${name} (${Date.now() - started} ms) ${path}${detail ? ` — ${detail}` : ''}`);
  } catch (error) {
    await shot(`${name}-FAILED`).catch(() => undefined);
    const toasts = await page.locator('.notification-toast, .notifications-center .notification-list-item').allInnerTexts().catch(() => []);
    console.log(`# notifications at failure: ${toasts.join(' | ').replace(/\s+/g, ' ')}`);
    console.log(`not ok ${name}: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

const quickInput = page.locator('.quick-input-widget');
const quickInputBox = quickInput.locator('input.input');
const oneLine = (text) => text.replace(/\s+/g, ' ').trim();

/** Close whatever floats over the editor (a menu and its pointer block). */
async function dismissPopups() {
  await page.keyboard.press('Escape');
  const block = page.locator('.context-view-pointerBlock');
  if (await block.isVisible()) {
    await block.click({ force: true }).catch(() => undefined);
  }
}

/** Move the keyboard focus of an open list down to `row` (lists take keys, not clicks). */
async function focusRow(row) {
  for (let i = 0; i < 20 && !(await row.evaluate((el) => el.classList.contains('focused'))); i++) {
    await page.keyboard.press('ArrowDown');
  }
}

/** Run a command from the command palette (F1), by its title as the palette shows it. */
async function palette(title) {
  await dismissPopups();
  // A workbench starved of CPU can drop the key: press it again.
  for (let attempt = 1; ; attempt++) {
    await page.locator('.part.sidebar').click({ position: { x: 150, y: 450 }, timeout: 5_000 }).catch(() => undefined);
    await page.keyboard.press('F1');
    if (await quickInputBox.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false)) break;
    if (attempt === 4) throw new Error(`the command palette did not open for ${title}`);
    await dismissPopups();
  }
  await quickInputBox.fill(`>${title}`);
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

async function until(what, probe, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await page.waitForTimeout(250);
  }
}

/** The Problems panel's rows that are production errors (a file's row is not: it has no source). */
const productionRows = page.locator('.markers-panel .monaco-list-row', { hasText: SOURCE });
const raisingLine = page.locator('.monaco-editor .view-line', { hasText: 'amount += prices[item]' }).first();

/** The errors the status bar counts (the Problems panel's). */
async function problemCount() {
  const label = await page.locator('#status\\.problems').getAttribute('aria-label').catch(() => null);
  const text = label ?? (await page.locator('#status\\.problems').innerText().catch(() => ''));
  if (/no problems/i.test(text ?? '')) return 0;
  const match = /(\d+)/.exec(text ?? '');
  return match ? Number(match[1]) : -1;
}

/** Ctrl+. on the raising line: the light bulb's menu with the error's quick fixes; returns its text. */
async function quickFixes() {
  const menu = page.locator('.action-widget');
  const resolve = menu.locator('.monaco-list-row', { hasText: 'Resolve error' }).first();
  // The first request can be cancelled while the server is still busy with the file it just
  // opened: ask again until the menu shows, as a person would.
  for (let asked = 0; asked < 5 && !(await resolve.isVisible()); asked++) {
    await dismissPopups();
    await raisingLine.click();
    await page.keyboard.press('End');
    await page.keyboard.press('Control+Period');
    await resolve.waitFor({ timeout: 10_000 }).catch(() => undefined);
  }
  await resolve.waitFor({ timeout: 5_000 });
  return oneLine(await menu.innerText());
}

/** Pick `title` from the open quick-fix menu. */
async function chooseFix(title) {
  const row = page.locator('.action-widget .monaco-list-row', { hasText: title }).first();
  await focusRow(row);
  await page.keyboard.press('Enter');
}

try {
  await step('workspace-no-production-errors', async () => {
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(FOLDER)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    // Connected to the platform, in the workspace's project.
    const status = page.locator('.statusbar-item', { hasText: 'CodeForge:' }).first();
    await status.filter({ hasText: `· ${PROJECT}` }).waitFor({ timeout: 120_000 });
    await palette('View: Focus Problems');
    await page.locator('.markers-panel').waitFor();
    const rows = await productionRows.count();
    if (rows !== 0) throw new Error(`${rows} production problem(s) before any error was ingested`);
    return oneLine(await status.innerText());
  });

  await step('production-error-diagnostic', async (shoot) => {
    // The test ingests the two tracebacks now (into the running session: the editor feed says
    // errors changed, the language server publishes).
    console.log('# ingest');
    const cue = await stdin.next();
    if (cue.done) throw new Error('the test closed stdin instead of ingesting');
    const row = productionRows.first();
    await row.waitFor();
    // The file's row above it: the workspace copy of the raising file (never opened).
    await page.locator('.markers-panel .monaco-list-row', { hasText: 'orders.py' }).first().waitFor();
    const text = oneLine(await row.innerText());
    const aria = (await row.getAttribute('aria-label')) ?? '';
    if (!text.includes("KeyError: 'kiwi'")) throw new Error(`the problem is not the error: ${text}`);
    if (!text.includes(`[Ln ${LINE}, Col `)) throw new Error(`the problem is not at line ${LINE}: ${text}`);
    // An Error: the row's icon, and the status bar's count.
    if ((await row.locator('.codicon-error').count()) === 0) throw new Error(`not shown as an Error: ${text}`);
    await shoot();
    // The traceback whose frames are no project file's gave no problem.
    const rows = await productionRows.count();
    if (rows !== 1) throw new Error(`${rows} production problems, not 1: ${oneLine(await page.locator('.markers-panel').innerText())}`);
    const file = oneLine(await page.locator('.markers-panel .monaco-list-row', { hasText: 'orders.py' }).first().innerText());
    // The editor feed's notification of the new error, with its "Open".
    const told = page.locator('.notification-toast', { hasText: "New error: KeyError" }).first();
    await told.locator('.monaco-button', { hasText: 'Open' }).waitFor();
    return `${file} | ${text} | ${aria} | notified: ${oneLine(await told.innerText())}`;
  });

  await step('quick-fixes-offered', async (shoot) => {
    // Open the file at the problem from the Problems panel, as a person would.
    await productionRows.first().dblclick();
    await page.locator('.tab.active', { hasText: 'orders.py' }).waitFor();
    await raisingLine.waitFor();
    const offered = await quickFixes();
    await shoot();
    const missing = ACTIONS.filter((title) => !offered.includes(title));
    if (missing.length) throw new Error(`quick fixes missing: ${missing.join(', ')} (menu: ${offered})`);
    return `menu: ${offered}`;
  });

  await step('show-error-pane', async () => {
    await chooseFix('Show error');
    // The pane's page is in an iframe inside the webview's own frames.
    const found = await until('the error pane', async () => {
      for (const frame of page.frames()) {
        if (!frame.url().includes('/panes/error')) continue;
        const text = await frame.locator('body').innerText().catch(() => '');
        if (text.includes('KeyError')) return `pane ${frame.url().replace(/t=[^&]+/, 't=…')}: ${oneLine(text).slice(0, 160)}`;
      }
      return undefined;
    });
    return found;
  });

  await step('resolve-clears', async () => {
    await page.locator('.tab', { hasText: 'orders.py' }).first().click();
    await raisingLine.waitFor();
    await quickFixes();
    await chooseFix('Resolve error');
    await until('the production problem gone', async () => (await productionRows.count()) === 0 && (await problemCount()) === 0);
    return `problems: ${await problemCount()}`;
  });
} catch {
  writeFileSync(join(ARTIFACTS, 'browser-console.log'), consoleLines.join('\n'));
  await context.close();
  process.exit(1);
}
writeFileSync(join(ARTIFACTS, 'browser-console.log'), consoleLines.join('\n'));
await context.close();
process.exit(0);
