import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adviseOnError, adviseOnStartFailure, isInvalidParams, isPlatformDown, shortenIds } from '../src/errors';
import { collectArguments, confirmationText, fieldOfError, type InputRequest, type PickItem, type PromptUi } from '../src/prompt';
import { childrenOf, describeItem, forLog, paneUrl, summarize } from '../src/results';
import { ENV_IMPORT, ENV_SET, JOBS_LIST, MEMBERS_ADD, op, TOKENS_CREATE } from './fixtures';

type Answer = string | undefined | { pick: string } | { file: string; content: string };

/**
 * A UI that answers from a script, like a person typing, and keeps a transcript. Like VS Code's
 * input box, it calls `validate` on Enter and, when that refuses the text, takes the next answer
 * from the script without closing the box.
 */
class ScriptedUi implements PromptUi {
  readonly transcript: string[] = [];
  constructor(private readonly answers: Answer[]) {}

  private next(): Answer {
    assert.ok(this.answers.length > 0, `the prompts asked more than the script answers:\n${this.transcript.join('\n')}`);
    return this.answers.shift();
  }

  async input(request: InputRequest): Promise<string | undefined> {
    this.transcript.push(`input ${request.title} | ${request.prompt}${request.password ? ' [password]' : ''}${request.value ? ` = ${request.value}` : ''}`);
    for (;;) {
      const answer = this.next();
      if (answer !== undefined && typeof answer !== 'string') {
        throw new Error(`expected text for ${request.prompt}, script has ${JSON.stringify(answer)}`);
      }
      if (answer === undefined) {
        return undefined;
      }
      const error = request.validate(answer);
      if (!error) {
        return answer;
      }
      this.transcript.push(`refused ${JSON.stringify(answer)}: ${error}`);
    }
  }

  async pick(title: string, placeholder: string, items: PickItem[]): Promise<PickItem | undefined> {
    this.transcript.push(`pick ${title} | ${items.map((i) => i.label).join(',')}`);
    const answer = this.next();
    if (answer === undefined) {
      return undefined;
    }
    const label = typeof answer === 'object' && 'pick' in answer ? answer.pick : undefined;
    const item = items.find((i) => i.label === label);
    assert.ok(item, `no choice ${JSON.stringify(answer)} in ${placeholder}`);
    return item;
  }

  async pickFile(title: string, hint: string): Promise<{ path: string; content: string } | undefined> {
    this.transcript.push(`file ${title} (${hint})`);
    const answer = this.next();
    if (answer === undefined) {
      return undefined;
    }
    assert.ok(typeof answer === 'object' && 'file' in answer, `expected a file, script has ${JSON.stringify(answer)}`);
    return { path: answer.file, content: answer.content };
  }

  refused(message: string): void {
    this.transcript.push(`refused: ${message}`);
  }
}

