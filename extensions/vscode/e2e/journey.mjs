// The VS Code end-to-end journey: drives a real VS Code (code-server) with the CodeForge
// extension installed, in headless Chromium, against a real `codeforge lsp` and platform.
// tests/extensions/test_vscode_e2e.py starts code-server and the platform, then runs this.
//
// Environment: CODE_SERVER_URL, CODE_SERVER_PID, PROJECT_DIR (a folder with codeforge.yaml,
// .env, big.env), ARTIFACTS_DIR (screenshots go here), BROWSER_PROFILE (an empty folder),
// LOG_FILES_DIR (code-server's logs, the extension's output channel file among them),
// PLATFORM_PID (the platform, stopped by the last step), DATABASE_NAME and DATABASE_PASSWORD (a
// pooled database of the project, and the password its revealed URLs carry), CHROMIUM (optional).
// Exit status 0 when every step saw what it should; each step prints one line.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { environment, openBrowser, screenshots } from './harness.mjs';

const env = environment('tests/extensions/test_vscode_e2e.py');
const URL_BASE = env('CODE_SERVER_URL');
const PROJECT = env('PROJECT_DIR');
const ARTIFACTS = env('ARTIFACTS_DIR');
const PROFILE = env('BROWSER_PROFILE');
const CODE_SERVER_PID = Number(env('CODE_SERVER_PID'));
const LOG_FILES_DIR = env('LOG_FILES_DIR');
const PLATFORM_PID = Number(env('PLATFORM_PID'));
// The secret the journey sets, reveals, and then looks for everywhere it must not be.
const SECRET = 'pk_test_123';
const DATABASE = env('DATABASE_NAME');
const DATABASE_PASSWORD = env('DATABASE_PASSWORD');
const STEP_TIMEOUT = 60_000;

const { context, page } = await openBrowser(PROFILE, { timeout: STEP_TIMEOUT });
const consoleLines = [];
page.on('console', (message) => consoleLines.push(`[${message.type()}] ${message.text()}`));

const shot = screenshots(ARTIFACTS, page);

async function step(name, body) {
  const started = Date.now();
  try {
    const detail = await body();
    const path = await shot(name);
    console.log(`ok ${name} (${Date.now() - started} ms) ${path}${detail ? ` — ${detail}` : ''}`);
  } catch (error) {
    await shot(`${name}-FAILED`).catch(() => undefined);
    const sidebar = await page.locator('.sidebar').innerText({ timeout: 2000 }).catch(() => '');
    console.log(`# sidebar at failure: ${sidebar.slice(0, 400).replace(/\s+/g, ' ')}`);
    const toasts = await page.locator('.notification-toast').allInnerTexts().catch(() => []);
    console.log(`# notifications at failure: ${toasts.join(' | ').replace(/\s+/g, ' ')}`);
    console.log(`not ok ${name}: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

const quickInput = page.locator('.quick-input-widget');
const quickInputBox = quickInput.locator('input.input');

/** Run a command from the command palette (F1), by its title as the palette shows it. */
async function palette(title) {
  await dismissPopups();
  // Keys typed while a webview (a pane) has focus stay in its iframe: focus the workbench by
  // clicking an empty part of the side bar first.
  // A workbench starved of CPU (a busy CI machine) can drop the key: press it again.
  for (let attempt = 1; ; attempt++) {
    await page.locator('.part.sidebar').click({ position: { x: 150, y: 450 }, timeout: 5_000 }).catch(() => undefined);
    await page.keyboard.press('F1');
    const shown = await quickInputBox.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false);
    if (shown) break;
    if (attempt === 4) throw new Error(`the command palette did not open for ${title}`);
    await dismissPopups();
  }
  await quickInputBox.fill(`>${title}`);
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

/** Move the keyboard focus of an open list down to `row` (lists take keys, not clicks). */
async function focusRow(row) {
  for (let i = 0; i < 20 && !(await row.evaluate((el) => el.classList.contains('focused'))); i++) {
    await page.keyboard.press('ArrowDown');
  }
}

/** Close whatever floats over the editor (a menu and its pointer block, an editor message):
 * Escape closes menus; a click on the pointer block, or in the editor, closes the rest. */
async function dismissPopups() {
  await page.keyboard.press('Escape');
  const block = page.locator('.context-view-pointerBlock');
  if (await block.isVisible()) {
    await block.click({ force: true }).catch(() => undefined);
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
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: label }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

/** Answer code-server's file dialog (a quick input taking a path) with `path`. */
async function pickFile(path) {
  await quickInput.locator('.quick-input-title', { hasText: 'choose the .env' }).waitFor();
  // The dialog fills in its default path and lists the folder asynchronously; type only after
  // that, or it overwrites what was typed.
  await quickInput.locator('.quick-input-list .monaco-list-row').first().waitFor();
  for (let attempt = 0; attempt < 20; attempt++) {
    await quickInputBox.fill(path);
    await page.waitForTimeout(200);
    if ((await quickInputBox.inputValue()) === path) {
      break;
    }
  }
  await page.keyboard.press('Enter');
  await quickInput.locator('.quick-input-title', { hasText: 'choose the .env' }).waitFor({ state: 'hidden' });
}

/** Pids of `codeforge lsp` processes started under this test's code-server (none other). */
function languageServerPids() {
  const parentOf = (pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/stat`, 'utf-8').replace(/^.*\) /, '').split(' ')[1]);
    } catch {
      return 0;
    }
  };
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    let args;
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'utf-8').split('\0');
    } catch {
      continue;
    }
    if (!(args.some((a) => a.endsWith('codeforge')) && args.includes('lsp'))) {
      continue;
    }
    for (let pid = Number(name), hops = 0; pid > 1 && hops < 20; pid = parentOf(pid), hops++) {
      if (pid === CODE_SERVER_PID) {
        pids.push(Number(name));
        break;
      }
    }
  }
  return pids;
}

