// Agents in VS Code, end to end: drives a real VS Code (code-server) with the CodeForge extension
// installed, in headless Chromium, against a real `codeforge lsp` and a platform whose model is
// a ReplayServer scripted to fix calc.py (twice). tests/extensions/test_vscode_agents.py starts
// everything, then runs this.
//
// Environment: CODE_SERVER_URL, PROJECT_DIR (calc.py with a bug, tests/test_calc.py failing,
// .vscode/tasks.json whose "pytest" task's problem matcher reports the failure), ARTIFACTS_DIR
// (screenshots), BROWSER_PROFILE (an empty folder), PYTHON (runs the project's tests),
// CHROMIUM (optional). Exit status 0 when every step saw what it should; each step prints one
// line "ok NAME (ms) SCREENSHOT — detail".
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { environment, openBrowser, screenshots } from './harness.mjs';

const env = environment('tests/extensions/test_vscode_agents.py');
const URL_BASE = env('CODE_SERVER_URL');
const PROJECT = env('PROJECT_DIR');
const ARTIFACTS = env('ARTIFACTS_DIR');
const PROFILE = env('BROWSER_PROFILE');
const PYTHON = env('PYTHON');
const STEP_TIMEOUT = 90_000;
const CALC = join(PROJECT, 'calc.py');
const BUGGY = readFileSync(CALC, 'utf-8');

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
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

/** Quick Open (Ctrl+P) a file of the workspace by its exact name (not test_calc.py for calc.py). */
async function openFile(name) {
  const exact = new RegExp(`^${name.replace(/\./g, '\\.')}$`);
  await dismissPopups();
  await page.keyboard.press('Control+P');
  await quickInputBox.fill(name);
  const row = quickInput.locator('.quick-input-list .monaco-list-row').filter({ has: page.locator('.label-name', { hasText: exact }) }).first();
  await row.waitFor();
  await focusRow(row);
  await page.keyboard.press('Enter');
  await page.locator('.tab.active').filter({ has: page.locator('.label-name', { hasText: exact }) }).waitFor();
}

/** A notification: its toast, or its row in the notification centre when that is open (new
 * notifications then go there instead of toasts). */
function toast(text) {
  return page.locator('.notification-toast, .notifications-center .notification-list-item', { hasText: text }).first();
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

function testsPass() {
  const done = spawnSync(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider'], { cwd: PROJECT, encoding: 'utf-8' });
  return { ok: done.status === 0, tail: (done.stdout + done.stderr).trim().split('\n').pop() };
}

const calcText = () => readFileSync(CALC, 'utf-8');
const problems = page.locator('.markers-panel .monaco-list-row', { hasText: 'assert -1 == 5' }).first();
const assertLine = page.locator('.monaco-editor .view-line', { hasText: 'assert add(2, 3) == 5' }).first();
const preview = page.locator('.bulk-edit-panel');

/** The errors the status bar counts (the Problems panel's). */
async function problemCount() {
  const label = await page.locator('#status\\.problems').getAttribute('aria-label').catch(() => null);
  const text = label ?? (await page.locator('#status\\.problems').innerText().catch(() => ''));
  if (/no problems/i.test(text ?? '')) return 0;
  const match = /(\d+)/.exec(text ?? '');
  return match ? Number(match[1]) : -1;
}

/** The pytest task from the project's tasks.json: its problem matcher reports the failure. */
async function runTestTask() {
  await palette('Tasks: Run Task');
  // The task picker has a placeholder, no title.
  await quickInput.locator('input[placeholder="Select the task to run"]').waitFor();
  await quickInputBox.fill('pytest');
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: 'pytest' }).first();
  await row.waitFor();
  await focusRow(row);
  await page.keyboard.press('Enter');
}

