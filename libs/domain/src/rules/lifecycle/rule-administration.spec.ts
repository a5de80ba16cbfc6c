import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, InvalidInputError, NotFoundError } from '@risk/domain/shared/errors';
import type { FeatureDefinition } from '@risk/domain/features/feature-definition';
import type { RuleDefinition } from '@risk/domain/rules/rule';
import { RuleSetHolder } from '@risk/domain/rules/rule-set-holder';
import { MemoryRuleSetStore } from './memory-rule-set.store';
import { RuleAdministration } from './rule-administration';
import { StaleWriteError } from './rule-set-store';
import { RuleSetSync } from './rule-set-sync';
import { jsonDepth } from './rule-payload';

const FEATURES: FeatureDefinition[] = [
  { name: 'login_count_1h', entity: 'user_id', aggregate: 'count', field: undefined, eventTypes: ['login'], windowMs: 3_600_000 },
  { name: 'device_changed', entity: 'user_id', aggregate: 'changed', field: 'device_id', eventTypes: undefined, windowMs: 0 },
];

function rule(id: string, overrides: Partial<RuleDefinition> = {}): RuleDefinition {
  return {
    id,
    name: `rule ${id}`,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'login_count_1h', operator: 'greaterThan', value: 5 }] },
    event: { type: 'risk', params: { risk_level: 'MEDIUM', score: 40, reason: 'many logins' } },
    ...overrides,
  };
}

async function seeded(): Promise<{ store: MemoryRuleSetStore; admin: RuleAdministration; activated: number[] }> {
  const store = new MemoryRuleSetStore();
  const activated: number[] = [];
  const admin = new RuleAdministration(store, FEATURES, { onActivated: (v) => activated.push(v.version) });
  await admin.seed([rule('b'), rule('a')]);
  return { store, admin, activated };
}

