import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  VerdictQuery,
  VerdictSink,
  decodeCursor,
  encodeCursor,
  type RiskLevel,
  type RiskProfile,
  type RuleStats,
  type RuleStatsRequest,
  type Verdict,
  type VerdictFilter,
  type VerdictPage,
} from '@risk/domain';
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite.database';
import { SqliteRuleHits, shadowRuleHits } from './sqlite-rule-hits';

/** Separates rule ids in `rule_ids` (ASCII unit separator: never part of a rule id). */
const SEP = '\u001f';

/** "Never seen" for last_medium_ms / last_high_ms: before any event time. */
const NEVER = -1e16;
const DAY_MS = 86_400_000;

interface ProfileRow {
  latest_ms: number;
  latest_event_id: string;
  latest_event_time: string;
  latest_risk: RiskLevel;
  latest_score: number;
  updated_at: string;
  low: number;
  medium: number;
  high: number;
  last_medium_ms: number;
  last_high_ms: number;
}

/**
 * One statement per new verdict, no read-modify-write: counts add up, the
 * latest verdict moves only to a newer event_time (ties: the greater
 * event_id), and the newest MEDIUM / HIGH times give highest_risk_24h at read
 * time, the same rules as the Elasticsearch profile (risk-profile.ts). SET
 * expressions see the row's old values.
 */
const PROFILE_UPSERT = `
INSERT INTO profiles (user_id, last_seq, latest_ms, latest_event_id, latest_event_time, latest_risk, latest_score, updated_at,
  low, medium, high, last_medium_ms, last_high_ms)
VALUES (@user_id, @seq, @ms, @event_id, @event_time, @risk, @score, @decided_at, @low, @medium, @high, @medium_ms, @high_ms)
ON CONFLICT (user_id) DO UPDATE SET
  last_seq = excluded.last_seq,
  latest_ms = CASE WHEN NEWER THEN excluded.latest_ms ELSE latest_ms END,
  latest_event_id = CASE WHEN NEWER THEN excluded.latest_event_id ELSE latest_event_id END,
  latest_event_time = CASE WHEN NEWER THEN excluded.latest_event_time ELSE latest_event_time END,
  latest_risk = CASE WHEN NEWER THEN excluded.latest_risk ELSE latest_risk END,
  latest_score = CASE WHEN NEWER THEN excluded.latest_score ELSE latest_score END,
  updated_at = CASE WHEN NEWER THEN excluded.updated_at ELSE updated_at END,
  low = low + excluded.low,
  medium = medium + excluded.medium,
  high = high + excluded.high,
  last_medium_ms = max(last_medium_ms, excluded.last_medium_ms),
  last_high_ms = max(last_high_ms, excluded.last_high_ms)
`.replaceAll(
  'NEWER',
  '(excluded.latest_ms > latest_ms OR (excluded.latest_ms = latest_ms AND excluded.latest_event_id > latest_event_id))',
);

const SCHEMA = `
CREATE TABLE IF NOT EXISTS verdicts (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  user_id TEXT NOT NULL,
  risk_level TEXT NOT NULL,
  event_time_ms INTEGER NOT NULL,
  rule_ids TEXT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_time ON verdicts (event_time_ms DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS verdicts_by_user ON verdicts (user_id, event_time_ms DESC, event_id DESC);
CREATE INDEX IF NOT EXISTS verdicts_by_level ON verdicts (risk_level, event_time_ms DESC, event_id DESC);
CREATE TABLE IF NOT EXISTS profiles (
  user_id TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  latest_ms INTEGER NOT NULL,
  latest_event_id TEXT NOT NULL,
  latest_event_time TEXT NOT NULL,
  latest_risk TEXT NOT NULL,
  latest_score INTEGER NOT NULL,
  updated_at TEXT NOT NULL,
  low INTEGER NOT NULL,
  medium INTEGER NOT NULL,
  high INTEGER NOT NULL,
  last_medium_ms INTEGER NOT NULL,
  last_high_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_by_seq ON profiles (last_seq);
`;

