import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConflictError, InvalidInputError } from '@risk/domain/shared/errors';
import { parseFeatureDefinitions } from '@risk/domain/features/feature-definition';
import { featureDocuments, type FeatureDocument } from '@risk/domain/features/feature-document';
import type { RuleDefinition } from '@risk/domain/rules/rule';
import { RuleSetHolder } from '@risk/domain/rules/rule-set-holder';
import { MemoryRuleSetStore } from './memory-rule-set.store';
import { RuleAdministration } from './rule-administration';
import { StaleWriteError } from './rule-set-store';
import { RuleSetSync } from './rule-set-sync';

const LOGINS: FeatureDocument = { name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' };
const DEVICE: FeatureDocument = { name: 'device_changed', entity: 'user_id', aggregate: 'changed', field: 'device_id' };
const IP: FeatureDocument = { name: 'ip_logins_10m', entity: 'ip_address', aggregate: 'count', event_types: ['login'], window: '10m' };
const STARTUP = parseFeatureDefinitions([LOGINS, DEVICE]);

function rule(id: string, fact: string): RuleDefinition {
  return {
    id,
    name: `rule ${id}`,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: {
      all: [
        { fact: 'event_type', operator: 'equal', value: 'login' },
        { fact, operator: 'greaterThan', value: 5 },
      ],
    },
    event: { type: 'risk', params: { risk_level: 'MEDIUM', score: 40, reason: fact } },
  };
}

async function seeded(): Promise<{ store: MemoryRuleSetStore; admin: RuleAdministration; activated: number[] }> {
  const store = new MemoryRuleSetStore();
  const activated: number[] = [];
  const admin = new RuleAdministration(store, STARTUP, { onActivated: (v) => activated.push(v.version) });
  await admin.seed([rule('logins', 'login_count_1h')]);
  return { store, admin, activated };
}

describe('feature definitions versioned with the rules', () => {
  it('the seed pins the start-up features; a rule write carries the active version’s features forward', async () => {
    const { admin } = await seeded();
    const v1 = await admin.active();
    assert.deepEqual(v1.features, featureDocuments(STARTUP));
    const v2 = await admin.createRule(rule('other', 'login_count_1h'), 1, 'alice');
    assert.deepEqual(v2.version.features, v1.features);
  });

  it('PUT /features writes and activates a version with the same rules, audited with the features before and after', async () => {
    const { admin, activated } = await seeded();
    const result = await admin.replaceFeatures({ features: [LOGINS, DEVICE, IP] }, 1, 'alice');
    assert.equal(result.version.version, 2);
    assert.equal(result.version.action, 'features');
    assert.deepEqual(result.version.features, [LOGINS, DEVICE, IP]);
    assert.deepEqual(result.version.rules, (await admin.getVersion(1)).rules);
    assert.deepEqual(activated, [2]);
    const [entry] = (await admin.audit(1, 0)).items;
    assert.equal(entry.action, 'features');
    assert.equal(entry.actor, 'alice');
    assert.deepEqual(entry.features_before, featureDocuments(STARTUP));
    assert.deepEqual(entry.features_after, [LOGINS, DEVICE, IP]);
    // The same set again writes nothing.
    const again = await admin.replaceFeatures({ features: [LOGINS, DEVICE, IP] }, undefined, 'bob');
    assert.equal(again.changed, false);
    assert.equal(again.version.version, 2);
  });

  it('rules validate against the active version’s features: the added one can be named, a removed one cannot', async () => {
    const { admin } = await seeded();
    await assert.rejects(admin.createRule(rule('ip', 'ip_logins_10m'), undefined, 'alice'), InvalidInputError);
    await admin.replaceFeatures([LOGINS, DEVICE, IP], undefined, 'alice');
    const created = await admin.createRule(rule('ip', 'ip_logins_10m'), undefined, 'alice');
    assert.equal(created.version.version, 3);
    assert.deepEqual(admin.validate(rule('x', 'ip_logins_10m')), []);
  });

  it('refuses a set that drops a feature a rule names: 409 FEATURE_IN_USE with rules[i] paths; nothing written', async () => {
    const { admin, store } = await seeded();
    await admin.createRule(rule('another', 'login_count_1h'), undefined, 'alice');
    await assert.rejects(admin.replaceFeatures({ features: [DEVICE] }, undefined, 'alice'), (e: unknown) => {
      assert.ok(e instanceof ConflictError);
      assert.equal(e.code, 'FEATURE_IN_USE');
      const errors = (e.details as { errors: { path: string; message: string }[] }).errors;
      assert.deepEqual(
        errors.map((x) => x.path),
        ['rules[0].conditions.all[1].fact', 'rules[1].conditions.all[1].fact'],
      );
      assert.match(errors[0].message, /rule another: unknown fact "login_count_1h"/);
      return true;
    });
    assert.equal(await store.activeVersion(), 2);
    assert.deepEqual(
      (await admin.validateFeatures({ features: [DEVICE] })).map((x) => x.path),
      ['rules[0].conditions.all[1].fact', 'rules[1].conditions.all[1].fact'],
    );
  });

  it('a bad feature set is a 400 naming each path, checked before anything is read or written', async () => {
    const { admin, store } = await seeded();
    const bad = {
      features: [LOGINS, { ...IP, window: 'soon' }, { name: 'median_amount_1h', entity: 'user_id', aggregate: 'median', window: '1h' }],
    };
    await assert.rejects(admin.replaceFeatures(bad, undefined, 'alice'), (e: unknown) => {
      assert.ok(e instanceof InvalidInputError);
      assert.equal(e.code, 'INVALID_FEATURES');
      assert.deepEqual(
        e.errors.map((x) => x.path),
        ['features[1].window', 'features[2].aggregate'],
      );
      return true;
    });
    assert.deepEqual(
      (await admin.validateFeatures({ features: [LOGINS], extra: 1 })).map((x) => x.path),
      ['extra'],
    );
    assert.match((await admin.validateFeatures({ features: Array.from({ length: 300 }, () => LOGINS) }))[0].message, /at most 256/);
    assert.deepEqual(await admin.validateFeatures({ features: [{ ...LOGINS, window: '99999999999999999999d' }] }), [
      { path: 'features[0].window', message: 'must be a positive duration up to 366d, such as 10m, 1h, 24h' },
    ]);
    assert.deepEqual(await admin.validateFeatures({ features: [LOGINS, DEVICE, { ...IP, window: '366d' }] }), []);
    await assert.rejects(admin.replaceFeatures({ features: [DEVICE] }, 7, 'alice'), StaleWriteError);
    assert.equal(await store.activeVersion(), 1);
  });

  it('diff names features added, removed and changed, and rules changed', async () => {
    const { admin } = await seeded();
    await admin.replaceFeatures([{ ...LOGINS, window: '2h' }, IP], undefined, 'alice');
    await admin.createRule(rule('ip', 'ip_logins_10m'), undefined, 'alice');
    const diff = await admin.diff(1, 3);
    assert.deepEqual(diff.features, { added: ['ip_logins_10m'], removed: ['device_changed'], changed: ['login_count_1h'], unchanged: [] });
    assert.deepEqual(diff.rules, { added: ['ip'], removed: [], changed: [] });
  });

  it('the holder decides each version with its own features; a rollback brings the old set back with its rules', async () => {
    const { admin, store } = await seeded();
    const holder = new RuleSetHolder(await admin.active(), [], undefined, STARTUP);
    assert.equal(holder.current.features, STARTUP, 'the seed’s documents resolve to the start-up array itself');
    await admin.replaceFeatures([LOGINS, DEVICE, IP], undefined, 'alice');
    const sync = new RuleSetSync(store, holder);
    await sync.sync();
    assert.deepEqual(
      holder.current.features?.map((f) => f.name),
      ['login_count_1h', 'device_changed', 'ip_logins_10m'],
    );
    await admin.activate(1, 'bob');
    await sync.sync();
    assert.equal(holder.current.version, 1);
    assert.equal(holder.current.features, STARTUP);
    // A version written before features were versioned reads as the start-up features.
    const legacy = new RuleSetHolder({ version: 9, rules: [] }, [], undefined, STARTUP);
    assert.equal(legacy.current.features, STARTUP);
  });

  it('dry runs take the feature values of the version evaluated', async () => {
    const { admin } = await seeded();
    await admin.replaceFeatures([LOGINS, DEVICE, IP], undefined, 'alice');
    const event = { event_id: 'e', user_id: 'u', event_type: 'login', event_time: '2026-11-20T10:00:00Z' };
    const now = await admin.evaluate({ event, features: { ip_logins_10m: 3 } });
    assert.equal(now.features.ip_logins_10m, 3);
    await assert.rejects(admin.evaluate({ event, version: 1, features: { ip_logins_10m: 3 } }), (e: unknown) => {
      assert.ok(e instanceof InvalidInputError);
      assert.deepEqual(
        e.errors.map((x) => x.path),
        ['features.ip_logins_10m'],
      );
      return true;
    });
  });
});
