// Collaboration's rules (src/collab/model.ts): the server's notifications checked (bad ones
// refused, hostile colours never reaching CSS), the status bar, what each palette command asks,
// participants to pick, invitations kept out of messages, presence marks and the cursor throttle.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  asksFor,
  checkInvitation,
  COMMANDS,
  contrastText,
  cursorParams,
  describeParticipants,
  isCollabCommand,
  labelOf,
  OUT_OF_SESSION,
  parseComments,
  parseConflict,
  parseInvitation,
  parsePresence,
  parseState,
  participantChoices,
  presenceMarks,
  safeColor,
  sameCursor,
  scrubSecrets,
  statusView,
  threadLabel,
  Throttle,
  type Timers,
  withAlpha,
} from '../src/collab/model';

const STATE = {
  session: '3f2a9c1e5b7d4e2f8a9b0c1d2e3f4a5b',
  title: 'Checkout bug',
  role: 'navigator',
  mode: 'pair',
  driver: 'ana',
  host: 'ana',
  mayEdit: false,
  following: 'ana',
  participants: [
    { username: 'ana', name: 'Ana Lima', color: '#E6194B', role: 'driver' },
    { username: 'bo', name: 'Bo', color: '#3cb44b', role: 'navigator' },
    { username: 'cy', name: 'Cy', color: '#4363d8', role: 'guest' },
  ],
};

describe('the state notification', () => {
  it('reads a session, lower-casing colours', () => {
    const state = parseState(STATE);
    assert.ok(state);
    assert.equal(state.session, STATE.session);
    assert.equal(state.mode, 'pair');
    assert.equal(state.mayEdit, false);
    assert.deepEqual(state.participants[0], { username: 'ana', name: 'Ana Lima', color: '#e6194b', role: 'driver' });
  });

  it('reads {session: null} as out of a session', () => {
    assert.deepEqual(parseState({ session: null }), OUT_OF_SESSION);
  });

  it('refuses what is not a state, and drops participants without a username', () => {
    assert.equal(parseState('nope'), undefined);
    assert.equal(parseState([STATE]), undefined);
    assert.equal(parseState({ session: 42 }), undefined);
    const state = parseState({ ...STATE, mode: 'chaos', role: 'king', participants: [{ name: 'nobody' }, { username: 'bo', role: 'admin' }] });
    assert.ok(state);
    assert.equal(state.mode, undefined);
    assert.equal(state.role, undefined);
    // An unknown role is read as the least privileged one, never as more.
    assert.deepEqual(state.participants, [{ username: 'bo', name: 'bo', color: safeColor(undefined, 'bo'), role: 'guest' }]);
  });
});

