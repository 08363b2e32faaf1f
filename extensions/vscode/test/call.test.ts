// Calls' rules (src/call/model.ts): the server's call state checked (bad entries dropped, colours
// safe for CSS), the webview's messages checked (anything else dropped), device messages that
// name the device and what to do, the status text and talking marks, secrets scrubbed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  callColor,
  callCsp,
  callMarks,
  callStatusText,
  deviceMessage,
  DEVICES,
  me,
  parseCall,
  parseCallNotification,
  parseFromWebview,
  parseIceServers,
  parseJoin,
  scrubCallText,
  talkingMark,
} from '../src/call/model';

const CALL = {
  session: 's1',
  state: 'active',
  started_at: '2026-11-30T05:00:00Z',
  participants: [
    { username: 'ann', name: 'Ann', color: '#E6194B', role: 'driver', host: true, muted: false, muted_by_host: false, talking: true, sharing: null, watching: null, joined_at: 'x' },
    { username: 'bo', name: 'Bo', color: 'red;background:url(x)', role: 'navigator', host: false, muted: true, muted_by_host: true, talking: true, sharing: 'screen', watching: 'ann', joined_at: 'x' },
    { username: 'cy', role: 'wizard' },
    { name: 'no username' },
    'junk',
  ],
};

describe('call state', () => {
  it('parses the contract shape and drops what is not a participant', () => {
    const call = parseCall(CALL);
    assert.ok(call);
    assert.equal(call.session, 's1');
    assert.equal(call.state, 'active');
    assert.deepEqual(
      call.participants.map((p) => p.username),
      ['ann', 'bo', 'cy'],
    );
    const [ann, bo, cy] = call.participants;
    assert.equal(ann.color, '#e6194b');
    assert.equal(ann.host, true);
    assert.equal(bo.color, '#888888', 'a colour that is not #rrggbb never reaches CSS');
    assert.equal(bo.mutedByHost, true);
    assert.equal(bo.sharing, 'screen');
    assert.equal(bo.watching, 'ann');
    assert.equal(cy.role, 'guest', 'an unknown role is the least: guest');
    assert.equal(cy.name, 'cy');
  });

  it('reads the notification: a call, none, or not one', () => {
    assert.deepEqual(parseCallNotification({ call: null }), { call: null });
    assert.equal(parseCallNotification({ call: CALL })?.call?.participants.length, 3);
    assert.equal(parseCallNotification({}), undefined);
    assert.equal(parseCallNotification({ call: { participants: [] } }), undefined);
    assert.equal(parseCallNotification('x'), undefined);
    assert.equal(parseCall({ ...CALL, state: 'ended' })?.state, 'ended');
  });

  it('takes a join result only with an SDP answer', () => {
    assert.equal(parseJoin({ sdp: 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\n', iceServers: [], call: CALL })?.call?.session, 's1');
    assert.equal(parseJoin({ sdp: 'hello' }), undefined);
    assert.equal(parseJoin({ call: CALL }), undefined);
    assert.equal(parseJoin(null), undefined);
  });

  it('finds us by username', () => {
    const call = parseCall(CALL);
    assert.equal(me(call, 'bo')?.name, 'Bo');
    assert.equal(me(call, 'zed'), undefined);
    assert.equal(me(call, undefined), undefined);
    assert.equal(me(null, 'bo'), undefined);
  });

  it('keeps colours to #rrggbb', () => {
    assert.equal(callColor('#A0b1C2'), '#a0b1c2');
    for (const bad of ['#abc', 'red', 'url(javascript:x)', 12, null, '#a0b1c2;x']) assert.equal(callColor(bad), '#888888');
  });
});

describe('webview messages', () => {
  it('accepts the protocol', () => {
    assert.deepEqual(parseFromWebview({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parseFromWebview({ type: 'offer', sdp: 'v=0...' }), { type: 'offer', sdp: 'v=0...' });
    assert.deepEqual(parseFromWebview({ type: 'mute', muted: true }), { type: 'mute', muted: true });
    assert.deepEqual(parseFromWebview({ type: 'mute', muted: true, username: 'bo' }), { type: 'mute', muted: true, username: 'bo' });
    assert.deepEqual(parseFromWebview({ type: 'share', kind: 'screen' }), { type: 'share', kind: 'screen' });
    assert.deepEqual(parseFromWebview({ type: 'share', kind: null }), { type: 'share', kind: null });
    assert.deepEqual(parseFromWebview({ type: 'watch', username: null }), { type: 'watch', username: null });
    assert.deepEqual(parseFromWebview({ type: 'device', device: 'microphone', error: 'NotAllowedError' }), { type: 'device', device: 'microphone', error: 'NotAllowedError' });
    assert.deepEqual(parseFromWebview({ type: 'stats', stats: { inBytes: 10, inLevel: 0.5, inEnergy: 'x', outBytes: -1 } }), {
      type: 'stats',
      stats: { inBytes: 10, inLevel: 0.5, inEnergy: 0, outBytes: 0, videoFrames: 0 },
    });
  });

  it('drops anything else', () => {
    for (const bad of [
      null,
      'offer',
      [],
      { type: 'token' },
      { type: 'offer' },
      { type: 'offer', sdp: 'x'.repeat(200_001) },
      { type: 'mute', muted: 'yes' },
      { type: 'share', kind: 'window' },
      { type: 'watch', username: 3 },
      { type: 'device', device: 'keyboard', error: 'x' },
      { type: 'stats', stats: 5 },
    ]) {
      assert.equal(parseFromWebview(bad), undefined, JSON.stringify(bad)?.slice(0, 60));
    }
  });
});

describe('device messages', () => {
  it('name the device and say what to do', () => {
    for (const device of DEVICES) {
      for (const error of ['NotAllowedError', 'NotFoundError', 'NotReadableError', 'Unsupported', 'InvalidStateError', 'Weird']) {
        const text = deviceMessage(device, error);
        assert.match(text, device === 'screen' ? /screen/i : new RegExp(device), text);
        assert.match(text, /press|use|choose|allow/i, `no next step in: ${text}`);
      }
    }
    assert.match(deviceMessage('microphone', 'NotAllowedError'), /blocked.*listener.*Allow the microphone.*Rejoin/);
    assert.match(deviceMessage('microphone', 'NotFoundError'), /No microphone was found/);
    assert.match(deviceMessage('screen', 'NotAllowedError'), /Screen capture was refused/);
    assert.match(deviceMessage('camera', 'Unsupported'), /codeforge call/);
  });
});

describe('the desktop app', () => {
  it('says the app forbids the device (no setting can allow it) and offers codeforge call', () => {
    for (const device of DEVICES) {
      const text = deviceMessage(device, 'NotAllowedError', 'desktop');
      assert.match(text, /desktop app does not let/, text);
      assert.match(text, /codeforge call/, text);
    }
    // A missing device is missing everywhere.
    assert.match(deviceMessage('microphone', 'NotFoundError', 'desktop'), /No microphone was found/);
  });
});

describe('ICE servers and the page', () => {
  it('takes ICE servers only as a browser takes them', () => {
    assert.deepEqual(
      parseIceServers([
        { urls: 'stun:127.0.0.1:3478' },
        { urls: ['turn:h:3478?transport=udp', 'javascript:alert(1)'], username: 'u', credential: 'c' },
        { urls: 'http://x' },
        { urls: 5 },
        'junk',
      ]),
      [{ urls: ['stun:127.0.0.1:3478'] }, { urls: ['turn:h:3478?transport=udp'], username: 'u', credential: 'c' }],
    );
    assert.deepEqual(parseIceServers(undefined), []);
  });

  it('has a strict CSP: our script by nonce, no inline, no eval, no network', () => {
    const csp = callCsp('https://*.vscode-cdn.net', 'abc123');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc123'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|connect-src|\*;/);
  });
});

describe('lists', () => {
  const call = parseCall(CALL);
  it('marks talking, muted and sharing (muted never talks)', () => {
    assert.ok(call);
    assert.equal(callMarks(call.participants[0]), 'talking');
    assert.equal(callMarks(call.participants[1]), 'muted by the host, sharing screen');
    assert.equal(callMarks(call.participants[2]), '');
    assert.equal(talkingMark(call, 'ann'), '$(megaphone)');
    assert.equal(talkingMark(call, 'bo'), '$(mute)');
    assert.equal(talkingMark(call, 'cy'), '$(unmute)');
    assert.equal(talkingMark(call, 'zed'), '');
    assert.equal(talkingMark(null, 'ann'), '');
  });

  it('status: hidden without a call, who talks, join or show', () => {
    assert.equal(callStatusText(null, 'ann', false).text, '');
    assert.equal(callStatusText(parseCall({ ...CALL, state: 'ended' }), 'ann', false).text, '');
    const out = callStatusText(call, 'cy', false);
    assert.equal(out.text, '$(call-incoming) 3 in call · Ann talking');
    assert.match(out.tooltip, /Click to join/);
    assert.match(out.tooltip, /Bo — muted by the host, sharing screen/);
    assert.match(callStatusText(call, 'bo', true).text, /^\$\(mute\)/);
    assert.match(callStatusText(call, 'ann', true).tooltip, /Click to show/);
  });
});

describe('secrets', () => {
  it('scrubs TURN credentials, tokens and ICE passwords', () => {
    const text = scrubCallText(
      'failed: {"urls":"turn:h:3478","username":"u","credential":"s3cr3t"} password=hunter2 a=ice-pwd:abcdefgh ?token=tok123&x=1 Bearer cf_abc',
    );
    for (const secret of ['s3cr3t', 'hunter2', 'abcdefgh', 'tok123', 'cf_abc']) assert.ok(!text.includes(secret), `${secret} in ${text}`);
    assert.ok(text.includes('turn:h:3478'));
  });
});
