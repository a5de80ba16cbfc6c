import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { FiredRule, RiskLevel, Verdict } from '@risk/domain';
import { openSqlite } from './sqlite.database';
import { SqliteVerdictStore } from './sqlite-verdict.store';

const T0 = Date.UTC(2026, 10, 20, 10);
const at = (minutes: number): string => new Date(T0 + minutes * 60_000).toISOString();

function fired(id: string, level: RiskLevel): FiredRule {
  return { id, risk_level: level, score: 10, reason: id, explanation: [] };
}

function verdict(id: string, minutes: number, level: RiskLevel, rules: string[], shadow: string[] = [], suppressed = false): Verdict {
  return {
    event_id: id,
    user_id: 'u1',
    event_type: 'login',
    event_time: at(minutes),
    risk_level: level,
    score: 10,
    rules: rules.map((r) => fired(r, level)),
    shadow_rules: shadow.map((r) => fired(r, 'HIGH')),
    features: {},
    late: false,
    rules_version: 3,
    ...(suppressed ? { suppressed: true } : {}),
    decided_at: at(minutes),
  };
}

const VERDICTS = [
  verdict('a', 1, 'HIGH', ['r-high'], ['s-1']),
  verdict('b', 2, 'HIGH', ['r-high', 'r-low'], [], true),
  verdict('c', 3, 'LOW', ['r-low'], ['s-1']),
  verdict('d', 4, 'MEDIUM', ['r-med']),
  verdict('e', 5, 'LOW', []),
  verdict('f', 90, 'HIGH', ['r-high'], ['s-1']),
];

function newStore(dir = mkdtempSync(join(tmpdir(), 'risk-rule-hits-')), limit = 1000): SqliteVerdictStore {
  return new SqliteVerdictStore(openSqlite(dir), limit);
}

describe('SqliteVerdictStore rule statistics', () => {
  it('counts hits, alerts raised, suppressed and last hit per rule and mode over [from, to)', async () => {
    const store = newStore();
    await store.write(VERDICTS);
    const stats = await store.query.ruleStats({ from: T0, to: T0 + 60 * 60_000, alertThreshold: 'MEDIUM' });
    assert.deepEqual(stats, {
      from: at(0),
      to: at(60),
      rules: [
        { rule_id: 'r-high', mode: 'active', hits: 2, alerts_raised: 1, suppressed: 1, last_hit: at(2) },
        // c is LOW (no alert); b raised none (suppressed) though HIGH: the verdict's level and suppression decide.
        { rule_id: 'r-low', mode: 'active', hits: 2, alerts_raised: 0, suppressed: 1, last_hit: at(3) },
        { rule_id: 'r-med', mode: 'active', hits: 1, alerts_raised: 1, suppressed: 0, last_hit: at(4) },
        { rule_id: 's-1', mode: 'shadow', hits: 2, alerts_raised: 0, suppressed: 0, last_hit: at(3) },
      ],
    });
    const high = await store.query.ruleStats({ from: T0, to: T0 + 60 * 60_000, alertThreshold: 'HIGH' });
    assert.equal(high.rules.find((r) => r.rule_id === 'r-med')?.alerts_raised, 0, 'MEDIUM is below a HIGH threshold');
    const later = await store.query.ruleStats({ from: T0 + 4 * 60_000, to: T0 + 91 * 60_000, alertThreshold: 'MEDIUM' });
    assert.deepEqual(
      later.rules.map((r) => [r.rule_id, r.hits, r.last_hit]),
      [
        ['r-high', 1, at(90)],
        ['r-med', 1, at(4)],
        ['s-1', 1, at(90)],
      ],
    );
  });

  it('a rewritten verdict replaces its hits; pruned verdicts take theirs along', async () => {
    const store = newStore(undefined, 3);
    await store.write(VERDICTS.slice(0, 3));
    await store.write([verdict('a', 1, 'LOW', ['r-low'])]);
    const range = { from: T0, to: T0 + 60 * 60_000, alertThreshold: 'MEDIUM' } as const;
    assert.deepEqual(
      (await store.query.ruleStats(range)).rules.map((r) => [r.rule_id, r.mode, r.hits]),
      [
        ['r-high', 'active', 1],
        ['r-low', 'active', 3],
        ['s-1', 'shadow', 1],
      ],
    );
    await store.write(VERDICTS.slice(3));
    // Only d, e, f are kept (limit 3).
    assert.deepEqual(
      (await store.query.ruleStats({ ...range, to: T0 + 100 * 60_000 })).rules.map((r) => [r.rule_id, r.hits]),
      [
        ['r-high', 1],
        ['r-med', 1],
        ['s-1', 1],
      ],
    );
  });

  it('finds verdicts by shadow rule, and fills the hits of verdicts stored before the table existed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-rule-hits-'));
    const db = openSqlite(dir);
    const store = new SqliteVerdictStore(db, 1000);
    await store.write(VERDICTS);
    assert.deepEqual(
      (await store.query.findVerdicts({ shadow_rule_id: 's-1' })).items.map((v) => v.event_id),
      ['f', 'c', 'a'],
    );
    assert.deepEqual((await store.query.findVerdicts({ shadow_rule_id: 'r-high' })).items, [], 'an active rule is not a shadow hit');
    const before = await store.query.ruleStats({ from: T0, to: T0 + 100 * 60_000, alertThreshold: 'MEDIUM' });
    db.exec('DROP TABLE rule_hits');
    db.close();
    const reopened = newStore(dir);
    assert.deepEqual(await reopened.query.ruleStats({ from: T0, to: T0 + 100 * 60_000, alertThreshold: 'MEDIUM' }), before);
  });
});