/** Ctrl+. on the failing assert line, then "Fix with agent" from the light bulb's menu. */
async function fixWithAgent() {
  const action = page.locator('.action-widget .monaco-list-row', { hasText: 'Fix with agent: assert -1 == 5' }).first();
  // The first request can be cancelled while the server is still busy with the file it just
  // opened: ask again until the menu shows, as a person would.
  for (let asked = 0; asked < 5 && !(await action.isVisible()); asked++) {
    await dismissPopups();
    await assertLine.click();
    await page.keyboard.press('End');
    await page.keyboard.press('Control+Period');
    await action.waitFor({ timeout: 10_000 }).catch(() => undefined);
  }
  await action.waitFor({ timeout: 5_000 });
  const offered = (await page.locator('.action-widget').innerText()).replace(/\s+/g, ' ');
  await focusRow(action);
  await page.keyboard.press('Enter');
  return offered;
}

/** Run progress while the agent works (VS Code shows $/progress as a notification or in the status bar). */
async function watchProgress() {
  const progress = page.locator('.notification-toast, .statusbar-item', { hasText: 'Run an agent' }).first();
  return progress
    .waitFor({ timeout: 15_000 })
    .then(async () => (await progress.innerText()).replace(/\s+/g, ' ').trim())
    .catch(() => 'progress not caught on screen (the run was quicker)');
}

/** The Refactor Preview with the run's change, the Apply/Discard buttons. */
async function waitForPreview() {
  await preview.locator('.monaco-tl-contents', { hasText: 'calc.py' }).first().waitFor();
  // The file's row can show before its change's row.
  await preview.locator('.monaco-tl-contents', { hasText: 'return a + b' }).first().waitFor();
  return (await preview.innerText()).replace(/\s+/g, ' ').trim();
}

/** Press `button` on the notification saying `text`: on its toast, else in the notification
 * centre (a toast hides after a while; the notification stays there). Returns its text. */
async function notificationButton(text, button) {
  const where = toast(text);
  if (!(await where.waitFor({ timeout: 10_000 }).then(() => true, () => false))) {
    await palette('Notifications: Show Notifications');
    await where.waitFor();
  }
  const press = where.locator('.monaco-button', { hasText: button }).first();
  // A collapsed notification in the centre hides its buttons: expand it first.
  if (!(await press.isVisible())) {
    await where.locator('.codicon-notifications-expand').first().click();
  }
  const said = (await where.innerText()).replace(/\s+/g, ' ');
  await press.click();
  return said;
}

let runId = '';

