import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withSuppression, type RuleStatsRequest, type Verdict } from '@risk/domain';
import { ElasticsearchVerdictQuery } from '@risk/infra/elasticsearch/elasticsearch-verdict.query';
import type { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { openSqlite } from '@risk/infra/sqlite/sqlite.database';
import { SqliteVerdictStore } from '@risk/infra/sqlite/sqlite-verdict.store';
import { TestElasticsearchNode } from '../support/elasticsearch-node';
import { client, sink, verdict } from './es-fixtures';

const START = Date.parse('2026-11-10T00:00:00.000Z');
const MINUTE = 60_000;
/** More active rule ids than a terms aggregation of 10,000 buckets returned (the limit before paging). */
const ACTIVE_IDS = 10_500;

/**
 * Verdicts over one week: verdict i fired active rule `r-<i % 10,500>`, and
 * every third one shadow rule `s-<i % 3,700>` too, so that each mode pages
 * on its own; a few are suppressed and all are HIGH or MEDIUM.
 */
function fixture(): Verdict[] {
  return Array.from({ length: 12_000 }, (_, i) => {
    const base = verdict({
      event_id: `page-${i}`,
      user_id: `u-${i % 11}`,
      event_time: new Date(START + i * MINUTE).toISOString(),
      rules: [i % 2 === 0 ? 'login-burst' : 'device-and-city-change'],
      shadow: i % 3 === 0 ? ['small-payment'] : [],
    });
    const v: Verdict = {
      ...base,
      rules: base.rules.map((r) => ({ ...r, id: `r-${String(i % ACTIVE_IDS).padStart(5, '0')}` })),
      shadow_rules: base.shadow_rules.map((r) => ({ ...r, id: `s-${i % 3_700}` })),
    };
    return i % 7 === 0
      ? withSuppression(v, {
          kind: 'cooldown',
          reason: 'cooldown 30m',
          rule_id: v.rules[0].id,
          entity: `user_id:${v.user_id}`,
          until: null,
        })
      : v;
  });
}

describe('rule statistics page through more than 10,000 rule ids (Elasticsearch composite aggregation)', () => {
  let node: TestElasticsearchNode;
  let prefix: string;
  let es: ElasticsearchClient;
  let sqlite: SqliteVerdictStore;
  let sqliteDir: string | undefined;
  const verdicts = fixture();
  const request: RuleStatsRequest = { from: START, to: START + 12_000 * MINUTE, alertThreshold: 'MEDIUM' };

  before(async () => {
    node = await TestElasticsearchNode.start();
    prefix = node.prefix();
    es = client(node.url, prefix);
    const { sink: s } = await sink(es);
    for (let i = 0; i < verdicts.length; i += 2_000) await s.write(verdicts.slice(i, i + 2_000));
    await s.flush();
    await es.refresh(`${prefix}-verdicts`);
    sqlite = new SqliteVerdictStore(openSqlite((sqliteDir = mkdtempSync(join(tmpdir(), 'risk-rule-stats-paging-')))), 100_000);
    await sqlite.write(verdicts);
  });
  after(async () => {
    await es?.close();
    await node?.deletePrefix(prefix);
    await node?.stop();
    if (sqliteDir !== undefined) rmSync(sqliteDir, { recursive: true, force: true });
  });

  it('returns every rule id of both modes, as SQLite does', async () => {
    const fromSqlite = await sqlite.query.ruleStats(request);
    const active = fromSqlite.rules.filter((r) => r.mode === 'active');
    const shadow = fromSqlite.rules.filter((r) => r.mode === 'shadow');
    assert.equal(active.length, ACTIVE_IDS);
    assert.equal(shadow.length, 3_700);
    assert.equal(
      active.reduce((sum, r) => sum + r.hits, 0),
      verdicts.length,
    );
    assert.ok(active.some((r) => r.suppressed > 0) && active.some((r) => r.alerts_raised > 0));
    assert.deepEqual(await new ElasticsearchVerdictQuery(es).ruleStats(request), fromSqlite);
  });

  it('gives the same answer whatever the page size, including pages that end exactly at the last id', async () => {
    const whole = await sqlite.query.ruleStats(request);
    for (const ruleStatsPageSize of [3_700, 4_999, 10_500, 20_000]) {
      assert.deepEqual(await new ElasticsearchVerdictQuery(es, { ruleStatsPageSize }).ruleStats(request), whole, String(ruleStatsPageSize));
    }
    const narrow: RuleStatsRequest = { from: START + 100 * MINUTE, to: START + 160 * MINUTE, alertThreshold: 'HIGH' };
    assert.deepEqual(
      await new ElasticsearchVerdictQuery(es, { ruleStatsPageSize: 7 }).ruleStats(narrow),
      await sqlite.query.ruleStats(narrow),
    );
  });
});
