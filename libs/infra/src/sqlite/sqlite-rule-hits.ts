import { RISK_RANK, formatEventTime, sortRuleStats, type RuleStats, type RuleStatsRequest, type Verdict } from '@risk/domain';
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite.database';

/**
 * One row per (verdict, fired rule, mode) beside the `verdicts` table: what
 * `GET /rules/stats` aggregates and what `GET /verdicts?shadow_rule_id=`
 * looks up, without parsing the stored documents. The verdict's level rank
 * is stored, not whether it alerted: ALERT_THRESHOLD may change between
 * restarts, and the stats apply the threshold of the instance that asks.
 * Rows share the verdict's `seq`, so they are replaced and pruned with it.
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS rule_hits (
  seq INTEGER NOT NULL,
  shadow INTEGER NOT NULL,
  rule_id TEXT NOT NULL,
  event_time_ms INTEGER NOT NULL,
  level INTEGER NOT NULL,
  suppressed INTEGER NOT NULL,
  PRIMARY KEY (seq, shadow, rule_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rule_hits_by_time ON rule_hits (event_time_ms, rule_id, shadow, level, suppressed);
CREATE INDEX IF NOT EXISTS rule_hits_by_rule_time ON rule_hits (rule_id, shadow, event_time_ms);
DROP INDEX IF EXISTS rule_hits_by_rule;
`;

/** Rows for the verdicts stored before this table existed (one statement, at the first start with it). */
const BACKFILL = `
INSERT OR IGNORE INTO rule_hits (seq, shadow, rule_id, event_time_ms, level, suppressed)
SELECT v.seq, m.shadow, json_extract(r.value, '$.id'), v.event_time_ms,
  CASE v.risk_level WHEN 'HIGH' THEN ${RISK_RANK.HIGH} WHEN 'MEDIUM' THEN ${RISK_RANK.MEDIUM} ELSE ${RISK_RANK.LOW} END,
  coalesce(json_extract(v.doc, '$.suppressed'), 0) = 1
FROM verdicts v
JOIN (SELECT 0 AS shadow, '$.rules' AS path UNION ALL SELECT 1, '$.shadow_rules') m
JOIN json_each(v.doc, m.path) r
`;

/**
 * Active rows count alerts and suppressions; shadow rules raise no alert
 * (SPEC §4), so their rows count hits only.
 */
const STATS = `
SELECT rule_id, shadow, count(*) AS hits,
  sum(shadow = 0 AND level >= @rank AND suppressed = 0) AS alerts_raised,
  sum(shadow = 0 AND suppressed = 1) AS suppressed,
  max(event_time_ms) AS last_ms
FROM rule_hits
WHERE event_time_ms >= @from AND event_time_ms < @to
GROUP BY rule_id, shadow
`;

interface StatsRow {
  rule_id: string;
  shadow: number;
  hits: number;
  alerts_raised: number;
  suppressed: number;
  last_ms: number;
}

export class SqliteRuleHits {
  private readonly insert: Statement<[number, number, string, number, number, number]>;
  private readonly remove: Statement<[number]>;
  private readonly prune: Statement<[number]>;
  private readonly stats: Statement<[{ rank: number; from: number; to: number }], StatsRow>;

  constructor(db: SqliteDatabase) {
    // One transaction (SQLite's DDL is transactional): a crash cannot leave the table created and not backfilled.
    db.transaction(() => {
      const existed = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rule_hits'").get() !== undefined;
      db.exec(SCHEMA);
      if (!existed) db.exec(BACKFILL);
    })();
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO rule_hits (seq, shadow, rule_id, event_time_ms, level, suppressed) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.remove = db.prepare('DELETE FROM rule_hits WHERE seq = ?');
    this.prune = db.prepare('DELETE FROM rule_hits WHERE seq <= ?');
    this.stats = db.prepare(STATS);
  }

  /** The verdict's rows (inside the store's write transaction); `replacing`: it had rows already. */
  write(seq: number, verdict: Verdict, replacing: boolean): void {
    if (replacing) this.remove.run(seq);
    if (verdict.rules.length === 0 && verdict.shadow_rules.length === 0) return;
    const ms = Date.parse(verdict.event_time);
    const level = RISK_RANK[verdict.risk_level];
    const suppressed = verdict.suppressed === true ? 1 : 0;
    for (const rule of verdict.rules) this.insert.run(seq, 0, rule.id, ms, level, suppressed);
    for (const rule of verdict.shadow_rules) this.insert.run(seq, 1, rule.id, ms, level, suppressed);
  }

  pruneUpTo(seq: number): void {
    this.prune.run(seq);
  }

  read({ from, to, alertThreshold }: RuleStatsRequest): RuleStats {
    const rows = this.stats.all({ rank: RISK_RANK[alertThreshold], from, to });
    return {
      from: formatEventTime(from),
      to: formatEventTime(to),
      rules: sortRuleStats(
        rows.map((row) => ({
          rule_id: row.rule_id,
          mode: row.shadow === 1 ? 'shadow' : 'active',
          hits: row.hits,
          alerts_raised: row.alerts_raised,
          suppressed: row.suppressed,
          last_hit: formatEventTime(row.last_ms),
        })),
      ),
    };
  }
}

/**
 * `GET /verdicts?shadow_rule_id=` reads the rule's hits newest first from
 * `rule_hits_by_rule_time` and joins each to its verdict (`v`): a page costs
 * its own rows, however many verdicts the rule fired on. `time` is the
 * column to range, page and order on.
 */
export function shadowRuleHits(ruleId: string): { from: string; clause: string; ruleId: string; time: string } {
  return {
    from: 'rule_hits h JOIN verdicts v ON v.seq = h.seq',
    clause: 'h.rule_id = ? AND h.shadow = 1',
    ruleId,
    time: 'h.event_time_ms',
  };
}