describe('collectArguments', () => {
  it('asks every non-context field, refusing a wrong entry and asking again', async () => {
    const ui = new ScriptedUi(['9lives', 'API_KEY', { pick: 'true' }, 's3cret']);
    const args = await collectArguments(ui, op('env.set', ENV_SET));
    assert.deepEqual(args, { name: 'API_KEY', secret: true, value: 's3cret' });
    assert.ok(ui.transcript.some((l) => l.startsWith('refused "9lives": name must match')), ui.transcript.join('\n'));
    assert.ok(!ui.transcript.some((l) => l.includes('project')), 'context field was asked');
  });

  it('asks whether a value is secret before the value, and hides only a secret one', async () => {
    const secret = new ScriptedUi(['API_KEY', { pick: 'true' }, 's3cret']);
    await collectArguments(secret, op('env.set', ENV_SET));
    assert.deepEqual(
      secret.transcript.map((l) => l.replace(/ \|.*?(\[password\])?$/, ' $1').trim()),
      ['input Run env.set (1/3)', 'pick Run env.set (2/3)', 'input Run env.set (3/3) [password]'],
    );
    const plain = new ScriptedUi(['LOG_LEVEL', { pick: 'false' }, '  debug ']);
    assert.deepEqual(await collectArguments(plain, op('env.set', ENV_SET)), { name: 'LOG_LEVEL', secret: false, value: 'debug' });
    assert.ok(plain.transcript[2].startsWith('input') && !plain.transcript[2].includes('[password]'), plain.transcript.join('\n'));
  });

  it('keeps given arguments and only asks the rest', async () => {
    const ui = new ScriptedUi([{ pick: 'false' }, 'v']);
    assert.deepEqual(await collectArguments(ui, op('env.set', ENV_SET), { name: 'GIVEN' }), { name: 'GIVEN', secret: false, value: 'v' });
    const secret = new ScriptedUi(['hidden']);
    assert.deepEqual(await collectArguments(secret, op('env.set', ENV_SET), { name: 'GIVEN', secret: true }), { name: 'GIVEN', secret: true, value: 'hidden' });
    assert.ok(secret.transcript[0].endsWith('[password]'));
  });

  it('returns undefined when the person cancels half way', async () => {
    const ui = new ScriptedUi(['OK_NAME', undefined]);
    assert.equal(await collectArguments(ui, op('env.set', ENV_SET)), undefined);
  });

  it('leaves out skipped optional fields so the server default applies', async () => {
    const ui = new ScriptedUi(['ci', '', '']);
    assert.deepEqual(await collectArguments(ui, op('tokens.create', TOKENS_CREATE)), { name: 'ci' });
    assert.ok(ui.transcript.some((l) => l.includes('expires_in_days') && l.endsWith('= 90')), 'default not offered');
  });

  it('re-asks out-of-range and malformed integers', async () => {
    const ui = new ScriptedUi(['ci', '0', 'soon', '7', '']);
    assert.deepEqual(await collectArguments(ui, op('tokens.create', TOKENS_CREATE)), { name: 'ci', expires_in_days: 7 });
    assert.equal(ui.transcript.filter((l) => l.startsWith('refused')).length, 2);
  });

  it('offers enum values, default first, and (none) for optional ones', async () => {
    const ui = new ScriptedUi(['', { pick: 'failed' }, '']);
    // jobs.list's `project` is not a context field there: it is an optional filter.
    const args = await collectArguments(ui, op('jobs.list', JOBS_LIST));
    assert.deepEqual(args, { state: 'failed' });
    const members = new ScriptedUi(['ada', { pick: 'developer' }]);
    assert.deepEqual(await collectArguments(members, op('members.add', MEMBERS_ADD)), { username: 'ada', role: 'developer' });
    assert.match(members.transcript[1], /pick .* \| developer,viewer,admin,owner/);
  });

  it('reads a picked file for x-codeforge-file fields and refuses one over the limit', async () => {
    const ui = new ScriptedUi([{ file: '/p/big.env', content: 'X='.repeat(30) }, { file: '/p/.env', content: 'A=1\n' }, { pick: 'false' }]);
    assert.deepEqual(await collectArguments(ui, op('env.import', ENV_IMPORT)), { content: 'A=1\n', secret: false });
    assert.ok(ui.transcript.some((l) => l.startsWith('refused: /p/big.env: content takes at most 40')), ui.transcript.join('\n'));
  });

  it('refuses an empty file for a required file field', async () => {
    const ui = new ScriptedUi([{ file: '/p/empty', content: '' }, undefined]);
    assert.equal(await collectArguments(ui, op('env.import', ENV_IMPORT)), undefined);
    assert.ok(ui.transcript.some((l) => l.includes('the chosen file is empty')));
  });

  it('asks nothing for an operation without prompted fields', async () => {
    assert.deepEqual(await collectArguments(new ScriptedUi([]), op('env.list', [])), {});
  });
});

describe('server errors', () => {
  const envSet = op('env.set', ENV_SET);

  it('finds the field a platform error names', () => {
    const message = "1 field(s) need fixing; name: String should match pattern '^[A-Za-z_]' (use a value matching ^[A-Za-z_])";
    assert.equal(fieldOfError(message, envSet)?.name, 'name');
    assert.equal(fieldOfError('project: not found', envSet), undefined, 'context fields are not re-asked');
    assert.equal(fieldOfError('permission denied', envSet), undefined);
  });

  it('turns errors into advice with actions', () => {
    assert.equal(isInvalidParams({ code: -32602, message: 'x' }), true);
    assert.equal(isInvalidParams(new Error('x')), false);
    const down = adviseOnError('Set a variable', { code: -32603, message: 'cannot reach the platform at http://x (ConnectError); Fix: start it with `codeforge up`' });
    assert.deepEqual(down.actions, ['Open Settings', 'Show Logs']);
    assert.match(down.message, /^CodeForge: Set a variable failed: cannot reach/);
    const stopped = adviseOnError('env.list', new Error('Client is not running and can\'t be stopped'));
    assert.deepEqual(stopped.actions, ['Restart Server', 'Show Logs']);
    const denied = adviseOnError('Delete', { message: 'you may not do this: permission denied' });
    assert.match(denied.message, /Ask an admin/);
    assert.match(adviseOnError('x', 'weird').message, /failed: weird/);
    assert.match(adviseOnStartFailure('codeforge', new Error('spawn codeforge ENOENT')).message, /codeforge\.server\.command/);
  });

  it('says where it looked for codeforge and how to fix it, not `pip install codeforge`', () => {
    const advice = adviseOnStartFailure('codeforge', new Error('not found'), ['"codeforge.server.command" (not set)', '/w/.venv/bin/codeforge', 'PATH (/usr/bin)']);
    assert.match(advice.message, /Looked for it in: "codeforge\.server\.command" \(not set\); \/w\/\.venv\/bin\/codeforge; PATH \(\/usr\/bin\)\./);
    assert.match(advice.message, /make vscode/);
    assert.doesNotMatch(advice.message, /pip install codeforge/);
  });

  it('does not repeat what failed, or the product name', () => {
    const job = 'Import variables from a .env file failed: line 3: no = sign (job 0123456789abcdef0123456789abcdef)';
    assert.equal(adviseOnError('Import variables from a .env file', { code: -32803, message: job }).message, 'CodeForge: Import variables from a .env file failed: line 3: no = sign (job 01234567)');
    assert.equal(
      adviseOnError('Delete a database', { code: -32803, message: 'CodeForge: permission denied: your role cannot delete; Fix: ask an admin' }).message,
      'CodeForge: Delete a database failed: permission denied: your role cannot delete; Fix: ask an admin',
    );
    const cancelled = adviseOnError('Import variables', { code: -32800, message: 'Import variables: cancelled (job 0123456789abcdef0123456789abcdef)' });
    assert.equal(cancelled.message, 'CodeForge: Import variables: cancelled (job 01234567)');
    assert.doesNotMatch(adviseOnError('x', 'CodeForge: CodeForge: boom').message, /CodeForge:.*CodeForge:/);
  });

  it('shortens job ids (32 hex digits, or UUIDs) to 8 characters', () => {
    assert.equal(shortenIds('job 0123456789abcdef0123456789abcdef queued'), 'job 01234567 queued');
    assert.equal(shortenIds('job 01234567-89ab-cdef-0123-456789abcdef'), 'job 01234567');
    assert.equal(shortenIds('port 5432, deadbeef, name abc'), 'port 5432, deadbeef, name abc');
  });

  it('knows an unreachable platform when it sees one', () => {
    assert.equal(isPlatformDown({ message: 'cannot reach the platform at http://127.0.0.1:1 (ConnectError); Fix: start it' }), true);
    assert.equal(isPlatformDown({ message: 'permission denied' }), false);
  });

  it('confirms destructive operations naming their target', () => {
    assert.equal(confirmationText(op('env.unset', ENV_SET, { title: 'Remove an environment variable' }), { name: 'OLD' }), 'Remove an environment variable (name=OLD)? This cannot be undone.');
  });
});