describe('colours', () => {
  it('keep #rgb and #rrggbb, and replace anything else with a stable palette colour', () => {
    assert.equal(safeColor('#ABC', 'x'), '#aabbcc');
    assert.equal(safeColor(' #a1B2c3 ', 'x'), '#a1b2c3');
    for (const hostile of ['red; background: url(http://evil)', '#12345g', 'rgb(1,2,3)', '', 7, null, '#1234']) {
      const color = safeColor(hostile, 'ana');
      assert.match(color, /^#[0-9a-f]{6}$/, String(hostile));
      assert.equal(color, safeColor(hostile, 'ana'));
    }
  });

  it('give selection backgrounds with alpha and a readable label text', () => {
    assert.equal(withAlpha('#ff8000', 0.25), 'rgba(255, 128, 0, 0.25)');
    assert.equal(contrastText('#ffffff'), '#000000');
    assert.equal(contrastText('#000080'), '#ffffff');
    assert.equal(contrastText('#ffe119'), '#000000');
  });
});

describe('the status bar', () => {
  it('shows session, role, mode with its driver, and whom you follow', () => {
    const state = parseState(STATE);
    assert.ok(state);
    const view = statusView(state);
    assert.equal(view.text, '$(live-share) Checkout bug · navigator · pair, driver Ana Lima · Following Ana Lima · 3 people');
    assert.equal(view.readOnly, true);
    assert.match(view.tooltip, /You: navigator — read-only/);
    assert.match(view.tooltip, /Ana Lima \(driver, host\), Bo \(navigator\), Cy \(guest\)/);
  });

  it('is empty out of a session, and free mode names no driver', () => {
    assert.equal(statusView(OUT_OF_SESSION).text, '');
    const free = parseState({ ...STATE, mode: 'free', following: undefined, mayEdit: true, title: '' });
    assert.ok(free);
    const view = statusView(free);
    assert.equal(view.text, '$(live-share) session 3f2a9c1e · navigator · free · 3 people');
    assert.equal(view.readOnly, false);
  });
});

describe('presence', () => {
  const VISIBLE = { start: { line: 0, character: 0 }, end: { line: 40, character: 0 } };
  const presence = {
    uri: 'file:///w/app.py',
    participants: [
      {
        ...STATE.participants[1],
        selections: [
          { anchor: { line: 3, character: 9 }, head: { line: 1, character: 2 } },
          { anchor: { line: 5, character: 0 }, head: { line: 5, character: 0 } },
        ],
        visibleRange: VISIBLE,
      },
      { username: 'dee', selections: [{ anchor: { line: -1, character: 0 }, head: { line: 0, character: 0.5 } }] },
      { name: 'no username', selections: [] },
    ],
  };

  it('reads everyone else’s selections, dropping broken positions and nameless people', () => {
    const parsed = parsePresence(presence);
    assert.ok(parsed);
    assert.deepEqual(parsed.participants.map((p) => p.username), ['bo', 'dee']);
    assert.equal(parsed.participants[0].selections.length, 2);
    assert.deepEqual(parsed.participants[0].visibleRange, VISIBLE);
    assert.deepEqual(parsed.participants[1].selections, []);
  });

  it('an empty list is a valid (clearing) presence; a missing one is not', () => {
    assert.deepEqual(parsePresence({ uri: 'file:///w/a', participants: [] }), { uri: 'file:///w/a', participants: [] });
    assert.equal(parsePresence({ uri: 'file:///w/a' }), undefined);
    assert.equal(parsePresence({ participants: [] }), undefined);
  });

  it('draws a backwards selection forwards, and a caret at every head', () => {
    const parsed = parsePresence(presence);
    assert.ok(parsed);
    const marks = presenceMarks(parsed.participants[0]);
    assert.deepEqual(marks.selections, [{ start: { line: 1, character: 2 }, end: { line: 3, character: 9 } }]);
    assert.deepEqual(marks.carets, [
      { line: 1, character: 2 },
      { line: 5, character: 0 },
    ]);
  });

  it('labels a guest as one', () => {
    assert.equal(labelOf({ username: 'cy', name: 'Cy', color: '#000000', role: 'guest' }), 'Cy (guest)');
    assert.equal(labelOf({ username: 'bo', name: 'Bo', color: '#000000', role: 'navigator' }), 'Bo');
  });
});

describe('conflicts and comments', () => {
  it('a conflict needs its id, uri and three texts (an empty text is a text)', () => {
    const conflict = { id: 'c1', uri: 'file:///w/a.py', base: 'a\n', ours: '', theirs: 'b\n' };
    assert.deepEqual(parseConflict(conflict), conflict);
    assert.equal(parseConflict({ ...conflict, theirs: undefined }), undefined);
    assert.equal(parseConflict({ ...conflict, id: '' }), undefined);
  });

  it('threads keep their line and state; broken threads and comments are dropped', () => {
    const parsed = parseComments({
      uri: 'file:///w/a.py',
      threads: [
        { id: 't1', line: 4, state: 'resolved', review: 'r9', comments: [{ author: 'ana', body: 'why?', createdAt: '2026-11-30T00:00:00Z' }, { author: 'bo' }] },
        { id: 7, line: 0, comments: [] },
        { id: 't3', line: -2, comments: [] },
        { line: 1 },
      ],
    });
    assert.ok(parsed);
    assert.deepEqual(parsed.threads, [
      { id: 't1', line: 4, state: 'resolved', review: 'r9', comments: [{ author: 'ana', body: 'why?', createdAt: '2026-11-30T00:00:00Z' }] },
      { id: '7', line: 0, state: 'open', review: undefined, comments: [] },
    ]);
    assert.equal(parseComments({ uri: 'file:///w/a.py', threads: 'x' }), undefined);
  });

  it('a detached thread says why; a review thread names its review', () => {
    const parsed = parseComments({
      uri: 'file:///w/a.py',
      threads: [
        { id: 't1', line: 2, detached: true, note: 'the commented text was deleted', comments: [] },
        { id: 't2', line: 3, review: 'abcdef0123456789', comments: [] },
        { id: 't3', line: 4, detached: 'yes', comments: [] },
      ],
    });
    assert.ok(parsed);
    assert.equal(threadLabel(parsed.threads[0]), 'the commented text was deleted');
    assert.equal(threadLabel(parsed.threads[1]), 'Review abcdef01');
    assert.equal(threadLabel(parsed.threads[2]), undefined);
  });
});

describe('palette commands', () => {
  it('are exactly the server’s collab commands', () => {
    assert.ok(isCollabCommand('codeforge.collab.start'));
    assert.ok(isCollabCommand('codeforge.collab.resolveConflict'));
    assert.ok(!isCollabCommand('codeforge.collab.list'));
    assert.ok(!isCollabCommand('codeforge.collabUi.acceptOurs'));
    assert.ok(!isCollabCommand('codeforge.env.set'));
  });

  it('ask only for what was not given', () => {
    assert.deepEqual(asksFor(COMMANDS.start, {}).map((a) => a.kind), ['title', 'mode']);
    assert.deepEqual(asksFor(COMMANDS.start, { title: '', mode: 'free' }), []);
    assert.deepEqual(asksFor(COMMANDS.invite, {}), [{ kind: 'role', field: 'role', default: 'navigator' }]);
    assert.deepEqual(asksFor(COMMANDS.invite, { role: 'guest' }), []);
    assert.deepEqual(asksFor(COMMANDS.join, {}).map((a) => a.kind), ['invitation']);
    assert.deepEqual(asksFor(COMMANDS.join, { invitation: 'tok' }), []);
    assert.deepEqual(asksFor(COMMANDS.setRole, {}).map((a) => a.kind), ['participant', 'role']);
    assert.deepEqual(asksFor(COMMANDS.setRole, { username: 'bo' }).map((a) => a.kind), ['role']);
    assert.deepEqual(asksFor(COMMANDS.resolveConflict, { id: 'c1' }).map((a) => a.kind), ['choice']);
    assert.deepEqual(asksFor(COMMANDS.leave, {}), []);
    assert.deepEqual(asksFor(COMMANDS.participants, {}), []);
  });

  it('follow with username: null (stop) asks nothing; ending asks for a confirmation', () => {
    assert.deepEqual(asksFor(COMMANDS.follow, { username: null }), []);
    assert.deepEqual(asksFor(COMMANDS.follow, {}).map((a) => a.kind), ['participant']);
    assert.deepEqual(asksFor(COMMANDS.end, {}).map((a) => a.kind), ['confirm']);
    assert.deepEqual(asksFor(COMMANDS.end, { confirmed: true }), []);
  });

  it('pick among the others: never yourself, no guest to hand over to, stop following first', () => {
    const state = parseState(STATE);
    assert.ok(state);
    const follow = participantChoices(state, 'follow', 'bo');
    assert.deepEqual(follow.map((c) => c.username), [null, 'ana', 'cy']);
    assert.match(follow[1].description, /ana · driver · driving · host/);
    // Ana drives: she may hand over to Bo (not to the guest); Bo, not driving, may take it.
    assert.deepEqual(participantChoices(state, 'handover', 'ana').map((c) => c.username), ['bo']);
    const handover = participantChoices(state, 'handover', 'bo');
    assert.deepEqual(handover.map((c) => [c.username, c.label]), [['bo', 'Bo (you)']]);
    assert.deepEqual(participantChoices(state, 'setRole', 'ana').map((c) => c.username), ['bo', 'cy']);
    assert.deepEqual(participantChoices(OUT_OF_SESSION, 'follow', 'ana'), []);
  });

  it('list participants with their file and line (1-based for people)', () => {
    const rows = describeParticipants([
      { username: 'ana', name: 'Ana', role: 'driver', file: 'src/app.py', line: 9 },
      { username: 'bo', role: 'guest' },
      { bogus: true },
    ]);
    assert.deepEqual(
      rows.map((r) => [r.label, r.description]),
      [
        ['Ana', 'driver · src/app.py:10'],
        ['bo', 'guest · no file open'],
      ],
    );
    assert.equal(describeParticipants({ participants: [{ username: 'x' }] }).length, 1);
    assert.deepEqual(describeParticipants('nope'), []);
  });
});

describe('invitations', () => {
  const TOKEN = 'cfi_9f8e7d6c5b4a39281706f5e4d3c2b1a0';

  it('refuse what cannot be one, without repeating it', () => {
    assert.match(checkInvitation('   ') ?? '', /Paste the invitation/);
    const error = checkInvitation(`${TOKEN} and more`) ?? '';
    assert.match(error, /without spaces/);
    assert.ok(!error.includes(TOKEN));
    assert.match(checkInvitation('x'.repeat(5000)) ?? '', /too long/);
    assert.equal(checkInvitation(` https://cf.example/collab/join?token=${TOKEN} `), undefined);
  });

  it('the invite result needs a link and a token', () => {
    assert.deepEqual(parseInvitation({ link: 'https://x/j', token: TOKEN, role: 'guest', expiresAt: '2026-12-01T00:00:00Z' }), {
      link: 'https://x/j',
      token: TOKEN,
      role: 'guest',
      expiresAt: '2026-12-01T00:00:00Z',
    });
    assert.equal(parseInvitation({ link: 'https://x/j' }), undefined);
    assert.equal(parseInvitation(null), undefined);
  });

  it('are scrubbed from messages, as given and as a query parameter', () => {
    const message = `invitation ${TOKEN} expired (https://cf.example/collab/join?token=${TOKEN}&x=1, codeforge://join#invitation=abcdef)`;
    const out = scrubSecrets(message, [TOKEN, undefined, '']);
    assert.ok(!out.includes(TOKEN), out);
    assert.ok(!out.includes('abcdef'), out);
    assert.match(out, /token=••••&x=1/);
  });
});

describe('the cursor notification', () => {
  it('carries the visible range only when there is one, and repeats are recognised', () => {
    const sel = [{ anchor: { line: 1, character: 2 }, head: { line: 1, character: 4 } }];
    assert.deepEqual(cursorParams('file:///w/a', sel), { uri: 'file:///w/a', selections: sel });
    const withRange = cursorParams('file:///w/a', sel, { start: { line: 0, character: 0 }, end: { line: 9, character: 0 } });
    assert.ok('visibleRange' in withRange);
    assert.ok(sameCursor(withRange, cursorParams('file:///w/a', sel, { start: { line: 0, character: 0 }, end: { line: 9, character: 0 } })));
    assert.ok(!sameCursor(undefined, withRange));
    assert.ok(!sameCursor(withRange, cursorParams('file:///w/a', sel)));
  });

  it('is throttled: the first at once, then only the latest of a burst when the window closes', () => {
    const pending: (() => void)[] = [];
    const timers: Timers = { set: (c) => pending.push(c), clear: () => pending.splice(0) };
    const sent: number[] = [];
    const throttle = new Throttle<number>(50, (v) => sent.push(v), timers);
    throttle.push(1);
    throttle.push(2);
    throttle.push(3);
    assert.deepEqual(sent, [1]);
    pending.shift()?.();
    assert.deepEqual(sent, [1, 3]);
    // The window opened by 3 closes with nothing new: nothing more is sent.
    pending.shift()?.();
    assert.deepEqual(sent, [1, 3]);
    throttle.push(4);
    assert.deepEqual(sent, [1, 3, 4]);
    throttle.push(5);
    throttle.dispose();
    assert.equal(pending.length, 0);
    assert.deepEqual(sent, [1, 3, 4]);
  });
});