/**
 * The embedded default's verdicts and risk profiles in SQLite (see
 * sqlite.database.ts): bounded by disk, kept across restarts, queryable.
 *
 * - One verdict per event_id: writing it again replaces the document
 *   (SPEC upsert); the profile counts each event_id once.
 * - `limit` verdicts are kept, the oldest insertions deleted first. A
 *   profile lives as long as one of the verdicts it summarises: it is
 *   deleted with its user's last retained verdict.
 * - One transaction per batch, prepared statements only.
 */
export class SqliteVerdictStore extends VerdictSink {
  private readonly findSeq: Statement<[string], { seq: number }>;
  private readonly insert: Statement<[string, string, string, number, string, string]>;
  private readonly replace: Statement<[string, string, number, string, string, number]>;
  private readonly readProfile: Statement<[string], ProfileRow>;
  private readonly writeProfile: Statement<[Record<string, string | number>]>;
  private readonly pruneVerdicts: Statement<[number]>;
  private readonly pruneProfiles: Statement<[number]>;
  private readonly byId: Statement<[string], { doc: string }>;
  private readonly searches = new Map<string, Statement<unknown[], { doc: string; event_time_ms: number; event_id: string }>>();
  private readonly writeBatch: (verdicts: readonly Verdict[]) => void;
  /** Fired rules per verdict, for the rule statistics and the shadow-rule filter. */
  private readonly ruleHits: SqliteRuleHits;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly limit: number,
  ) {
    super();
    db.exec(SCHEMA);
    this.ruleHits = new SqliteRuleHits(db);
    this.findSeq = db.prepare('SELECT seq FROM verdicts WHERE event_id = ?');
    this.insert = db.prepare(
      'INSERT INTO verdicts (event_id, user_id, risk_level, event_time_ms, rule_ids, doc) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.replace = db.prepare('UPDATE verdicts SET user_id = ?, risk_level = ?, event_time_ms = ?, rule_ids = ?, doc = ? WHERE seq = ?');
    this.readProfile = db.prepare('SELECT * FROM profiles WHERE user_id = ?');
    this.writeProfile = db.prepare(PROFILE_UPSERT);
    this.pruneVerdicts = db.prepare('DELETE FROM verdicts WHERE seq <= ?');
    this.pruneProfiles = db.prepare('DELETE FROM profiles WHERE last_seq <= ?');
    this.byId = db.prepare('SELECT doc FROM verdicts WHERE event_id = ?');
    this.writeBatch = db.transaction((verdicts: readonly Verdict[]) => {
      let newest = 0;
      for (const verdict of verdicts) newest = Math.max(newest, this.upsert(verdict));
      // Everything at or below the cutoff is beyond the `limit` newest insertions.
      const cutoff = newest - this.limit;
      if (cutoff > 0) {
        this.pruneVerdicts.run(cutoff);
        this.ruleHits.pruneUpTo(cutoff);
        this.pruneProfiles.run(cutoff);
      }
    });
  }

  write(verdicts: readonly Verdict[]): Promise<void> {
    this.writeBatch(verdicts);
    return Promise.resolve();
  }

  /** Returns the verdict's insertion sequence number. */
  private upsert(verdict: Verdict): number {
    const ms = Date.parse(verdict.event_time);
    const ruleIds = verdict.rules.length === 0 ? '' : `${SEP}${verdict.rules.map((r) => r.id).join(SEP)}${SEP}`;
    const doc = JSON.stringify(verdict);
    const existing = this.findSeq.get(verdict.event_id);
    if (existing !== undefined) {
      this.replace.run(verdict.user_id, verdict.risk_level, ms, ruleIds, doc, existing.seq);
      this.ruleHits.write(existing.seq, verdict, true);
      return existing.seq;
    }
    const seq = Number(this.insert.run(verdict.event_id, verdict.user_id, verdict.risk_level, ms, ruleIds, doc).lastInsertRowid);
    this.ruleHits.write(seq, verdict, false);
    const level = verdict.risk_level;
    this.writeProfile.run({
      user_id: verdict.user_id,
      seq,
      ms,
      event_id: verdict.event_id,
      event_time: verdict.event_time,
      risk: level,
      score: verdict.score,
      decided_at: verdict.decided_at,
      low: level === 'LOW' ? 1 : 0,
      medium: level === 'MEDIUM' ? 1 : 0,
      high: level === 'HIGH' ? 1 : 0,
      medium_ms: level === 'MEDIUM' ? ms : NEVER,
      high_ms: level === 'HIGH' ? ms : NEVER,
    });
    return seq;
  }

  readonly query: VerdictQuery = new (class extends VerdictQuery {
    constructor(private readonly store: SqliteVerdictStore) {
      super();
    }
    findVerdicts(filter: VerdictFilter): Promise<VerdictPage> {
      return Promise.resolve(this.store.find(filter));
    }
    getVerdict(eventId: string): Promise<Verdict | undefined> {
      const row = this.store.byId.get(eventId);
      return Promise.resolve(row === undefined ? undefined : (JSON.parse(row.doc) as Verdict));
    }
    getProfile(userId: string): Promise<RiskProfile | undefined> {
      const row = this.store.readProfile.get(userId);
      return Promise.resolve(row === undefined ? undefined : toProfile(userId, row));
    }
    ruleStats(request: RuleStatsRequest): Promise<RuleStats> {
      return Promise.resolve(this.store.ruleHits.read(request));
    }
  })(this);

  /** Newest event_time first, ties by event_id descending: the same order and cursor as Elasticsearch. */
  private find(filter: VerdictFilter): VerdictPage {
    const size = Math.min(Math.max(filter.size ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
    const cursor = filter.search_after === undefined ? undefined : decodeCursor(filter.search_after);
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, ...values: unknown[]): void => {
      where.push(clause);
      params.push(...values);
    };
    // A shadow rule's verdicts are read through its hits, in their event-time order (rule_hits_by_rule_time).
    const shadow = filter.shadow_rule_id === undefined ? undefined : shadowRuleHits(filter.shadow_rule_id);
    const time = shadow?.time ?? 'v.event_time_ms';
    if (shadow !== undefined) add(shadow.clause, shadow.ruleId);
    if (filter.user_id !== undefined) add('v.user_id = ?', filter.user_id);
    if (filter.risk_level !== undefined) add('v.risk_level = ?', filter.risk_level);
    if (filter.rule_id !== undefined) add('instr(v.rule_ids, ?) > 0', `${SEP}${filter.rule_id}${SEP}`);
    if (filter.from !== undefined) add(`${time} >= ?`, filter.from);
    if (filter.to !== undefined) add(`${time} < ?`, filter.to);
    if (cursor !== undefined) add(`(${time} < ? OR (${time} = ? AND v.event_id < ?))`, cursor[0], cursor[0], cursor[1]);
    const sql =
      `SELECT v.doc, v.event_time_ms, v.event_id FROM ${shadow?.from ?? 'verdicts v'}${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`}` +
      ` ORDER BY ${time} DESC, v.event_id DESC LIMIT ?`;
    let statement = this.searches.get(sql);
    if (statement === undefined) this.searches.set(sql, (statement = this.db.prepare(sql)));
    const rows = statement.all(...params, size + 1);
    const page = rows.slice(0, size);
    const last = page[page.length - 1];
    return {
      items: page.map((row) => JSON.parse(row.doc) as Verdict),
      ...(rows.length > size && last !== undefined ? { next_search_after: encodeCursor(last.event_time_ms, last.event_id) } : {}),
    };
  }
}

function toProfile(userId: string, row: ProfileRow): RiskProfile {
  const since = row.latest_ms - DAY_MS;
  return {
    user_id: userId,
    latest: { event_id: row.latest_event_id, event_time: row.latest_event_time, risk_level: row.latest_risk, score: row.latest_score },
    highest_risk_24h: row.last_high_ms > since ? 'HIGH' : row.last_medium_ms > since ? 'MEDIUM' : 'LOW',
    counts: { LOW: row.low, MEDIUM: row.medium, HIGH: row.high },
    updated_at: row.updated_at,
  };
}