describe('results', () => {
  it('sums results up in one line', () => {
    assert.equal(summarize({ items: [1, 2] }), '2 item(s)');
    assert.equal(summarize({ name: 'A', secret: false, updated_by: null, nested: {} }), 'name: A, secret: false, updated_by: null');
    assert.equal(summarize(null), 'done');
    assert.equal(summarize({}), 'done');
  });

  it('labels tree items by their name-like key', () => {
    assert.deepEqual(describeItem({ name: 'API_KEY', secret: true, value: null, updated_at: 't', updated_by: 'ada' }).label, 'API_KEY');
    assert.equal(describeItem({ name: 'API_KEY', secret: true, updated_by: 'ada', updated_at: 't' }).description, 'secret · updated_by: ada');
    assert.equal(describeItem({ slug: 'demo', name: '' }).label, 'demo');
    assert.equal(describeItem(7).label, '7');
  });
});

describe('optional enums', () => {
  it('can be left empty with (none)', async () => {
    const ui = new ScriptedUi(['', { pick: '(none)' }, '5']);
    assert.deepEqual(await collectArguments(ui, op('jobs.list', JOBS_LIST)), { limit: 5 });
  });
});

describe('logged results', () => {
  it('cuts long lists and says how many were left out', () => {
    const names = Array.from({ length: 25 }, (_, i) => `N${i}`);
    const logged = forLog({ imported: 25, names }) as { names: string[] };
    assert.equal(logged.names.length, 21);
    assert.equal(logged.names[20], '… 5 more');
  });

  it('reports a cancelled job as information, not as a failure', () => {
    const advice = adviseOnError('Import variables', { code: -32800, message: 'Import variables: cancelled (job 1)' });
    assert.equal(advice.severity, 'info');
    assert.equal(advice.message, 'CodeForge: Import variables: cancelled (job 1)');
    assert.equal(adviseOnError('Import', { code: -32800, message: 'stopped' }).message, 'CodeForge: Import: stopped');
  });
});

describe('pane links', () => {
  const paneOp = { output_schema: { 'x-codeforge-pane': true, properties: { url: { type: 'string' } } } };
  it('opens only http(s) links of pane-marked outputs', () => {
    assert.equal(paneUrl(paneOp, { title: 'Overview', url: 'http://127.0.0.1:8470/panes/overview?t=x' }), 'http://127.0.0.1:8470/panes/overview?t=x');
    assert.equal(paneUrl(paneOp, { url: 'file:///etc/passwd' }), undefined);
    assert.equal(paneUrl(paneOp, { url: 42 }), undefined);
    assert.equal(paneUrl({ output_schema: {} }, { url: 'http://x/' }), undefined);
    assert.equal(paneUrl(paneOp, null), undefined);
  });

  it('nests list items under the item their `parent` names (database branches)', () => {
    const main = { name: 'main', parent: null };
    const feature = { name: 'feature-x', parent: 'main' };
    const fix = { name: 'fix', parent: 'feature-x' };
    const orphan = { name: 'copy', parent: 'gone' }; // its parent was deleted: shown at the top
    const items = [fix, main, orphan, feature];
    assert.deepEqual(childrenOf(items), [main, orphan]);
    assert.deepEqual(childrenOf(items, 'main'), [feature]);
    assert.deepEqual(childrenOf(items, 'feature-x'), [fix]);
    assert.deepEqual(childrenOf(['a', 1, null]), ['a', 1, null]); // not objects: a flat list
  });
});