try {
  await step('failing-test-diagnostic', async () => {
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(PROJECT)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    const status = page.locator('.statusbar-item', { hasText: 'CodeForge:' }).first();
    await status.filter({ hasText: '· demo' }).waitFor({ timeout: 120_000 });
    if (testsPass().ok) throw new Error('the fixture test passes before any fix');
    await runTestTask();
    await palette('View: Focus Problems');
    await problems.waitFor();
    // Open the failing test from the Problems panel, as a person would.
    await problems.dblclick();
    await assertLine.waitFor();
    return (await problems.innerText()).replace(/\s+/g, ' ');
  });

  await step('fix-with-agent-preview', async (shoot) => {
    const offered = await fixWithAgent();
    const progress = await watchProgress();
    const shown = await waitForPreview();
    await shoot();
    if (!(shown.includes('calc.py') && shown.includes('return a - b') && shown.includes('return a + b'))) {
      throw new Error(`the preview does not show the change: ${shown}`);
    }
    if (calcText() !== BUGGY) throw new Error('calc.py changed before the change was applied');
    return `menu: ${offered}; progress: ${progress}; preview: ${shown}`;
  });

  await step('apply-save-test-passes', async () => {
    // VS Code lists changes that need confirmation unticked: the person ticks calc.py (all its
    // changes), then applies. Apply with nothing ticked applies nothing (a refusal).
    const file = preview.locator('.monaco-tl-contents', { hasText: 'calc.py' }).first();
    await file.locator('input.edit-checkbox').first().check();
    await until('the file and its change ticked', async () => (await preview.locator('input.edit-checkbox:checked').count()) >= 2);
    await preview.locator('.buttons .monaco-button', { hasText: 'Apply' }).first().click();
    // The language server says what changed and how to undo; the extension offers the next steps.
    const applied = toast('codeforge.agents.undo');
    await applied.waitFor();
    const message = (await applied.innerText()).replace(/\s+/g, ' ');
    runId = /\b([0-9a-f]{32})\b/.exec(message)?.[1] ?? '';
    if (!runId) throw new Error(`no run id in ${message}`);
    await openFile('calc.py');
    await page.locator('.monaco-editor .view-line', { hasText: 'return a + b' }).first().waitFor();
    if (calcText() !== BUGGY) throw new Error('calc.py was written before it was saved');
    const offered = await notificationButton(`run ${runId.slice(0, 8)}`, 'Save');
    await until('calc.py fixed on disk', () => calcText().includes('return a + b'));
    const tests = testsPass();
    if (!tests.ok) throw new Error(`the test still fails after the fix: ${tests.tail}`);
    await toast('changed calc.py, saved').waitFor();
    // The test task again: its problem matcher finds no failure, so the problem goes away.
    await runTestTask();
    const errors = await until('the failing test problem gone', async () => {
      const count = await problemCount();
      return count === 0 ? 'no problems' : undefined;
    });
    return `${message} | ${offered}; pytest: ${tests.tail}; task: ${errors}`;
  });

  await step('transcript-pane-cost', async () => {
    await notificationButton('changed calc.py, saved', 'Show Transcript');
    // The pane's tab is named after the run.
    await page.locator('.tab.active', { hasText: `CodeForge: Agent run ${runId}` }).waitFor();
    // The page is in an iframe inside the webview's own frames.
    return until('the agent-run pane with its cost', async () => {
      for (const frame of page.frames()) {
        if (!frame.url().includes('/panes/agent-run')) continue;
        const text = await frame.locator('body').innerText().catch(() => '');
        const cost = /cost\s+\$(\d+\.\d+)/.exec(text);
        if (cost && text.includes('bug_fixer') && text.includes('Transcript')) {
          if (!(Number(cost[1]) > 0)) throw new Error(`the pane shows no cost: ${cost[0]}`);
          return `pane ${frame.url().replace(/t=[^&]+/, 't=…')}: cost $${cost[1]}`;
        }
      }
      return undefined;
    });
  });

  await step('undo-restores', async () => {
    await notificationButton('changed calc.py, saved', 'Undo');
    // agents.undo is destructive: the extension asks first.
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor();
    const asked = (await dialog.innerText()).replace(/\s+/g, ' ');
    await dialog.locator('.monaco-button', { hasText: 'Run' }).first().click();
    // The editor reverses the change itself (an edit it can undo and redo): unsaved until Save.
    await openFile('calc.py');
    await page.locator('.monaco-editor .view-line', { hasText: 'return a - b' }).first().waitFor();
    await notificationButton('undone in calc.py', 'Save');
    await until('calc.py restored on disk', () => calcText() === BUGGY);
    const tests = testsPass();
    if (tests.ok) throw new Error('the test passes after undo');
    // The test task again: the failure is back on the test's line.
    await runTestTask();
    await until('the failing test problem back', async () => (await problemCount()) === 1);
    return `asked: ${asked}; pytest: ${tests.tail}; task: the problem is back`;
  });

  await step('discard-leaves-file', async (shoot) => {
    await palette('Notifications: Clear All Notifications');
    await openFile('test_calc.py');
    await assertLine.waitFor();
    await fixWithAgent();
    const shown = await waitForPreview();
    await preview.locator('.buttons .monaco-button', { hasText: 'Discard' }).first().click();
    const refused = toast('was not applied');
    await refused.waitFor();
    await toast('the change to calc.py was not applied; no file changed').waitFor();
    await shoot();
    if (calcText() !== BUGGY) throw new Error('calc.py changed on disk');
    const dirty = await page.locator('.tab.dirty').count();
    if (dirty > 0) throw new Error(`${dirty} editor(s) were left with unsaved changes`);
    return `preview: ${shown}; ${(await refused.innerText()).replace(/\s+/g, ' ')}`;
  });
} catch {
  writeFileSync(join(ARTIFACTS, 'browser-console.log'), consoleLines.join('\n'));
  await context.close();
  process.exit(1);
}
writeFileSync(join(ARTIFACTS, 'browser-console.log'), consoleLines.join('\n'));
await context.close();
