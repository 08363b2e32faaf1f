// Agents' next steps (src/agents/model.ts): a run command's answer checked (anything else ignored),
// the buttons for where the person is, and the notification's text.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nextSteps, offersNextSteps, parseRunAnswer, RUN_COMMANDS, runMessage } from '../src/agents/model';

const RUN = '0123456789abcdef0123456789abcdef';
const answer = { run: RUN, agent: 'bug_fixer', applied: true, files: ['calc.py'], cost_usd: 1.26094, summary: 'it adds now' };
const fresh = { saved: false, undone: false, transcriptShown: false };

describe('agent runs', () => {
  it('reads a run command answer and refuses anything else', () => {
    assert.deepEqual(parseRunAnswer({ ...answer, extra: 1 }), answer);
    assert.equal(parseRunAnswer(undefined), undefined);
    assert.equal(parseRunAnswer({ ...answer, run: 'not-a-run' }), undefined);
    assert.equal(parseRunAnswer({ ...answer, agent: 3 }), undefined);
    const odd = parseRunAnswer({ run: RUN, agent: 'x', files: ['a.py', 7], cost_usd: Number.NaN });
    assert.deepEqual(odd, { run: RUN, agent: 'x', applied: false, files: ['a.py'], cost_usd: 0, summary: '' });
    assert.ok(RUN_COMMANDS.has('codeforge.agents.fix') && !RUN_COMMANDS.has('codeforge.agents.undo'));
  });

  it('offers save and undo only for an applied change, each once', () => {
    assert.deepEqual(nextSteps(answer, fresh), ['Save', 'Undo', 'Show Transcript']);
    assert.deepEqual(nextSteps(answer, { ...fresh, saved: true, transcriptShown: true }), ['Undo']);
    assert.deepEqual(nextSteps(answer, { saved: false, undone: true, transcriptShown: true }), ['Save']);
    assert.deepEqual(nextSteps({ ...answer, applied: false }, fresh), ['Show Transcript']);
    assert.deepEqual(nextSteps({ ...answer, applied: false }, { ...fresh, transcriptShown: true }), []);
    assert.equal(offersNextSteps({ ...answer, files: [] }), false);
  });

  it('says what happened, the cost and whether to save', () => {
    assert.equal(runMessage(answer, fresh), 'CodeForge: bug_fixer (run 01234567, $1.2609) changed calc.py; save to keep it. it adds now.');
    assert.match(runMessage(answer, { ...fresh, saved: true }), /changed calc\.py, saved\./);
    assert.match(runMessage(answer, { ...fresh, undone: true }), /undone in calc\.py; save to keep it/);
    assert.match(runMessage({ ...answer, applied: false }, fresh), /was not applied; no file changed/);
    const many = runMessage({ ...answer, files: ['a', 'b', 'c', 'd', 'e'] }, fresh);
    assert.match(many, /changed a, b, c and 2 more/);
  });
});
