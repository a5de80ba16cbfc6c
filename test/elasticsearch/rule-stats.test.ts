import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withSuppression, type RiskLevel, type RuleStatsRequest, type Verdict } from '@risk/domain';
import { SeededRandom } from '@risk/generator';
import { ElasticsearchVerdictQuery } from '@risk/infra/elasticsearch/elasticsearch-verdict.query';
import type { ElasticsearchClient } from '@risk/infra/elasticsearch/elasticsearch.client';
import { openSqlite } from '@risk/infra/sqlite/sqlite.database';
import { SqliteVerdictStore } from '@risk/infra/sqlite/sqlite-verdict.store';
import { TestElasticsearchNode } from '../support/elasticsearch-node';
import { client, sink, verdict } from './es-fixtures';

const ACTIVE = ['device-and-city-change', 'login-burst', 'ip-registration-farm', 'small-payment'];
const SHADOW = ['login-burst', 'small-payment', 'ip-registration-farm'];
const START = Date.parse('2026-10-28T00:00:00.000Z');
const HOUR = 3_600_000;

/**
 * 600 verdicts over ten days across a month boundary (two monthly indices),
 * with every combination of active and shadow rules, levels and suppression.
 */
function fixture(): Verdict[] {
  const random = new SeededRandom(14);
  return Array.from({ length: 600 }, (_, i) => {
    const rules = ACTIVE.filter(() => random.next() < 0.3);
    const shadow = SHADOW.filter(() => random.next() < 0.2);
    const v = verdict({
      event_id: `rs-${i}`,
      user_id: `u-${i % 7}`,
      event_time: new Date(START + Math.floor(random.next() * 240 * HOUR)).toISOString(),
      rules,
      shadow,
    });
    const suppressed = rules.length > 0 && random.next() < 0.25;
    return suppressed
      ? withSuppression(v, { kind: 'cooldown', reason: 'cooldown 30m', rule_id: rules[0], entity: `user_id:${v.user_id}`, until: null })
      : v;
  });
}

describe('rule statistics and the shadow-rule filter: Elasticsearch and SQLite give the same answer', () => {
  let node: TestElasticsearchNode;
  let prefix: string;
  let es: ElasticsearchClient;
  let elastic: ElasticsearchVerdictQuery;
  let sqlite: SqliteVerdictStore;
  let sqliteDir: string | undefined;
  const verdicts = fixture();

  before(async () => {
    node = await TestElasticsearchNode.start();
    prefix = node.prefix();
    es = client(node.url, prefix);
    elastic = new ElasticsearchVerdictQuery(es);
    const { sink: s } = await sink(es);
    await s.write(verdicts);
    await s.flush();
    await es.refresh(`${prefix}-verdicts`);
    sqlite = new SqliteVerdictStore(openSqlite((sqliteDir = mkdtempSync(join(tmpdir(), 'risk-rule-stats-')))), 10_000);
    await sqlite.write(verdicts);
  });
  after(async () => {
    await es?.close();
    await node?.deletePrefix(prefix);
    await node?.stop();
    if (sqliteDir !== undefined) rmSync(sqliteDir, { recursive: true, force: true });
  });

  it('per rule and mode: hits, alerts raised, suppressed and last hit, for several ranges and thresholds', async () => {
    const ranges: [number, number][] = [
      [START, START + 240 * HOUR],
      [START + 50 * HOUR, START + 130 * HOUR],
      [Date.parse('2026-11-01T00:00:00.000Z'), Date.parse('2026-11-02T00:00:00.000Z')],
      [START - 48 * HOUR, START],
    ];
    for (const [from, to] of ranges) {
      for (const alertThreshold of ['LOW', 'MEDIUM', 'HIGH'] as RiskLevel[]) {
        const request: RuleStatsRequest = { from, to, alertThreshold };
        const fromSqlite = await sqlite.query.ruleStats(request);
        assert.deepEqual(await elastic.ruleStats(request), fromSqlite, JSON.stringify(request));
        assert.deepEqual(fromSqlite, expected(verdicts, request), 'both match a count over the verdicts themselves');
      }
    }
    const all = await elastic.ruleStats({ from: START, to: START + 240 * HOUR, alertThreshold: 'MEDIUM' });
    assert.equal(all.rules.length, ACTIVE.length + SHADOW.length, 'every rule fired in both modes');
    assert.ok(all.rules.some((r) => r.suppressed > 0) && all.rules.some((r) => r.alerts_raised > 0));
  });

  it('GET /verdicts?shadow_rule_id= finds the same verdicts in both stores', async () => {
    for (const id of SHADOW) {
      const ids = async (query: ElasticsearchVerdictQuery | SqliteVerdictStore['query']): Promise<string[]> =>
        (await query.findVerdicts({ shadow_rule_id: id, size: 1000 })).items.map((v) => v.event_id);
      const fromSqlite = await ids(sqlite.query);
      assert.deepEqual(await ids(elastic), fromSqlite);
      assert.deepEqual(
        new Set(fromSqlite),
        new Set(verdicts.filter((v) => v.shadow_rules.some((r) => r.id === id)).map((v) => v.event_id)),
      );
    }
  });

  it('answers an empty list before any verdict was written', async () => {
    const empty = new ElasticsearchVerdictQuery(client(node.url, node.prefix()));
    assert.deepEqual(await empty.ruleStats({ from: START, to: START + HOUR, alertThreshold: 'MEDIUM' }), {
      from: new Date(START).toISOString(),
      to: new Date(START + HOUR).toISOString(),
      rules: [],
    });
  });
});

/** The statistics computed naively from the verdicts (docs/investigation.md). */
function expected(verdicts: readonly Verdict[], { from, to, alertThreshold }: RuleStatsRequest) {
  const rank: Record<RiskLevel, number> = { LOW: 0, MEDIUM: 1, HIGH: 2 };
  const rows = new Map<
    string,
    { rule_id: string; mode: 'active' | 'shadow'; hits: number; alerts_raised: number; suppressed: number; last: number }
  >();
  for (const v of verdicts) {
    const t = Date.parse(v.event_time);
    if (t < from || t >= to) continue;
    for (const [mode, list] of [
      ['active', v.rules],
      ['shadow', v.shadow_rules],
    ] as const) {
      for (const rule of list) {
        const key = `${rule.id}\u0000${mode}`;
        const row = rows.get(key) ?? { rule_id: rule.id, mode, hits: 0, alerts_raised: 0, suppressed: 0, last: -Infinity };
        row.hits++;
        if (mode === 'active' && v.suppressed === true) row.suppressed++;
        if (mode === 'active' && v.suppressed !== true && rank[v.risk_level] >= rank[alertThreshold]) row.alerts_raised++;
        row.last = Math.max(row.last, t);
        rows.set(key, row);
      }
    }
  }
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    rules: [...rows.values()]
      .sort((a, b) => (a.rule_id < b.rule_id ? -1 : a.rule_id > b.rule_id ? 1 : a.mode < b.mode ? -1 : 1))
      .map(({ last, ...row }) => ({ ...row, last_hit: new Date(last).toISOString() })),
  };
}
