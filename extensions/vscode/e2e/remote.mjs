// The VS Code remote journey: a real VS Code (code-server) with the CodeForge extension on a
// local folder, connected with "CodeForge: Connect to Remote Workspace" to a real `codeforge
// bridge` serving the workspace (another folder with the same files). The workspace's own
// basedpyright and python-lsp-server come through the bridge; the remote terminal runs there.
// tests/extensions/test_remote_e2e.py starts code-server, the platform and the bridge, then
// runs this.
//
// Environment: CODE_SERVER_URL, LOCAL_DIR, WORKSPACE_DIR, BRIDGE_URL, ARTIFACTS_DIR (screenshots),
// BROWSER_PROFILE (an empty folder), LOG_FILES_DIR (code-server's logs), SECRET_TOKEN (the token,
// which must show nowhere), CHROMIUM (optional). Exit status 0 when every step saw what it
// should; each step prints one line.
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { environment, openBrowser, screenshots } from './harness.mjs';

const env = environment('tests/extensions/test_remote_e2e.py');
const URL_BASE = env('CODE_SERVER_URL');
const LOCAL = env('LOCAL_DIR');
const WORKSPACE = env('WORKSPACE_DIR');
const BRIDGE = env('BRIDGE_URL');
const ARTIFACTS = env('ARTIFACTS_DIR');
const LOG_FILES_DIR = env('LOG_FILES_DIR');
const TOKEN = env('SECRET_TOKEN');
const HTTP_PORT = env('HTTP_PORT');
const FORWARD_PORT = env('FORWARD_PORT');
const SERVED = env('SERVED');
const BRIDGE_PID = Number(env('BRIDGE_PID'));
const HOST = new URL(BRIDGE).host;
const STEP_TIMEOUT = 90_000;

const { context, page } = await openBrowser(env('BROWSER_PROFILE'), { timeout: STEP_TIMEOUT });

const shot = screenshots(ARTIFACTS, page);

