import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { NotFoundError, type RuleDefinition } from '@risk/domain';
import { StaleWriteError } from '@risk/domain/rules/lifecycle';
import { FileRuleSetStore } from './file-rule-set.store';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'risk-rulesets-'));
  dirs.push(dir);
  return dir;
}

const RULE = {
  id: 'r',
  name: 'r',
  enabled: true,
  mode: 'active',
  priority: 1,
  conditions: { all: [] },
  event: { type: 'risk', params: {} },
} as unknown as RuleDefinition;

describe('FileRuleSetStore', () => {
  it('keeps versions, the active pointer and the audit trail across a reopen', async () => {
    const dir = tempDir();
    const first = new FileRuleSetStore(dir);
    assert.equal(await first.activeVersion(), undefined);
    const notified: Array<number | undefined> = [];
    await first.subscribe((v) => notified.push(v));
    await first.commit({ basedOn: 0, rules: [], actor: 'system', action: 'seed', before: null, after: null });
    await first.commit({ basedOn: 1, rules: [RULE], actor: 'alice', action: 'create', ruleId: 'r', before: null, after: RULE });
    await first.activate(1, 'bob');
    assert.deepEqual(notified, [1, 2, 1]);
    await assert.rejects(first.commit({ basedOn: 2, rules: [], actor: 'x', action: 'delete', before: RULE, after: null }), StaleWriteError);
    await first.close();
    // A crash mid-append leaves a torn last line: it is skipped, the rest survives.
    appendFileSync(join(dir, 'rulesets', 'audit.ndjson'), '{"version":');

    const second = new FileRuleSetStore(dir);
    assert.equal(await second.activeVersion(), 1);
    assert.deepEqual((await second.getVersion(2))?.rules, [RULE]);
    assert.deepEqual(
      (await second.listVersions()).map((v) => [v.version, v.active]),
      [
        [2, false],
        [1, true],
      ],
    );
    const audit = await second.audit(2, 0);
    assert.equal(audit.total, 3);
    assert.deepEqual(
      audit.items.map((e) => [e.action, e.version, e.previous_version]),
      [
        ['activate', 1, 2],
        ['create', 2, 1],
      ],
    );
    assert.deepEqual(
      (await second.audit(10, 2)).items.map((e) => e.action),
      ['seed'],
    );
    const v3 = await second.commit({ basedOn: 1, rules: [], actor: 'carol', action: 'delete', before: null, after: null });
    assert.equal(v3.version, 3);
    await assert.rejects(second.activate(9, 'bob'), NotFoundError);
    assert.deepEqual(readdirSync(join(dir, 'rulesets', 'versions')).sort(), ['v000001.json', 'v000002.json', 'v000003.json']);
  });

  it('serialises concurrent commits: exactly one of two writers on the same base wins', async () => {
    const store = new FileRuleSetStore(tempDir());
    await store.commit({ basedOn: 0, rules: [], actor: 'system', action: 'seed', before: null, after: null });
    const results = await Promise.allSettled(
      [1, 2].map((i) => store.commit({ basedOn: 1, rules: [], actor: `w${i}`, action: 'update', before: null, after: null })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.some((r) => r.status === 'rejected' && r.reason instanceof StaleWriteError));
  });
});
