// The call journey: a real VS Code (code-server) with the CodeForge extension, connected through
// `codeforge connect` to a real `codeforge bridge`, starts a collaboration session and joins its
// call in the call panel (the webview's own WebRTC; Chromium's fake microphone and camera and its
// fake capture prompt), together with two aiortc peers (CallClient) that
// tests/extensions/test_call_e2e.py runs. The peers hear VS Code's microphone (Python checks the
// fake microphone's beep in what they recorded); VS Code receives their audio (the webview's
// getStats), marks who talks, shares its screen to a peer that watches, watches a peer's share, mutes, leaves, rejoins
// and ends the call for everyone. Then a
// second browser without the fake capture prompt (headless: every prompt is dismissed) shows the
// explicit message for a forbidden microphone.
//
// The test and this script talk in lines: this prints `@@ EVENT`, the test answers a word on
// stdin when its side is done. Environment: CODE_SERVER_URL, LOCAL_DIR, ARTIFACTS_DIR,
// BROWSER_PROFILE, BRIDGE_HOST, PEER_A, PEER_B. Each step prints one line; exit status 0 when all passed.
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { environment, openBrowser, screenshots } from './harness.mjs';

const env = environment('tests/extensions/test_call_e2e.py');
const URL_BASE = env('CODE_SERVER_URL');
const LOCAL = env('LOCAL_DIR');
const ARTIFACTS = env('ARTIFACTS_DIR');
const HOST = env('BRIDGE_HOST');
const PEER_A = env('PEER_A');
const PEER_B = env('PEER_B');
const STEP_TIMEOUT = 60_000;
const TITLE = 'Call journey';

// ---- talking with the test -------------------------------------------------------------------
const lines = createInterface({ input: process.stdin });
const waiting = [];
const arrived = [];
lines.on('line', (line) => {
  const next = waiting.shift();
  if (next) next(line.trim());
  else arrived.push(line.trim());
});
function tell(event, detail = '') {
  console.log(`@@ ${event}${detail ? ` ${detail}` : ''}`);
}
/** The test's next word (it must be `word`). */
async function answer(word) {
  const line = arrived.length ? arrived.shift() : await new Promise((resolve) => waiting.push(resolve));
  if (line !== word) throw new Error(`the test said ${JSON.stringify(line)}, expected ${word}`);
}

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
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message ?? last})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// ---- VS Code ---------------------------------------------------------------------------------
// The issue's fake devices: a microphone that beeps, a camera and screen that draw frames, and
// capture prompts answered "allow".
const { context, page } = await openBrowser(env('BROWSER_PROFILE'), {
  timeout: STEP_TIMEOUT,
  args: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});

// As the call is at that moment: no waiting for animations.
const shot = screenshots(ARTIFACTS, page, { settled: false });

