// The collaboration journey: a real VS Code (code-server) with the CodeForge extension and two
// headless Neovims with the CodeForge plugin, each on its own folder with the same files, all
// connected through `codeforge connect` to one real `codeforge bridge`. VS Code starts a session
// and invites (palette commands); the Neovims join with the links; all three type into one file
// and must converge; each sees the others' cursors; one leaves; the host ends the session.
// tests/extensions/test_collab_e2e.py starts everything, then runs this. The Neovims are driven
// through `nvim --server SOCKET --remote-expr` (tests/extensions/collab_nvim.lua's CollabE2E).
//
// Environment: CODE_SERVER_URL, LOCAL_DIR, ARTIFACTS_DIR, BROWSER_PROFILE, LOG_FILES_DIR,
// SECRET_TOKEN, NVIM_BIN, NVIM_A_SOCKET, NVIM_B_SOCKET, NVIM_A_USER, NVIM_B_USER, NVIM_LOGS,
// SHARED_FILE, SHARED_TEXT, BRIDGE_HOST, WORKSPACE_DIR (the bridge's folder: the conflict step
// writes the file there, as another program would). Each step prints one line; exit status 0 when all passed.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { environment, openBrowser, screenshots } from './harness.mjs';

const run = promisify(execFile);
const env = environment('tests/extensions/test_collab_e2e.py');
const URL_BASE = env('CODE_SERVER_URL');
const LOCAL = env('LOCAL_DIR');
const ARTIFACTS = env('ARTIFACTS_DIR');
const LOG_FILES_DIR = env('LOG_FILES_DIR');
const TOKEN = env('SECRET_TOKEN');
const NVIM = env('NVIM_BIN');
const FILE = env('SHARED_FILE');
const INITIAL = env('SHARED_TEXT');
const HOST = env('BRIDGE_HOST');
const WORKSPACE = env('WORKSPACE_DIR');
const STEP_TIMEOUT = 60_000;

// ---- the Neovims, over RPC ----------------------------------------------------------------
function neovim(label, socket, username) {
  const call = async (fn, ...args) => {
    const request = JSON.stringify({ fn, args }).replace(/'/g, "''");
    const { stdout } = await run(NVIM, ['--server', socket, '--remote-expr', `v:lua.CollabE2E.call('${request}')`], { timeout: 30_000 });
    const answer = JSON.parse(stdout);
    if (!answer.ok) throw new Error(`Neovim ${label}: ${fn} failed: ${answer.error}`);
    return answer.value;
  };
  return {
    label,
    username,
    call,
    /** Runs a server command in that Neovim and waits for its answer. */
    async exec(command, argument) {
      const id = await call('exec', command, argument);
      const result = await until(`${label}: ${command} to answer`, async () => {
        const r = await call('result', id);
        return r && r.done ? r : undefined;
      });
      if (result.err) throw new Error(`Neovim ${label}: ${command} failed: ${result.err}`);
      return result.result;
    },
  };
}
const nvimA = neovim('A', env('NVIM_A_SOCKET'), env('NVIM_A_USER'));
const nvimB = neovim('B', env('NVIM_B_SOCKET'), env('NVIM_B_USER'));

/** Polls `probe` until it gives something truthy (no sleeping assertions: a deadline only). */
async function until(what, probe, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message ?? last})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// ---- VS Code -------------------------------------------------------------------------------
// The journey reads the editor's text and the invitation the extension copied.
const { context, page } = await openBrowser(env('BROWSER_PROFILE'), {
  timeout: STEP_TIMEOUT,
  permissions: { names: ['clipboard-read', 'clipboard-write'], origin: URL_BASE },
});

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
    for (const nv of [nvimA, nvimB]) {
      const said = await nv.call('status').catch((e) => String(e));
      console.log(`# Neovim ${nv.label}: ${JSON.stringify(said)}`);
    }
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

async function openQuickInput() {
  for (let attempt = 1; ; attempt++) {
    await page.keyboard.press('Escape');
    await page.keyboard.press('F1');
    const shown = await quickInputBox.waitFor({ state: 'visible', timeout: 15_000 }).then(
      () => true,
      () => false,
    );
    if (shown) return;
    if (attempt === 4) throw new Error('the command palette did not open');
  }
}

async function palette(title) {
  await openQuickInput();
  await quickInputBox.fill(`>${title}`);
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

/** Picks the quick pick row whose label is `label` (the quick pick is open). */
async function pickRow(label) {
  const row = quickInput.locator('.quick-input-list .monaco-list-row', { has: page.locator('.label-name', { hasText: new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) }) }).first();
  await row.waitFor({ state: 'visible' });
  await focusRow(row);
  await page.keyboard.press('Enter');
}