describe('RuleAdministration', () => {
  it('seeds version 1 once, sorted by id, and never reseeds a non-empty store', async () => {
    const { store, admin } = await seeded();
    const v1 = await admin.active();
    assert.equal(v1.version, 1);
    assert.equal(v1.action, 'seed');
    assert.deepEqual(
      v1.rules.map((r) => r.id),
      ['a', 'b'],
    );
    await admin.seed([rule('z')]);
    assert.equal(await store.activeVersion(), 1);
    assert.equal((await store.listVersions()).length, 1);
  });

  it('turns each write into a new active version with an audit entry naming the actor', async () => {
    const { admin, activated } = await seeded();
    const created = await admin.createRule(rule('c'), 1, 'alice');
    assert.equal(created.version.version, 2);
    const disabled = await admin.setEnabled('c', false, 2, 'bob');
    assert.equal(disabled.version.version, 3);
    assert.equal(disabled.rule?.enabled, false);
    const shadow = await admin.setMode('a', 'shadow', undefined, 'bob');
    assert.equal(shadow.rule?.mode, 'shadow');
    const deleted = await admin.deleteRule('b', 4, 'carol');
    assert.deepEqual(
      deleted.version.rules.map((r) => r.id),
      ['a', 'c'],
    );
    assert.deepEqual(activated, [2, 3, 4, 5]);
    const audit = await admin.audit(10, 0);
    assert.equal(audit.total, 5);
    assert.deepEqual(
      audit.items.map((e) => [e.action, e.actor, e.rule_id]),
      [
        ['delete', 'carol', 'b'],
        ['set-mode', 'bob', 'a'],
        ['disable', 'bob', 'c'],
        ['create', 'alice', 'c'],
        ['seed', 'system', null],
      ],
    );
    assert.equal(audit.items[0].before?.id, 'b');
    assert.equal(audit.items[0].after, null);
  });

  it('refuses a write based on a version that is no longer active (409)', async () => {
    const { admin } = await seeded();
    await admin.createRule(rule('c'), 1, 'alice');
    await assert.rejects(admin.createRule(rule('d'), 1, 'bob'), (e: unknown) => e instanceof StaleWriteError && e instanceof ConflictError);
    await assert.rejects(admin.createRule(rule('a'), 2, 'bob'), (e: unknown) => e instanceof ConflictError && e.code === 'RULE_EXISTS');
    await assert.rejects(admin.deleteRule('nope', 2, 'bob'), NotFoundError);
  });

  it('validates rules with paths and payload bounds before anything is written', async () => {
    const { admin, store } = await seeded();
    const bad = {
      ...rule('x'),
      conditions: {
        all: [
          { fact: 'login_count_1h', operator: 'greaterThan', value: 1 },
          { fact: 'distinct_device_1h', operator: 'equal', value: 1 },
        ],
      },
    };
    await assert.rejects(admin.createRule(bad, undefined, 'alice'), (e: unknown) => {
      assert.ok(e instanceof InvalidInputError);
      assert.deepEqual(e.errors, [{ path: 'conditions.all[1].fact', message: 'unknown fact "distinct_device_1h"' }]);
      return true;
    });
    const huge = { ...rule('y'), description: 'x'.repeat(2000), name: 'n'.repeat(200) };
    assert.deepEqual(admin.validate(huge), []);
    const tooBig = new RuleAdministration(store, FEATURES, { limits: { maxRuleBytes: 500 } });
    assert.match(tooBig.validate(huge)[0].message, /bytes, more than the 500 allowed/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    assert.match(
      admin.validate({ ...rule('z'), conditions: { all: [{ fact: 'login_count_1h', operator: 'in', value: deep }] } })[0].message,
      /nesting is deeper/,
    );
    assert.equal(await store.activeVersion(), 1);
  });

  it('replaces a rule only under its own id and skips writes that change nothing', async () => {
    const { admin } = await seeded();
    await assert.rejects(admin.replaceRule('a', rule('b'), undefined, 'alice'), InvalidInputError);
    const withoutId: Record<string, unknown> = { ...rule('a', { priority: 7 }) };
    delete withoutId.id;
    const replaced = await admin.replaceRule('a', withoutId, 1, 'alice');
    assert.equal(replaced.rule?.priority, 7);
    const again = await admin.setEnabled('a', true, undefined, 'alice');
    assert.equal(again.changed, false);
    assert.equal(again.version.version, 2);
  });

  it('rolls back by activating an older version, audited as activate', async () => {
    const { admin, activated } = await seeded();
    await admin.createRule(rule('c'), 1, 'alice');
    const rolled = await admin.activate(1, 'bob');
    assert.equal(rolled.audit.previous_version, 2);
    assert.equal((await admin.active()).version, 1);
    // The next write numbers after the newest version, not after the active one.
    const next = await admin.createRule(rule('d'), 1, 'alice');
    assert.equal(next.version.version, 3);
    assert.deepEqual(
      next.version.rules.map((r) => r.id),
      ['a', 'b', 'd'],
    );
    assert.deepEqual(activated, [2, 1, 3]);
    await assert.rejects(admin.activate(99, 'bob'), NotFoundError);
    await assert.rejects(admin.activate(2, 'bob', 1), StaleWriteError);
  });

  it('applies 20 concurrent writes without a base version one after another, none refused', async () => {
    const { admin } = await seeded();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => admin.createRule(rule(`c${i}`), undefined, 'alice')));
    assert.deepEqual(
      results.map((r) => r.version.version).sort((a, b) => a - b),
      Array.from({ length: 20 }, (_, i) => i + 2),
    );
    assert.equal((await admin.active()).rules.length, 22);
  });

  it('retries writes without a base version against another instance, and refuses stale based ones', async () => {
    const { store, admin } = await seeded();
    const other = new RuleAdministration(store, FEATURES);
    const writes = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? admin : other).createRule(rule(`x${i}`), undefined, 'alice'));
    const versions = (await Promise.all(writes)).map((r) => r.version.version);
    assert.equal(new Set(versions).size, 20);
    assert.equal((await admin.active()).version, 21);
    const based = await Promise.allSettled(
      Array.from({ length: 4 }, (_, i) => (i % 2 === 0 ? admin : other).setEnabled(`x${i}`, false, 21, 'bob')),
    );
    assert.equal(based.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(based.every((r) => r.status === 'fulfilled' || r.reason instanceof StaleWriteError));
  });

  it('dry-runs a draft rule or the active set with features defaulting to 0/false', async () => {
    const { admin } = await seeded();
    const event = { event_id: 'e', user_id: 'u', event_type: 'login', event_time: '2026-01-01T00:00:00Z' };
    const quiet = await admin.evaluate({ event });
    assert.equal(quiet.rules_version, 1);
    assert.equal(quiet.risk_level, 'LOW');
    assert.equal(quiet.features.device_changed, false);
    assert.equal(quiet.evaluated.length, 2);
    assert.equal(quiet.evaluated[0].explanation[0].fact_value, 0);
    const busy = await admin.evaluate({ event, features: { login_count_1h: 9 } });
    assert.deepEqual(
      busy.rules.map((r) => r.id),
      ['a', 'b'],
    );
    assert.equal(busy.score, 80);
    const draft = await admin.evaluate({
      event,
      features: { device_changed: true },
      rule: rule('d', { enabled: false, conditions: { all: [{ fact: 'device_changed', operator: 'equal', value: true }] } }),
    });
    assert.equal(draft.rules_version, null);
    assert.deepEqual(
      draft.rules.map((r) => r.id),
      ['d'],
    );
    await assert.rejects(
      admin.evaluate({ event: { ...event, event_time: 'soon' }, features: { nope: 1 }, rule: { id: 'q' } }),
      (e: unknown) => {
        assert.ok(e instanceof InvalidInputError);
        const paths = e.errors.map((x) => x.path);
        assert.ok(paths.includes('event.event_time'), paths.join());
        assert.ok(paths.includes('features.nope'));
        assert.ok(paths.includes('rule.name'));
        return true;
      },
    );
  });
});

describe('RuleSetSync', () => {
  it('follows the active pointer, coalesces triggers and never undoes a local write', async () => {
    const { store, admin } = await seeded();
    const holder = new RuleSetHolder(await admin.active());
    const changes: number[] = [];
    const sync = new RuleSetSync(store, holder, { onChange: (v) => changes.push(v) });
    await admin.createRule(rule('c'), undefined, 'alice');
    await admin.createRule(rule('d'), undefined, 'alice');
    await Promise.all([sync.sync(), sync.sync(), sync.sync()]);
    assert.equal(holder.current.version, 3);
    await admin.activate(1, 'bob');
    await sync.sync();
    assert.equal(holder.current.version, 1);
    sync.adopt(await admin.getVersion(2));
    assert.equal(holder.current.version, 2);
    assert.deepEqual(changes, [3, 1, 2]);
  });

  it('reports store errors instead of rejecting', async () => {
    const { store, admin } = await seeded();
    const holder = new RuleSetHolder(await admin.active());
    const errors: unknown[] = [];
    store.activeVersion = () => Promise.reject(new Error('down'));
    await new RuleSetSync(store, holder, { onError: (e) => errors.push(e) }).sync();
    assert.equal(errors.length, 1);
  });
});

describe('jsonDepth', () => {
  it('counts objects and arrays, not scalars', () => {
    assert.equal(jsonDepth(1), 0);
    assert.equal(jsonDepth({ a: [1, { b: 2 }] }), 3);
  });
});
