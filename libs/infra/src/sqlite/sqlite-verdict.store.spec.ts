import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RiskLevel, Verdict } from '@risk/domain';
import { openSqlite } from './sqlite.database';
import { SqliteAlertStore, SqliteRejectStore } from './sqlite-recent.stores';
import { SqliteVerdictStore } from './sqlite-verdict.store';

const T0 = Date.UTC(2026, 10, 20, 10);

function verdict(id: string, user: string, minutes: number, level: RiskLevel = 'LOW', rules: string[] = []): Verdict {
  return {
    event_id: id,
    user_id: user,
    event_type: 'login',
    event_time: new Date(T0 + minutes * 60_000).toISOString(),
    risk_level: level,
    score: level === 'HIGH' ? 80 : level === 'MEDIUM' ? 50 : 0,
    rules: rules.map((rule) => ({ id: rule, risk_level: level, score: 50, reason: rule, explanation: [] })),
    shadow_rules: [],
    features: { login_count_1h: 1 },
    late: false,
    rules_version: 1,
    decided_at: new Date(T0 + minutes * 60_000 + 5).toISOString(),
  };
}

describe('SqliteVerdictStore', () => {
  it('one verdict per event_id (upsert), filters and pages newest first like the other stores', async () => {
    const store = new SqliteVerdictStore(openSqlite(mkdtempSync(join(tmpdir(), 'risk-sqlite-'))), 1000);
    await store.write([verdict('a', 'u1', 1), verdict('b', 'u1', 2, 'HIGH', ['r-x']), verdict('c', 'u2', 2, 'MEDIUM', ['r-y'])]);
    await store.write([verdict('d', 'u1', 3), { ...verdict('a', 'u1', 1), score: 7 }]);
    const all = await store.query.findVerdicts({});
    assert.deepEqual(
      all.items.map((v) => v.event_id),
      ['d', 'c', 'b', 'a'],
      'event_time desc, ties by event_id desc',
    );
    assert.equal((await store.query.getVerdict('a'))?.score, 7, 'the rewrite replaced the stored verdict');
    assert.deepEqual(
      (await store.query.findVerdicts({ user_id: 'u1', risk_level: 'HIGH' })).items.map((v) => v.event_id),
      ['b'],
    );
    assert.deepEqual(
      (await store.query.findVerdicts({ rule_id: 'r-y' })).items.map((v) => v.event_id),
      ['c'],
    );
    assert.deepEqual((await store.query.findVerdicts({ rule_id: 'r' })).items, [], 'rule ids match whole');
    assert.deepEqual(
      (await store.query.findVerdicts({ from: T0 + 2 * 60_000, to: T0 + 3 * 60_000 })).items.map((v) => v.event_id),
      ['c', 'b'],
    );
    const first = await store.query.findVerdicts({ size: 3 });
    assert.deepEqual(
      first.items.map((v) => v.event_id),
      ['d', 'c', 'b'],
    );
    const second = await store.query.findVerdicts({ size: 3, search_after: first.next_search_after });
    assert.deepEqual(
      second.items.map((v) => v.event_id),
      ['a'],
    );
    assert.equal(second.next_search_after, undefined);
    const profile = await store.query.getProfile('u1');
    assert.deepEqual(profile?.counts, { LOW: 2, MEDIUM: 0, HIGH: 1 }, 'the rewritten verdict a is counted once');
    assert.equal(profile?.latest.event_id, 'd');
    assert.equal(profile?.highest_risk_24h, 'HIGH');
  });

  it('keeps the newest `limit` verdicts; a profile goes with its last retained verdict', async () => {
    const store = new SqliteVerdictStore(openSqlite(mkdtempSync(join(tmpdir(), 'risk-sqlite-'))), 3);
    await store.write([verdict('old-1', 'gone', 1), verdict('keep-1', 'kept', 2)]);
    await store.write([verdict('n-1', 'new', 3), verdict('n-2', 'new', 4), verdict('n-3', 'new', 5)]);
    assert.deepEqual(
      (await store.query.findVerdicts({})).items.map((v) => v.event_id),
      ['n-3', 'n-2', 'n-1'],
    );
    assert.equal(await store.query.getProfile('gone'), undefined, 'no verdict of this user is left');
    assert.equal(await store.query.getProfile('kept'), undefined);
    assert.equal((await store.query.getProfile('new'))?.counts.LOW, 3);
  });

  it('survives reopening the database: verdicts, profiles, recent alerts and rejects with their total', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-sqlite-'));
    const db = openSqlite(dir);
    await new SqliteVerdictStore(db, 10).write([verdict('a', 'u1', 1, 'HIGH')]);
    await new SqliteAlertStore(db, 2).publish([1, 2, 3].map((i) => ({ ...verdict(`al-${i}`, 'u1', i, 'HIGH'), alert_id: `al-${i}` })));
    await new SqliteRejectStore(db, 10).reject([
      { raw: Buffer.from([0xff, 0x7b]), errors: [{ path: '$', message: 'bad' }], source: { line: 3 } },
    ]);
    db.close();
    const reopened = openSqlite(dir);
    const store = new SqliteVerdictStore(reopened, 10);
    assert.equal((await store.query.getVerdict('a'))?.risk_level, 'HIGH');
    assert.equal((await store.query.getProfile('u1'))?.counts.HIGH, 1);
    assert.deepEqual(
      new SqliteAlertStore(reopened, 2).recent(10).map((a) => a.alert_id),
      ['al-3', 'al-2'],
    );
    const rejects = new SqliteRejectStore(reopened, 10);
    assert.equal(rejects.total, 1);
    assert.deepEqual(rejects.recent(10), [
      { raw: Buffer.from([0xff, 0x7b]), key: undefined, errors: [{ path: '$', message: 'bad' }], source: { line: 3 } },
    ]);
    reopened.close();
  });
});