async function goTo(line, column) {
  await openQuickInput();
  await quickInputBox.fill(`:${line}:${column}`);
  await page.keyboard.press('Enter');
  await quickInput.waitFor({ state: 'hidden' });
}


/** The active editor's whole text, exactly: select all, copy, read the clipboard; then the
 * cursor goes back to where the journey puts it next. */
async function vscodeText() {
  // Ctrl+1 focuses the document itself (a click might land in a comment widget's reply box).
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+1');
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Control+C');
  const text = await page.evaluate(() => navigator.clipboard.readText());
  await page.keyboard.press('Control+End');
  return text.replace(/\r\n/g, '\n');
}

function filesUnder(folder) {
  return readdirSync(folder).flatMap((name) => {
    const path = join(folder, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Whether VS Code draws a name label (a decoration's ::after content) for `name`. */
function labelShown(name) {
  return page.evaluate((n) => {
    for (const el of document.querySelectorAll('.monaco-editor .view-lines span')) {
      const content = getComputedStyle(el, '::after').content;
      if (content && content !== 'none' && content.includes(n)) return true;
    }
    return false;
  }, name);
}

/** Lines of a text as the journey edits them (0-based). */
const withLine = (text, line, suffix) => {
  const lines = text.split('\n');
  lines[line] += suffix;
  return lines.join('\n');
};

// What each one types: accents, emoji (astral: two UTF-16 units, four UTF-8 bytes), CJK, a
// combining mark (e + U+0301), a musical symbol, Hangul.
const VSCODE_TYPES = ' café 👋 ✓';
const A_TYPES = ' 日本語 🎉 e\u0301';
const B_TYPES = ' 𝄞 한국어';
// Then at the same time, on three different lines.
const VSCODE_AT_ONCE = ' (live 🚀)';
const A_AT_ONCE = ' — 終わり';
const B_AT_ONCE = ' ok ✅';

let expected = INITIAL;
const invitations = [];
let hostUser;

async function converged(what, wanted) {
  try {
    await until(what, async () => {
      const [a, b] = await Promise.all([nvimA.call('text', FILE), nvimB.call('text', FILE)]);
      return a === wanted && b === wanted;
    });
    // VS Code may be a moment behind: the applyEdits are in flight.
    await until(`VS Code to show ${JSON.stringify(wanted)}`, async () => (await vscodeText()) === wanted);
  } catch (error) {
    const held = {
      expected: wanted,
      'Neovim A': await nvimA.call('text', FILE).catch(String),
      'Neovim B': await nvimB.call('text', FILE).catch(String),
      'VS Code': await vscodeText().catch(String),
    };
    throw new Error(`${error.message}; what each holds: ${JSON.stringify(held)}`);
  }
}

try {
  await step('open', async () => {
    await Promise.all([nvimA.call('connect'), nvimB.call('connect')]);
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(LOCAL)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    // The remote item: connected to the bridge (the remote icon, not reconnecting).
    await page.locator('.statusbar-item', { hasText: HOST }).filter({ has: page.locator('.codicon-remote') }).first().waitFor();
    for (const nv of [nvimA, nvimB]) {
      const status = await until(`Neovim ${nv.label} to connect`, async () => {
        const s = await nv.call('status');
        if (s.error) throw new Error(s.error);
        return s.connected && s.initialized ? s : undefined;
      });
      if (!status.connected) throw new Error(`Neovim ${nv.label} did not connect`);
    }
    return 'VS Code and both Neovims connected through codeforge connect';
  });

  await step('start-session', async () => {
    await palette('CodeForge: Start Collaboration Session');
    await quickInput.locator('.quick-input-title', { hasText: 'Start a Collaboration Session' }).waitFor();
    await quickInputBox.fill('Pairing on notes');
    await page.keyboard.press('Enter');
    await pickRow('free');
    const item = page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).first();
    await item.waitFor();
    const text = (await item.innerText()).trim();
    if (!/driver/.test(text) || !/1 person/.test(text)) throw new Error(`the status bar does not show the host as driver, alone: ${text}`);
    return text;
  });

  await step('invite', async () => {
    for (let i = 0; i < 2; i++) {
      await palette('CodeForge: Invite to Collaboration Session');
      await pickRow('navigator');
      const dialog = page.locator('.monaco-dialog-box');
      await dialog.waitFor();
      const detail = (await dialog.locator('.dialog-message-detail').innerText()).trim();
      const link = detail.split('\n')[0].trim();
      const copied = await page.evaluate(() => navigator.clipboard.readText());
      if (!link || copied !== link) throw new Error(`the dialog's link and the clipboard differ: ${JSON.stringify([link.length, copied.length])}`);
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      invitations.push(link);
    }
    if (invitations[0] === invitations[1]) throw new Error('two invitations gave the same link');
    return `two navigator invitations, each copied to the clipboard (${invitations[0].replace(/[^/?#=]{12,}/g, '…')})`;
  });

  await step('neovims-join', async () => {
    const joined = [];
    for (const [nv, link] of [
      [nvimA, invitations[0]],
      [nvimB, invitations[1]],
    ]) {
      const session = await nv.exec('codeforge.collab.join', { invitation: link });
      joined.push(session?.id ?? '?');
      await until(`Neovim ${nv.label}'s session state`, async () => {
        const state = await nv.call('state_of');
        return state?.session ? state : undefined;
      });
    }
    await page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).filter({ hasText: '3 people' }).first().waitFor();
    const state = await nvimA.call('state_of');
    hostUser = state.host;
    const names = state.participants.map((p) => `${p.username}:${p.role}`).sort();
    for (const user of [nvimA.username, nvimB.username]) {
      if (!names.some((n) => n.startsWith(`${user}:navigator`))) throw new Error(`${user} is not a navigator: ${names}`);
    }
    if (!hostUser || !names.some((n) => n.startsWith(`${hostUser}:driver`))) throw new Error(`the host is not the driver: ${JSON.stringify(state)}`);
    return `session ${String(joined[0]).slice(0, 8)}: ${names.join(', ')}`;
  });

  await step('open-shared-file', async () => {
    await Promise.all([nvimA.call('open', FILE), nvimB.call('open', FILE)]);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Control+P');
    await quickInputBox.waitFor({ state: 'visible' });
    await quickInputBox.fill(FILE);
    await quickInput.locator('.quick-input-list .monaco-list-row', { hasText: FILE }).first().waitFor();
    await page.keyboard.press('Enter');
    await page.locator('.monaco-editor .view-lines', { hasText: 'Shared notes' }).first().waitFor();
    await converged('everyone to hold the file as it is', expected);
    return JSON.stringify(expected);
  });

  await step('co-edit-in-turn', async () => {
    // VS Code types at the end of line 2 ("vscode:"), key by key.
    await goTo(2, 8);
    await page.keyboard.type(VSCODE_TYPES, { delay: 15 });
    expected = withLine(expected, 1, VSCODE_TYPES);
    await converged('VS Code’s typing everywhere', expected);
    await nvimA.call('type_at_end', FILE, 2, A_TYPES);
    expected = withLine(expected, 2, A_TYPES);
    await converged('Neovim A’s typing everywhere', expected);
    await nvimB.call('type_at_end', FILE, 3, B_TYPES);
    expected = withLine(expected, 3, B_TYPES);
    await converged('Neovim B’s typing everywhere', expected);
    return JSON.stringify(expected);
  });

  await step('co-edit-at-once', async () => {
    await goTo(1, 15);
    // VS Code types key by key while both Neovims type too.
    const typing = page.keyboard.type(VSCODE_AT_ONCE, { delay: 25 });
    await Promise.all([nvimA.call('type_at_end', FILE, 4, A_AT_ONCE), nvimB.call('type_at_end', FILE, 1, B_AT_ONCE)]);
    await typing;
    expected = withLine(withLine(withLine(expected, 0, VSCODE_AT_ONCE), 4, A_AT_ONCE), 1, B_AT_ONCE);
    await converged('the three at-once edits everywhere', expected);
    writeFileSync(join(ARTIFACTS, 'final-text.txt'), expected);
    return JSON.stringify(expected);
  });

  await step('cursors-everywhere', async () => {
    // A's cursor on "日本語", B's on "Shared"; VS Code's where it typed last (line 1).
    // A's cursor on "日本語"; B selects "Shared" (visual mode); VS Code's at line 2, column 4.
    await nvimA.call('cursor', FILE, 2, Buffer.byteLength('nvim-a: '));
    await nvimB.call('select', FILE, 0, 2, 'Shared'.length);
    await goTo(2, 4);
    for (const nv of [nvimA, nvimB]) {
      await until(`VS Code to draw ${nv.username}'s cursor with its name`, () => labelShown(nv.username));
    }
    // B's selection: a background in B's colour, a quarter opaque, over "Shared".
    const colorOfB = (await nvimA.call('state_of')).participants.find((p) => p.username === nvimB.username)?.color ?? '';
    const rgba = `rgba(${[1, 3, 5].map((i) => Number.parseInt(colorOfB.slice(i, i + 2), 16)).join(', ')}, 0.25)`;
    await until(`VS Code to draw ${nvimB.username}'s selection in ${rgba}`, () =>
      page.evaluate((want) => [...document.querySelectorAll('.monaco-editor .view-overlays div, .monaco-editor .view-lines span')].some((el) => getComputedStyle(el).backgroundColor === want), rgba),
    );
    const seen = {};
    for (const [nv, others] of [
      [nvimA, [hostUser, nvimB.username]],
      [nvimB, [hostUser, nvimA.username]],
    ]) {
      const view = await until(`Neovim ${nv.label} to see ${others.join(' and ')}`, async () => {
        const s = await nv.call('seen', FILE);
        const who = s.participants.map((p) => p.username);
        const everyone = others.every((o) => who.includes(o)) && s.participants.every((p) => p.selections.length > 0);
        // A sees B's selection as a range, not a caret.
        const bSelects = nv !== nvimA || s.participants.some((p) => p.username === nvimB.username && p.selections.some((x) => x.anchor.character !== x.head.character));
        return everyone && bSelects ? s : undefined;
      });
      seen[nv.label] = `${view.participants.map((p) => `${p.username}@${p.selections[0].head.line}:${p.selections[0].head.character}`).join(' ')} (${view.extmarks.length} extmarks${view.extmarks.length ? `: ${view.extmarks.map((m) => m.text).filter(Boolean).join('|')}` : ''})`;
      writeFileSync(join(ARTIFACTS, `nvim-${nv.label}-presence.json`), JSON.stringify(view, null, 2));
    }
    // VS Code's own cursor as A sees it: line 2 (0-based 1), column 3 (0-based).
    const hostSeen = (await nvimA.call('seen', FILE)).participants.find((p) => p.username === hostUser);
    await until('Neovim A to see VS Code’s cursor where it moved', async () => {
      const p = (await nvimA.call('seen', FILE)).participants.find((q) => q.username === hostUser);
      return p && p.selections.some((s) => s.head.line === 1 && s.head.character === 3);
    });
    await nvimB.call('escape');
    return `VS Code draws ${nvimA.username} and ${nvimB.username} (B's selection in ${rgba}); A sees ${seen.A}; B sees ${seen.B}; host first seen at ${JSON.stringify(hostSeen?.selections?.[0]?.head)}`;
  });

  await step('follow', async () => {
    await palette('CodeForge: Follow a Participant');
    await pickRow(nvimA.username);
    await page.locator('.statusbar-item', { hasText: `Following ${nvimA.username}` }).first().waitFor();
    // A goes to another file: VS Code goes with them (window/showDocument from the server).
    await nvimA.call('open', 'codeforge.yaml');
    await nvimA.call('cursor', 'codeforge.yaml', 0, 3);
    await page.locator('.tabs-container .tab.active', { hasText: 'codeforge.yaml' }).waitFor();
    const title = await page.title();
    // And back: following again brings VS Code to the shared file.
    await nvimA.call('open', FILE);
    await nvimA.call('cursor', FILE, 2, Buffer.byteLength('nvim-a: '));
    await page.locator('.tabs-container .tab.active', { hasText: FILE }).waitFor();
    await palette('CodeForge: Follow a Participant');
    await pickRow('Stop following');
    await page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).filter({ hasNotText: 'Following' }).first().waitFor();
    return `VS Code followed ${nvimA.username} to codeforge.yaml (${title}) and back, then stopped`;
  });

  await step('comments', async () => {
    await goTo(3, 1);
    await palette('CodeForge: Add Review Comment');
    await quickInput.locator('.quick-input-title', { hasText: 'Comment' }).waitFor();
    const question = 'Is 日本語 right here? 🤔';
    await quickInputBox.fill(question);
    await page.keyboard.press('Enter');
    // The thread in VS Code's comments UI, on line 3, and in Neovim A from the server.
    const widget = page.locator('.review-widget', { hasText: question }).first();
    await widget.waitFor();
    const thread = await until('Neovim A to get the thread', async () => (await nvimA.call('threads', FILE)).find((t) => t.comments?.[0]?.body === question));
    if (thread.line !== 2) throw new Error(`the thread is on line ${thread.line + 1}, not 3`);
    // A replies from Neovim; the reply shows in VS Code's thread.
    const answer = 'Yes — 正しい ✅';
    await nvimA.exec('codeforge.collab.reply', { thread: thread.id, body: answer });
    await page.locator('.review-widget', { hasText: answer }).first().waitFor();
    // Resolved from the thread's title bar in VS Code: Neovim A hears of it.
    await widget.locator('.action-label[aria-label="Resolve"]').first().click();
    await until('Neovim A to see the thread resolved', async () => (await nvimA.call('threads', FILE)).find((t) => t.id === thread.id && t.state === 'resolved'));
    // And reopened from there (the widget stays open: "comments.collapseOnResolve" is off).
    await widget.locator('.action-label[aria-label="Reopen"]').first().click();
    await until('Neovim A to see the thread open again', async () => (await nvimA.call('threads', FILE)).find((t) => t.id === thread.id && t.state === 'open'));
    await widget.locator('.action-label[aria-label="Resolve"]').first().waitFor();
    // A second thread as the gutter's '+' makes one: an empty thread at the cursor, whose
    // first comment goes with the widget's "Comment" button (codeforge.collabUi.reply).
    await goTo(4, 1);
    await palette('Comments: Add Comment on Current Selection');
    const note = 'Nice 한국어 👍';
    const form = page.locator('.review-widget', { hasText: 'Start discussion' }).last();
    await form.waitFor();
    await form.locator('.comment-form .monaco-editor').first().click();
    await page.keyboard.type(note);
    await form.locator('.monaco-button', { hasText: /^Comment$/ }).first().click();
    await page.locator('.review-widget', { hasText: note }).first().waitFor();
    const second = await until('Neovim A to get the second thread', async () => (await nvimA.call('threads', FILE)).find((t) => t.comments?.[0]?.body === note));
    if (second.line !== 3) throw new Error(`the second thread is on line ${second.line + 1}, not 4`);
    await page.keyboard.press('Escape');
    // The threads fold away, so every line is on screen again for the cursors' steps.
    await palette('Comments: Collapse All Comments');
    await page.locator('.review-widget').first().waitFor({ state: 'hidden' });
    return `thread ${String(thread.id).slice(0, 8)} on line 3: asked in VS Code, answered in Neovim, resolved and reopened in VS Code; a second one from the comment widget on line 4`;
  });

  await step('pair-mode-handover', async () => {
    await palette('CodeForge: Set Collaboration Mode');
    await pickRow('pair');
    const item = page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).first();
    await page.locator('.statusbar-item', { hasText: `pair, driver ${hostUser}` }).first().waitFor();
    await palette('CodeForge: Hand Over the Keyboard');
    await pickRow(nvimA.username);
    await page.locator('.statusbar-item', { hasText: `pair, driver ${nvimA.username}` }).first().waitFor();
    await until(`Neovim A to drive`, async () => (await nvimA.call('state_of'))?.driver === nvimA.username);
    const handed = (await item.innerText()).trim();
    // Back to free mode, the host driving again.
    await palette('CodeForge: Hand Over the Keyboard');
    await pickRow(`${hostUser} (you)`);
    await page.locator('.statusbar-item', { hasText: `pair, driver ${hostUser}` }).first().waitFor();
    await palette('CodeForge: Set Collaboration Mode');
    await pickRow('free');
    await page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).filter({ hasText: '· free ·' }).first().waitFor();
    return `${handed}; back to free mode`;
  });

  await step('guest-refused', async () => {
    await palette("CodeForge: Set a Participant's Role");
    await pickRow(nvimB.username);
    await pickRow('guest');
    await until('Neovim B to be a guest', async () => (await nvimB.call('state_of'))?.role === 'guest');
    const before = (await nvimB.call('said')).length;
    await nvimB.call('type_at_end', FILE, 3, ' not allowed');
    // Refused by the server: B's buffer is put back and B is told, naming the role.
    await converged('the guest’s buffer to be put back', expected);
    const told = await until('Neovim B to be told', async () => (await nvimB.call('said')).slice(before).find((m) => /guest/i.test(m)));
    await palette("CodeForge: Set a Participant's Role");
    await pickRow(nvimB.username);
    await pickRow('navigator');
    await until('Neovim B to be a navigator again', async () => (await nvimB.call('state_of'))?.role === 'navigator');
    return told;
  });

  await step('conflict', async () => {
    // Another program rewrites line 2 on the bridge's disk while the session's edits there are
    // unsaved: the server cannot merge that, and VS Code shows the three-way view.
    // First an edit of line 2 that is not saved (in the room, not on disk)…
    await goTo(2, 200);
    await page.keyboard.type(' ✎', { delay: 15 });
    expected = withLine(expected, 1, ' ✎');
    await converged('the unsaved edit everywhere', expected);
    // …then the other program's version of the same line.
    const onDisk = readFileSync(join(WORKSPACE, FILE), 'utf-8');
    if (onDisk.includes('✎')) throw new Error('the edit reached the disk without a save');
    const theirs = onDisk.replace(/^vscode:.*$/m, 'vscode: rewritten on disk');
    writeFileSync(join(WORKSPACE, `.${FILE}.tmp`), theirs);
    renameSync(join(WORKSPACE, `.${FILE}.tmp`), join(WORKSPACE, FILE));
    const toast = page.locator('.notification-toast', { hasText: 'changed on disk while it had unsaved edits' }).first();
    await toast.waitFor();
    await page.locator('.tabs-container .tab.active', { hasText: '(conflict)' }).waitFor();
    await page.locator('.monaco-diff-editor').first().waitFor();
    await shot('conflict-view');
    await toast.locator('.monaco-button', { hasText: 'Accept Theirs' }).click();
    // The choice went to the room for everyone: all three hold the disk's version.
    await page.locator('.tabs-container .tab', { hasText: '(conflict)' }).waitFor({ state: 'hidden' });
    const merged = theirs;
    await converged('everyone to hold the version on disk', merged);
    expected = merged;
    return JSON.stringify(merged);
  });

  await step('leaver-disappears', async () => {
    // Both cursors on screen first: their absence afterwards then means something.
    await goTo(1, 1);
    await nvimA.call('cursor', FILE, 2, 2);
    await nvimB.call('cursor', FILE, 0, 2);
    for (const nv of [nvimA, nvimB]) {
      await until(`VS Code to draw ${nv.username}'s cursor before the leave`, () => labelShown(nv.username));
    }
    await nvimB.exec('codeforge.collab.leave', {});
    await until(`VS Code to remove ${nvimB.username}'s cursor`, async () => !(await labelShown(nvimB.username)));
    await until(`Neovim A to stop seeing ${nvimB.username}`, async () => !(await nvimA.call('seen', FILE)).participants.some((p) => p.username === nvimB.username));
    await page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).filter({ hasText: '2 people' }).first().waitFor();
    if (!(await labelShown(nvimA.username))) throw new Error(`${nvimA.username}'s cursor went too`);
    return `${nvimB.username} left: gone from VS Code and Neovim A; ${nvimA.username} still shown`;
  });

  await step('end-session', async () => {
    await until(`VS Code to draw ${nvimA.username}'s cursor before the end`, () => labelShown(nvimA.username));
    await palette('CodeForge: End Collaboration Session');
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor();
    await dialog.locator('.monaco-button', { hasText: 'End Session' }).click();
    await page.locator('.statusbar-item', { hasText: 'Pairing on notes' }).first().waitFor({ state: 'hidden' });
    await until('Neovim A to be out of the session', async () => {
      const state = await nvimA.call('state_of');
      return state && !state.session;
    });
    await until(`VS Code to remove ${nvimA.username}'s cursor`, async () => !(await labelShown(nvimA.username)));
    return 'the status item is gone; Neovim A was told the session ended';
  });

  await step('invitations-never-logged', async () => {
    const secrets = [TOKEN, ...invitations];
    // The token inside each link too (its longest run of token-like characters).
    for (const link of invitations) {
      const longest = (link.match(/[A-Za-z0-9_-]{16,}/g) ?? []).sort((x, y) => y.length - x.length)[0];
      if (longest) secrets.push(longest);
    }
    const toasts = (await page.locator('.notification-toast').allInnerTexts()).join('\n');
    const sources = [
      ['a notification', toasts],
      ['the status bar', await page.locator('.statusbar').innerText()],
      ...filesUnder(LOG_FILES_DIR).map((f) => [f, readFileSync(f, 'utf-8')]),
      ...env('NVIM_LOGS')
        .split(':')
        .map((f) => [f, readFileSync(f, 'utf-8')]),
    ];
    for (const [where, text] of sources) {
      if (secrets.some((s) => text.includes(s))) throw new Error(`an invitation or the token shows in ${where}`);
    }
    return `${sources.length} places checked for ${secrets.length} secrets`;
  });
} finally {
  await context.close();
}