/** Every file under a folder, recursively. */
function filesUnder(folder) {
  const out = [];
  for (const name of readdirSync(folder)) {
    const path = join(folder, name);
    if (statSync(path).isDirectory()) {
      out.push(...filesUnder(path));
    } else {
      out.push(path);
    }
  }
  return out;
}

/** The extension's output channel as written to disk ("CodeForge" log channel). */
function outputChannelFile() {
  return filesUnder(LOG_FILES_DIR).find((p) => /[\\/]CodeForge\.log$/.test(p));
}

/** Wait until a file under the log folder contains `text` (the channel writes asynchronously). */
async function waitForLog(text) {
  const deadline = Date.now() + STEP_TIMEOUT;
  for (;;) {
    const file = outputChannelFile();
    if (file && readFileSync(file, 'utf-8').includes(text)) {
      return file;
    }
    if (Date.now() > deadline) {
      throw new Error(`the CodeForge output channel file never showed ${JSON.stringify(text)} (file: ${file ?? 'none'})`);
    }
    await page.waitForTimeout(250);
  }
}

function toast(text) {
  return page.locator('.notification-toast', { hasText: text }).first();
}

async function clearNotifications() {
  await palette('Notifications: Clear All Notifications');
}

try {
  await step('open-project', async () => {
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(PROJECT)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    // The status bar item says who is signed in once the language server reached the platform.
    const status = page.locator('.statusbar-item', { hasText: 'CodeForge:' }).first();
    await status.filter({ hasText: '· demo' }).waitFor({ timeout: 90_000 });
    return (await status.innerText()).trim();
  });

  await step('codeforge-yaml-diagnostic', async () => {
    await page.keyboard.press('Control+P');
    await quickInputBox.fill('codeforge.yaml');
    await quickInput.locator('.quick-input-list .monaco-list-row', { hasText: 'codeforge.yaml' }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines', { hasText: 'API_KEY' }).waitFor();
    await palette('View: Focus Problems');
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'is declared here but not set on the platform' }).first();
    await problem.waitFor();
    return (await problem.innerText()).replace(/\s+/g, ' ');
  });

  await step('apply-code-action', async () => {
    // Put the cursor in codeforge.yaml, then open its source actions.
    await page.locator('.monaco-editor .view-lines', { hasText: 'API_KEY' }).first().click();
    const action = page.locator('.action-widget .monaco-list-row', { hasText: 'Set environment variables from codeforge.yaml' }).first();
    const none = page.getByText('No source actions available').first();
    // The first request can be cancelled by the editor while the server is still busy with the
    // file it just opened ("No source actions available"), and a late answer can still open the
    // menu after that message: ask again until the menu shows, as a person would.
    let asked = 0;
    for (; asked < 5 && !(await action.isVisible()); asked++) {
      if (asked > 0) {
        await dismissPopups();
        await page.locator('.monaco-editor .view-lines', { hasText: 'API_KEY' }).first().click();
        await page.waitForTimeout(1_000); // let the server finish with the file before asking again
      }
      await palette('Source Action...');
      await Promise.race([action.waitFor(), none.waitFor()]);
      await action.waitFor({ timeout: 3_000 }).catch(() => {});
    }
    await action.waitFor();
    // The menu takes keys, not clicks (a pointer block covers it): move to the action, apply it.
    await focusRow(action);
    await page.keyboard.press('Enter');
    const done = toast('set 1 variable(s) (LOG_LEVEL)');
    await done.waitFor();
    return `${(await done.innerText()).replace(/\s+/g, ' ')} (asked ${asked}×)`;
  });

  await step('run-operation-wrong-entry-refused', async () => {
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'env.set');
    await answer('Set an environment variable or secret (1/3)', '1BAD-NAME');
    // Refused: the box stays open and says why.
    const message = quickInput.locator('.quick-input-message', { hasText: 'name must match' });
    await message.waitFor();
    return (await message.innerText()).trim();
  });

  await step('run-operation-result', async () => {
    await answer('Set an environment variable or secret (1/3)', 'API_KEY');
    // Whether it is secret is asked before the value, so only a secret is typed blind.
    await choose('(2/3)', 'true');
    await quickInput.locator('.quick-input-title', { hasText: '(3/3)' }).waitFor();
    if ((await quickInputBox.getAttribute('type')) !== 'password') {
      throw new Error('the secret value is not asked for in a password box');
    }
    await answer('(3/3)', SECRET);
    const result = toast('Set an environment variable or secret — name: API_KEY');
    await result.waitFor();
    const text = (await result.innerText()).replace(/\s+/g, ' ');
    if (text.includes(SECRET)) {
      throw new Error('the secret value was shown in a notification');
    }
    return text;
  });

  await step('operation-without-fields', async () => {
    // env.list asks nothing (its project comes from codeforge.yaml): it runs at once.
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'env.list');
    const result = toast('List environment variables —');
    await result.waitFor();
    const text = (await result.innerText()).replace(/\s+/g, ' ');
    if (!/\d+ item\(s\)/.test(text)) {
      throw new Error(`unexpected result: ${text}`);
    }
    return text;
  });

  await step('platform-error', async () => {
    // The platform refuses (the project exists): the message says what happened and what to do.
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'projects.create');
    await answer('Create a project (1/2)', 'demo');
    await answer('Create a project (2/2)', '');
    const error = toast('Create a project failed');
    await error.waitFor();
    const text = (await error.innerText()).replace(/\s+/g, ' ');
    if (!/exists already.*Fix: /.test(text) || /Traceback|Error:/.test(text)) {
      throw new Error(`unhelpful error message: ${text}`);
    }
    return text;
  });

  await step('job-progress', async () => {
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'env.import');
    await pickFile(join(PROJECT, 'big.env'));
    await choose('(2/3)', 'false');
    await choose('(3/3)', 'true');
    const progress = toast('Import variables from a .env file').filter({ has: page.locator('.monaco-progress-container') });
    await progress.waitFor();
    const cancel = progress.locator('a.monaco-button, .monaco-button', { hasText: 'Cancel' });
    if ((await cancel.count()) === 0) {
      throw new Error('the progress notification has no Cancel button');
    }
    return (await progress.innerText()).replace(/\s+/g, ' ');
  });

  await step('job-result', async () => {
    const result = toast('Import variables from a .env file — imported:');
    await result.waitFor({ timeout: 120_000 });
    return (await result.innerText()).replace(/\s+/g, ' ');
  });

  await step('destructive-confirmation', async () => {
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'env.unset');
    await answer('Remove an environment variable (1/1)', 'IMPORTED_1');
    // Destructive operations ask first, in a modal dialog.
    const dialog = page.locator('.monaco-dialog-box', { hasText: 'Remove an environment variable (name=IMPORTED_1)? This cannot be undone.' });
    await dialog.waitFor();
    return (await dialog.innerText()).replace(/\s+/g, ' ');
  });

  await step('destructive-result', async () => {
    await page.locator('.monaco-dialog-box .monaco-button', { hasText: 'Run' }).first().click();
    const result = toast('Remove an environment variable — name: IMPORTED_1, removed: true');
    await result.waitFor();
    return (await result.innerText()).replace(/\s+/g, ' ');
  });

  await step('job-cancel', async () => {
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'env.import');
    await pickFile(join(PROJECT, 'huge.env'));
    await choose('(2/3)', 'false');
    await choose('(3/3)', 'false');
    const progress = toast('Import variables from a .env file').filter({ has: page.locator('.monaco-progress-container') });
    await progress.waitFor();
    await progress.locator('.monaco-button', { hasText: 'Cancel' }).click();
    const cancelled = toast('Import variables from a .env file: cancelled');
    await cancelled.waitFor({ timeout: 120_000 });
    const text = (await cancelled.innerText()).replace(/\s+/g, ' ');
    // One "CodeForge:" and a job id cut to 8 characters.
    if (/CodeForge:.*CodeForge:/.test(text) || /[0-9a-f]{32}/.test(text) || !/job [0-9a-f]{8}\b/.test(text)) {
      throw new Error(`badly formed cancellation message: ${text}`);
    }
    return text;
  });

  await step('job-logs', async () => {
    await clearNotifications();
    await palette('CodeForge: Show Job Logs');
    // Show only the lines the platform's jobs logged, with the output view's own filter.
    await page.locator('.panel .view-lines', { hasText: 'env.import' }).first().waitFor();
    const filter = page.locator('.panel .viewpane-filter input').first();
    await filter.waitFor();
    for (let attempt = 0; attempt < 20 && (await filter.inputValue()) !== '[env.import]'; attempt++) {
      await filter.click();
      await filter.fill('[env.import]');
      await page.waitForTimeout(200);
    }
    const line = page.locator('.panel .view-lines', { hasText: '[env.import] writing 20000 variable(s)' }).first();
    await line.waitFor();
    return (await page.locator('.panel .view-lines').first().innerText()).split('\n').slice(0, 3).join(' | ');
  });

  await step('open-pane', async () => {
    // panes.open returns a pane link (x-codeforge-pane); the extension opens it in a webview.
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'panes.open');
    await answer('Open a pane (1/2)', 'overview');
    await answer('Open a pane (2/2)', ''); // item: only for a pane about one resource
    await page.locator('.tab', { hasText: 'CodeForge: Project overview' }).waitFor();
    // The page is in an iframe inside the webview's own frames.
    const deadline = Date.now() + STEP_TIMEOUT;
    for (;;) {
      for (const frame of page.frames()) {
        if (frame.url().includes('/panes/overview')) {
          const text = await frame.locator('body').innerText().catch(() => '');
          if (text.includes('Environment variables') && text.includes('API_KEY')) {
            return `pane shows ${frame.url().replace(/t=[^&]+/, 't=…')}: ${text.split('\n')[0]}`;
          }
        }
      }
      if (Date.now() > deadline) {
        throw new Error(`the pane never showed the platform page; frames: ${page.frames().map((f) => f.url()).join(' ')}`);
      }
      await page.waitForTimeout(250);
    }
  });

  await step('resource-tree', async () => {
    // The CodeForge icon in the activity bar opens its view container.
    await palette('Notifications: Clear All Notifications');
    const icon = page.locator('.activitybar .action-item a[aria-label^="CodeForge"]').first();
    const view = page.locator('.sidebar');
    const title = view.locator('.composite.title', { hasText: 'CodeForge' }).first();
    for (let attempt = 0; attempt < 10 && !(await title.isVisible()); attempt++) {
      await icon.click();
      await page.waitForTimeout(500);
    }
    await title.waitFor();
    // One group per list operation of the catalog; open the project's environment variables.
    const group = view.locator('.monaco-list-row', { hasText: 'List environment variables' }).first();
    await group.click();
    await view.locator('.monaco-list-row', { hasText: 'API_KEY' }).first().waitFor();
    await view.locator('.monaco-list-row', { hasText: 'IMPORTED_0' }).first().waitFor();
    return (await view.locator('.monaco-list-row').allInnerTexts()).slice(0, 8).join(' | ').replace(/\s+/g, ' ');
  });

  await step('resource-item-operation', async () => {
    // An item's inline action lists the operations that take it (catalog-derived), filled in.
    // A reveal shows the secret in a modal dialog only, with a copy button.
    const row = page.locator('.sidebar .monaco-list-row', { hasText: 'API_KEY' }).first();
    await row.hover();
    await row.locator('.action-label[aria-label*="Run an Operation on This"]').click();
    await choose('CodeForge: API_KEY', "Reveal a secret's value");
    const dialog = page.locator('.monaco-dialog-box', { hasText: "Reveal a secret's value — name: API_KEY" });
    await dialog.waitFor();
    const text = (await dialog.innerText()).replace(/\s+/g, ' ');
    if (!text.includes(SECRET) || !/Copy value/.test(text)) {
      throw new Error(`the reveal dialog does not show the secret with a copy button: ${text}`);
    }
    return text.replace(SECRET, '<the secret>');
  });

  await step('databases-reveal', async () => {
    // The issue's case: databases.reveal's pooled_url carries the database password.
    await page.keyboard.press('Escape');
    await page.locator('.monaco-dialog-box').waitFor({ state: 'hidden' });
    await clearNotifications();
    await palette('CodeForge: Run Operation');
    await choose('CodeForge: Run Operation', 'databases.reveal');
    await answer("Show a database's connection URLs (1/1)", DATABASE);
    const dialog = page.locator('.monaco-dialog-box', { hasText: `name: ${DATABASE}` });
    await dialog.waitFor();
    const text = (await dialog.innerText()).replace(/\s+/g, ' ');
    if (!text.includes(`:${DATABASE_PASSWORD}@`) || !/Copy pooled_url/.test(text)) {
      throw new Error(`the reveal dialog does not show the pooled URL with its password: ${text.replaceAll(DATABASE_PASSWORD, '<password>')}`);
    }
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    return text.replaceAll(DATABASE_PASSWORD, '<password>');
  });

  await step('reveal-leaves-no-trace', async () => {
    // The reveals are in the output channel's file once their lines are: look for the secrets after.
    await waitForLog('env.reveal: revealed in a dialog, not logged');
    const channel = await waitForLog('databases.reveal: revealed in a dialog, not logged');
    const toasts = (await page.locator('.notification-toast').allInnerTexts()).join('\n');
    await palette('Notifications: Show Notifications');
    const center = page.locator('.notifications-center');
    await center.waitFor();
    const history = await center.innerText();
    await page.keyboard.press('Escape'); // closes the notification center
    const places = [
      ['a notification', toasts],
      ['the notification history', history],
      ...filesUnder(LOG_FILES_DIR).map((file) => [file, readFileSync(file, 'utf-8')]),
    ];
    const leaked = places
      .flatMap(([where, text]) => [SECRET, DATABASE_PASSWORD].filter((secret) => text.includes(secret)).map((secret) => `${where} (${secret === SECRET ? 'env secret' : 'database password'})`));
    if (leaked.length > 0) {
      throw new Error(`a revealed secret is in: ${leaked.join(', ')}`);
    }
    return `not in notifications, their history, or ${places.length - 2} log file(s) (output channel: ${channel})`;
  });

  await step('server-restarts-after-crash', async () => {
    await clearNotifications();
    const before = languageServerPids();
    if (before.length !== 1) {
      throw new Error(`expected one codeforge lsp under code-server, found ${before.length}`);
    }
    process.kill(before[0], 'SIGKILL');
    const deadline = Date.now() + STEP_TIMEOUT;
    let after = [];
    while (!(after.length === 1 && after[0] !== before[0])) {
      if (Date.now() > deadline) {
        throw new Error('the language server was not restarted');
      }
      await page.waitForTimeout(250);
      after = languageServerPids();
    }
    // The new server answers: the connection summary comes from its codeforge/status. It may
    // still be starting when its process appears, so ask again until it says so.
    const connected = toast('Connected to');
    for (let attempt = 0; attempt < 6 && !(await connected.isVisible()); attempt++) {
      await palette('CodeForge: Show Connection');
      await connected.waitFor({ timeout: 10_000 }).catch(() => undefined);
    }
    await connected.waitFor();
    return `server ${before[0]} killed, restarted as ${after[0]}: ${(await connected.innerText()).split('\n')[0]}`;
  });

  await step('status-shows-platform-down', async () => {
    // The platform stops while the editor is open: the status bar says so without any command.
    await clearNotifications();
    const status = page.locator('.statusbar-item', { hasText: 'CodeForge:' }).first();
    await status.filter({ hasText: '· demo' }).waitFor();
    process.kill(PLATFORM_PID, 'SIGTERM');
    await status.filter({ hasText: 'platform down' }).waitFor();
    return (await status.innerText()).trim();
  });
} catch {
  writeFileSync(join(ARTIFACTS, 'browser-console.log'), consoleLines.join('\n'));
  await context.close();
  process.exit(1);
}
writeFileSync(join(ARTIFACTS, 'browser-console.log'), consoleLines.join('\n'));
await context.close();