async function step(name, body) {
  const started = Date.now();
  try {
    const detail = await body();
    const path = await shot(name);
    console.log(`ok ${name} (${Date.now() - started} ms) ${path}${detail ? ` — ${String(detail).replace(/\s+/g, ' ')}` : ''}`);
  } catch (error) {
    await shot(`${name}-FAILED`).catch(() => undefined);
    const toasts = await page.locator('.notification-toast').allInnerTexts().catch(() => []);
    console.log(`# notifications at failure: ${toasts.join(' | ').replace(/\s+/g, ' ')}`);
    console.log(`not ok ${name}: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

const quickInput = page.locator('.quick-input-widget');
const quickInputBox = quickInput.locator('input.input');

async function focusRow(row) {
  for (let i = 0; i < 20 && !(await row.evaluate((el) => el.classList.contains('focused'))); i++) {
    await page.keyboard.press('ArrowDown');
  }
}

/** Open the quick input with F1; a workbench starved of CPU (a busy CI machine) can drop the
 * key, so press it again. */
async function openQuickInput() {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    const shown = await quickInputBox.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false);
    if (shown) return;
    if (attempt === 4) throw new Error('the command palette did not open');
  }
}

/** Run a command from the command palette (F1) by its title. */
async function palette(title) {
  await openQuickInput();
  await quickInputBox.fill(`>${title}`);
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

/** Put the cursor on line:column of the active editor ("Go to Line/Column"). */
async function goTo(line, column) {
  await openQuickInput();
  await quickInputBox.fill(`:${line}:${column}`);
  await page.keyboard.press('Enter');
  await quickInput.waitFor({ state: 'hidden' });
}

async function openFile(name, marker) {
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+P');
  await quickInputBox.waitFor({ state: 'visible' });
  await quickInputBox.fill(name);
  await quickInput.locator('.quick-input-list .monaco-list-row', { hasText: name }).first().waitFor();
  await page.keyboard.press('Enter');
  await page.locator('.monaco-editor .view-lines', { hasText: marker }).first().waitFor();
}

function filesUnder(folder) {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

try {
  await step('open-local-folder', async () => {
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(LOCAL)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    // The extension activates on codeforge.yaml and starts the local server first.
    await page.locator('.statusbar-item', { hasText: 'CodeForge' }).first().waitFor();
    return page.title();
  });

  await step('connect-refuses-bad-url', async () => {
    await palette('CodeForge: Connect to Remote Workspace');
    await quickInput.locator('.quick-input-title', { hasText: 'Connect to Remote Workspace' }).waitFor();
    await quickInputBox.fill(`ftp://${HOST}`);
    await page.keyboard.press('Enter');
    const refused = quickInput.locator('.quick-input-message', { hasText: 'is not a bridge URL scheme' });
    await refused.waitFor();
    return (await refused.innerText()).trim();
  });

  await step('connect-says-unreachable', async () => {
    // A well-formed address where no bridge listens: checked before it is stored.
    await quickInputBox.fill('ws://127.0.0.1:9');
    await page.keyboard.press('Enter');
    const error = page.locator('.notification-toast', { hasText: 'cannot reach the bridge at ws://127.0.0.1:9' }).first();
    await error.waitFor();
    const text = (await error.innerText()).replace(/\s+/g, ' ');
    await error.locator('.monaco-button', { hasText: 'Try Again' }).click();
    await quickInput.locator('.quick-input-title', { hasText: 'Connect to Remote Workspace' }).waitFor();
    return text;
  });

  await step('connect', async () => {
    await quickInputBox.fill(BRIDGE);
    await page.keyboard.press('Enter');
    await quickInput.waitFor({ state: 'hidden' });
    // The remote item: the bridge's host, connected (the remote icon: no spinner, no
    // "reconnecting"), once the CodeForge language server answered through the bridge.
    const item = page.locator('.statusbar-item', { hasText: HOST }).first();
    await item.waitFor();
    await page.locator('.statusbar-item', { hasText: HOST }).filter({ has: page.locator('.codicon-remote') }).first().waitFor();
    const settings = readFileSync(join(LOCAL, '.vscode', 'settings.json'), 'utf-8');
    if (!settings.includes(BRIDGE) || settings.includes(TOKEN)) {
      throw new Error(`the folder's settings do not hold the URL alone: ${settings}`);
    }
    // "codeforge.remote.sync" is on: the folder's sync with the workspace reaches its watching
    // state (the workspace's Python files are here then).
    const synced = page.locator('.statusbar-item', { hasText: HOST }).filter({ hasText: 'watching for changes' }).first();
    await synced.waitFor();
    const text = (await synced.innerText()).trim();
    if (/reconnecting/.test(text)) {
      throw new Error(`not connected: ${text}`);
    }
    return text;
  });

  await step('proxied-diagnostics', async () => {
    await openFile('main.py', 'greet');
    await palette('View: Focus Problems');
    // basedpyright's type error on line 3, through the bridge, on the local file.
    const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'is not assignable' }).first();
    await problem.waitFor();
    // pylsp's pyflakes through the same proxy: the unused import on line 5.
    const flake = page.locator('.markers-panel .monaco-list-row', { hasText: "'json' imported but unused" }).first();
    await flake.waitFor();
    return `${await problem.innerText()} | ${await flake.innerText()}`;
  });

  await step('proxied-hover', async () => {
    await page.locator('.monaco-editor .view-lines', { hasText: 'greet' }).first().click();
    await goTo(4, 9);
    await palette('Show or Focus Hover');
    const hover = page.locator('.monaco-hover', { hasText: 'greet' }).first();
    await hover.waitFor();
    const text = await hover.innerText();
    if (!text.includes('name: str')) {
      throw new Error(`the hover does not show greet's signature: ${text}`);
    }
    return text.slice(0, 120);
  });

  await step('proxied-definition-opens-local-file', async () => {
    await page.keyboard.press('Escape');
    await palette('Go to Definition');
    // window.title is ${activeEditorLong}: the full path of the file the definition opened.
    await page.waitForFunction((path) => document.title.includes(path), join(LOCAL, 'lib.py'));
    const title = await page.title();
    if (title.includes(WORKSPACE)) {
      throw new Error(`the definition opened the workspace's path: ${title}`);
    }
    await page.locator('.monaco-editor .view-lines', { hasText: 'def greet' }).first().waitFor();
    return title;
  });

  await step('remote-terminal', async () => {
    await palette('CodeForge: Open Remote Terminal');
    const terminal = page.locator('.terminal-wrapper.active .xterm').first();
    await terminal.waitFor();
    const rows = page.locator('.terminal-wrapper.active .xterm-rows');
    // Type once the terminal has shown something (a person waits for it too): `connect` puts
    // its tty into raw mode first, which drops what was typed before.
    await page.waitForFunction(() => (document.querySelector('.terminal-wrapper.active .xterm-rows')?.textContent ?? '').trim() !== '');
    await terminal.click();
    await page.keyboard.type('echo remote-$((6*7)) "$PWD"');
    await page.keyboard.press('Enter');
    await rows.filter({ hasText: `remote-42 ${WORKSPACE}` }).waitFor();
    return `remote-42 ${WORKSPACE}`;
  });

  await step('forward-port', async () => {
    await palette('CodeForge: Forward a Remote Port');
    // The workspace's HTTP server, from `--ports --json`, flagged as the workspace's.
    const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: 'in the workspace' }).filter({ hasText: HTTP_PORT }).first();
    await row.waitFor();
    const listed = (await row.innerText()).replace(/\s+/g, ' ');
    await focusRow(row);
    await page.keyboard.press('Enter');
    await quickInput.locator('.quick-input-title', { hasText: 'Forward a Remote Port' }).waitFor();
    await quickInputBox.fill(`${HTTP_PORT}:${FORWARD_PORT}`);
    await page.keyboard.press('Enter');
    const ready = page.locator('.notification-toast', { hasText: `remote port ${HTTP_PORT} is forwarded to localhost:${FORWARD_PORT}` }).first();
    await ready.waitFor();
    const body = await (await fetch(`http://127.0.0.1:${FORWARD_PORT}/hello.txt`)).text();
    if (body !== SERVED) {
      throw new Error(`through the forward: ${JSON.stringify(body)}`);
    }
    await shot('forward-port-open');
    await palette('CodeForge: Stop Port Forward');
    const active = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: `localhost:${FORWARD_PORT}` }).first();
    await active.waitFor();
    await focusRow(active);
    await page.keyboard.press('Enter');
    await page.locator('.notification-toast', { hasText: `stopped forwarding localhost:${FORWARD_PORT}` }).first().waitFor();
    return `${listed} → ${JSON.stringify(body)}`;
  });

  await step('debug-breakpoint', async () => {
    // The `codeforge` debug type: launch.json names it, the adapter is `codeforge connect URL
    // --dap`, main.py runs under debugpy in the workspace and stops in lib.py (the local file).
    mkdirSync(join(LOCAL, '.vscode'), { recursive: true });
    writeFileSync(
      join(LOCAL, '.vscode', 'launch.json'),
      JSON.stringify({ version: '0.2.0', configurations: [{ type: 'codeforge', request: 'launch', name: 'CodeForge: main.py', program: '${workspaceFolder}/main.py' }] }, null, 2),
    );
    await openFile('lib.py', 'def greet');
    await page.locator('.monaco-editor .view-lines', { hasText: 'def greet' }).first().click();
    await goTo(2, 5);
    await palette('Debug: Toggle Breakpoint');
    await page.locator('.codicon-debug-breakpoint').first().waitFor();
    // main.py's tab is open since the diagnostics step.
    await page.locator('.tabs-container .tab', { hasText: 'main.py' }).first().click();
    await page.waitForFunction((path) => document.title.includes(path), join(LOCAL, 'main.py'));
    await palette('View: Show Run and Debug');
    await palette('Debug: Start Debugging');
    // Stopped on lib.py line 2: the Variables view shows the local `name`.
    const variable = page.locator('.debug-pane .monaco-list-row', { hasText: 'name' }).filter({ hasText: "'ana'" }).first();
    await variable.waitFor();
    await page.waitForFunction((path) => document.title.includes(path), join(LOCAL, 'lib.py'));
    const shown = (await variable.innerText()).replace(/\s+/g, ' ');
    const frame = (await page.locator('.debug-pane .monaco-list-row', { hasText: 'greet' }).first().innerText()).replace(/\s+/g, ' ');
    if (frame.includes(WORKSPACE)) {
      throw new Error(`the call stack names the workspace path: ${frame}`);
    }
    // The bridge named the session: its id is what a colleague joins with.
    const announced = page.locator('.notification-toast', { hasText: 'runs in the remote workspace' }).first();
    await announced.waitFor();
    const id = /Debug session (\S+) runs/.exec(await announced.innerText())?.[1];
    await shot('debug-stopped');
    await palette('Debug: Continue');
    // The program ends: the debug toolbar goes away.
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden' });
    // Again from the CodeForge language server's "Debug this file" lens on main.py (its
    // client-side command codeforge.debug.start; the lens names the workspace's paths).
    await page.locator('.tabs-container .tab', { hasText: 'main.py' }).first().click();
    await page.waitForFunction((path) => document.title.includes(path), join(LOCAL, 'main.py'));
    await page.locator('.monaco-editor .codelens-decoration a', { hasText: 'Debug this file' }).first().click();
    await variable.waitFor();
    await palette('Debug: Continue');
    await page.locator('.debug-toolbar').waitFor({ state: 'hidden' });
    return `${shown} | ${frame} | session ${id} | the lens stopped there too`;
  });

  await step('bridge-restart', async () => {
    // The bridge dies and its supervisor starts it again: the status bar says so and comes
    // back, the output channel keeps the story, the proxied diagnostics are there again.
    process.kill(BRIDGE_PID, 'SIGKILL');
    const channel = () => filesUnder(LOG_FILES_DIR).filter((f) => /CodeForge\.log$/.test(f)).map((f) => readFileSync(f, 'utf-8')).join('\n');
    const deadline = Date.now() + STEP_TIMEOUT;
    while (!/remote connection: reconnecting[\s\S]*remote connection: connected/.test(channel())) {
      if (Date.now() > deadline) {
        throw new Error(`the output channel never told reconnecting, then connected:\n${channel().slice(-2000)}`);
      }
      await page.waitForTimeout(250);
    }
    await page.locator('.statusbar-item', { hasText: HOST }).filter({ has: page.locator('.codicon-remote') }).first().waitFor();
    await palette('View: Focus Problems');
    await page.locator('.markers-panel .monaco-list-row', { hasText: 'is not assignable' }).first().waitFor();
    return channel().split('\n').filter((l) => l.includes('remote connection')).map((l) => l.replace(/^.*remote connection/, 'remote connection')).join(' → ');
  });

  await step('token-never-shown', async () => {
    const toasts = (await page.locator('.notification-toast').allInnerTexts()).join('\n');
    const shown = [toasts, await page.locator('.statusbar').innerText(), ...filesUnder(LOG_FILES_DIR).map((f) => readFileSync(f, 'utf-8'))];
    const where = shown.findIndex((text) => text.includes(TOKEN));
    if (where !== -1) {
      throw new Error(`the token shows in ${where === 0 ? 'a notification' : where === 1 ? 'the status bar' : 'a log file'}`);
    }
    return `${shown.length - 2} log files checked`;
  });
} finally {
  await context.close();
}