async function step(name, body, on = page) {
  const started = Date.now();
  try {
    const detail = await body();
    const path = await shot(name, on);
    console.log(`ok ${name} (${Date.now() - started} ms) ${path}${detail ? ` — ${String(detail).replace(/\s+/g, ' ')}` : ''}`);
  } catch (error) {
    await shot(`${name}-FAILED`, on).catch(() => undefined);
    const toasts = await on.locator('.notification-toast').allInnerTexts().catch(() => []);
    console.log(`# notifications at failure: ${toasts.join(' | ').replace(/\s+/g, ' ')}`);
    const panel = await callFrame(on, 1000).catch(() => undefined);
    if (panel) console.log(`# call panel at failure: ${(await panel.locator('body').innerText().catch(String)).replace(/\s+/g, ' ')}`);
    console.log(`not ok ${name}: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

function quick(on) {
  const widget = on.locator('.quick-input-widget');
  return { widget, box: widget.locator('input.input') };
}

async function palette(title, on = page) {
  const { widget, box } = quick(on);
  for (let attempt = 1; ; attempt++) {
    await on.keyboard.press('Escape');
    await on.keyboard.press('F1');
    if (await box.waitFor({ state: 'visible', timeout: 15_000 }).then(() => true, () => false)) break;
    if (attempt === 4) throw new Error('the command palette did not open');
  }
  await box.fill(`>${title}`);
  const row = widget.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
  await row.waitFor({ state: 'visible' });
  for (let i = 0; i < 20 && !(await row.evaluate((el) => el.classList.contains('focused'))); i++) await on.keyboard.press('ArrowDown');
  await on.keyboard.press('Enter');
}

/** The call panel's page (the webview's inner frame holding #people). */
async function callFrame(on = page, timeout = STEP_TIMEOUT) {
  return until(
    'the call panel',
    async () => {
      for (const frame of on.frames()) {
        if (!frame.url().includes('/webview/')) continue;
        if ((await frame.locator('#people').count().catch(() => 0)) > 0) return frame;
      }
      return undefined;
    },
    timeout,
  );
}

async function stats(frame) {
  return frame.locator('#stats').evaluate((el) => ({ ...el.dataset }));
}

let panel;
try {
  await step('open', async () => {
    await page.goto(`${URL_BASE}/?folder=${encodeURIComponent(LOCAL)}`);
    await page.locator('.monaco-workbench .statusbar').waitFor();
    await page.locator('.statusbar-item', { hasText: HOST }).filter({ has: page.locator('.codicon-remote') }).first().waitFor();
    return 'VS Code connected to the bridge through codeforge connect';
  });

  await step('start-session', async () => {
    await palette('CodeForge: Start Collaboration Session');
    const { widget, box } = quick(page);
    await widget.locator('.quick-input-title', { hasText: 'Start a Collaboration Session' }).waitFor();
    await box.fill(TITLE);
    await page.keyboard.press('Enter');
    const row = widget.locator('.quick-input-list .monaco-list-row', { has: page.locator('.label-name', { hasText: /^free$/ }) }).first();
    await row.waitFor({ state: 'visible' });
    await page.keyboard.press('Enter');
    await page.locator('.statusbar-item', { hasText: TITLE }).first().waitFor();
    // The test invites the peers; they join the session, then its call.
    tell('session-started');
    await answer('peers-in');
    return 'session started; both aiortc peers are in its call';
  });

  await step('join-call', async () => {
    await palette('CodeForge: Join Call');
    panel = await callFrame();
    const people = panel.locator('#people li');
    await until('three people in the call panel', async () => (await people.count()) === 3);
    await panel.locator('#phase', { hasText: /^In the call$/ }).waitFor();
    const names = await people.evaluateAll((items) => items.map((li) => li.dataset.username));
    for (const peer of [PEER_A, PEER_B]) if (!names.includes(peer)) throw new Error(`${peer} is not in the panel's list: ${names}`);
    if (!(await panel.locator('#mute').isEnabled())) throw new Error('Mute is disabled: the microphone did not open');
    tell('vscode-joined');
    return `in the call with ${names.join(', ')}`;
  });

  await step('hears-the-peers', async () => {
    // PEER_A sends a steady tone: the mix reaches the webview and plays.
    const seen = await until('the call audio to reach the webview', async () => {
      const s = await stats(panel);
      return Number(s.inBytes) > 20_000 && Number(s.inEnergy) > 0.05 && Number(s.outBytes) > 10_000 ? s : undefined;
    });
    // Talking marks: the peer with the tone, in the panel and in the status bar.
    await panel.locator(`#people li.talking[data-username="${PEER_A}"]`).waitFor();
    await page.locator('.statusbar-item', { hasText: `${PEER_A}` }).filter({ hasText: 'talking' }).first().waitFor();
    const play = await panel.locator('#play').isVisible();
    await answer('heard');
    return `webview stats: received ${seen.inBytes} B of audio (level ${Number(seen.inLevel).toFixed(2)}, energy ${Number(seen.inEnergy).toFixed(2)}), sent ${seen.outBytes} B${play ? '; autoplay was held back (Play Sound shown)' : ''}; ${PEER_A} marked talking`;
  });

  await step('share-screen', async () => {
    await panel.locator('#share-screen').click();
    await panel.locator('#stop-share').waitFor({ state: 'visible' });
    await panel.locator(`#people li[data-username] .marks`, { hasText: 'sharing screen' }).first().waitFor();
    tell('sharing');
    await answer('watched');
    return `getDisplayMedia gave a track, replaceTrack on the share sender, ${PEER_B} watches it`;
  });

  await step('watch-a-share', async () => {
    const select = panel.locator('#watch');
    await until(`${PEER_A}'s share in the list`, async () => (await select.locator(`option[value="${PEER_A}"]`).count()) > 0);
    await select.selectOption(PEER_A);
    await panel.locator('#watch-video').waitFor({ state: 'visible' });
    await panel.locator('#watch-caption', { hasText: `${PEER_A}'s screen` }).waitFor();
    const seen = await until(`frames of ${PEER_A}'s share decoded in the webview`, async () => {
      const s = await stats(panel);
      if (Number(s.videoFrames) > 10) return s;
      throw new Error(`the webview's video: ${s.videoFrames ?? 0} frames decoded, ${s.video}`);
    });
    tell('watching');
    await answer('watch-seen');
    return `watching ${PEER_A}'s screen: ${seen.videoFrames} frames decoded`;
  });

  await step('call-panel', async () => {
    // The screenshot the issue asks for: everyone in the call, who talks, our share.
    await panel.locator(`#people li.talking[data-username="${PEER_A}"]`).waitFor();
    await panel.locator('#own-video').waitFor({ state: 'visible' });
    return 'screenshot of the call panel';
  });

  await step('mute', async () => {
    await panel.locator('#stop-share').click();
    await panel.locator('#stop-share').waitFor({ state: 'hidden' });
    await panel.locator('#mute').click();
    await panel.locator('#people li.muted .name', { hasText: '(you)' }).waitFor();
    await panel.locator('#mute', { hasText: 'Unmute' }).waitFor();
    tell('muted');
    await answer('mute-seen');
    return 'share stopped; muted in the panel and for the peers';
  });

  await step('leave', async () => {
    await panel.locator('#leave').click();
    await panel.locator('#rejoin').waitFor({ state: 'visible' });
    await until('two people left in the list', async () => (await panel.locator('#people li').count()) === 2);
    tell('left');
    await answer('left-seen');
    return 'left; the peers saw it';
  });

  await step('rejoin-and-end', async () => {
    await panel.locator('#rejoin').click();
    await until('three people in the call again', async () => (await panel.locator('#people li').count()) === 3);
    await panel.locator('#phase', { hasText: /^In the call$/ }).waitFor();
    await panel.locator('#end').click();
    const dialog = page.locator('.monaco-dialog-box');
    await dialog.waitFor();
    await dialog.locator('.monaco-button', { hasText: 'End Call' }).first().click();
    await panel.locator('#rejoin').waitFor({ state: 'visible' });
    tell('ended');
    await answer('ended-seen');
    return `rejoined, then ended the call for everyone: ${(await panel.locator('#phase').innerText()).trim()}`;
  });

  // A browser whose capture prompts are dismissed (no fake prompt): the microphone is forbidden.
  const { context: denied, page: other } = await openBrowser(`${env('BROWSER_PROFILE')}-denied`, {
    timeout: STEP_TIMEOUT,
    args: ['--use-fake-device-for-media-stream'],
  });
  try {
    await step(
      'microphone-forbidden',
      async () => {
        await other.goto(`${URL_BASE}/?folder=${encodeURIComponent(LOCAL)}`);
        await other.locator('.monaco-workbench .statusbar').waitFor();
        await other.locator('.statusbar-item', { hasText: HOST }).filter({ has: other.locator('.codicon-remote') }).first().waitFor();
        await palette('CodeForge: Join Call', other);
        const frame = await callFrame(other);
        const message = frame.locator('#messages [data-key="device-microphone"]');
        await message.waitFor();
        const text = (await message.innerText()).trim();
        if (!/microphone/.test(text) || !/Allow the microphone/.test(text)) throw new Error(`the message does not name the device and the fix: ${text}`);
        await other.locator('.notification-toast', { hasText: 'microphone' }).first().waitFor();
        return text;
      },
      other,
    );
  } finally {
    await denied.close();
  }
} finally {
  lines.close();
  await context.close();
}
