import { VerdictSink, type Verdict } from '@risk/domain';
import type { Statement } from 'better-sqlite3';
import {
  applyRiskProfileUpdate,
  DEFAULT_PROFILE_RECENT_LIMIT,
  riskProfileUpdate,
  toRiskProfile,
  type StoredRiskProfile,
} from '../verdict-query/risk-profile';
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  VerdictQuery,
  decodeCursor,
  encodeCursor,
  type RiskProfile,
  type VerdictFilter,
  type VerdictPage,
} from '../verdict-query/verdict.query';
import type { SqliteDatabase } from './sqlite.database';

/** Separates rule ids in `rule_ids` (ASCII unit separator: never part of a rule id). */
const SEP = '\u001f';

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
  doc TEXT NOT NULL
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
  private readonly readProfile: Statement<[string], { doc: string }>;
  private readonly writeProfile: Statement<[string, number, string]>;
  private readonly pruneVerdicts: Statement<[number]>;
  private readonly pruneProfiles: Statement<[number]>;
  private readonly byId: Statement<[string], { doc: string }>;
  private readonly searches = new Map<string, Statement<unknown[], { doc: string; event_time_ms: number; event_id: string }>>();
  private readonly writeBatch: (verdicts: readonly Verdict[]) => void;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly limit: number,
  ) {
    super();
    db.exec(SCHEMA);
    this.findSeq = db.prepare('SELECT seq FROM verdicts WHERE event_id = ?');
    this.insert = db.prepare(
      'INSERT INTO verdicts (event_id, user_id, risk_level, event_time_ms, rule_ids, doc) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.replace = db.prepare('UPDATE verdicts SET user_id = ?, risk_level = ?, event_time_ms = ?, rule_ids = ?, doc = ? WHERE seq = ?');
    this.readProfile = db.prepare('SELECT doc FROM profiles WHERE user_id = ?');
    this.writeProfile = db.prepare(
      'INSERT INTO profiles (user_id, last_seq, doc) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET last_seq = excluded.last_seq, doc = excluded.doc',
    );
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
      return existing.seq;
    }
    const seq = Number(this.insert.run(verdict.event_id, verdict.user_id, verdict.risk_level, ms, ruleIds, doc).lastInsertRowid);
    const update = riskProfileUpdate(verdict);
    if ('errors' in update) return seq; // pipeline verdicts are always valid; a malformed one gets no profile
    const row = this.readProfile.get(verdict.user_id);
    const outcome = applyRiskProfileUpdate(
      row === undefined ? undefined : (JSON.parse(row.doc) as StoredRiskProfile),
      update,
      DEFAULT_PROFILE_RECENT_LIMIT,
    );
    if (outcome.kind === 'updated') this.writeProfile.run(verdict.user_id, seq, JSON.stringify(outcome.profile));
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
      return Promise.resolve(row === undefined ? undefined : toRiskProfile(JSON.parse(row.doc) as StoredRiskProfile));
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
    if (filter.user_id !== undefined) add('user_id = ?', filter.user_id);
    if (filter.risk_level !== undefined) add('risk_level = ?', filter.risk_level);
    if (filter.rule_id !== undefined) add('instr(rule_ids, ?) > 0', `${SEP}${filter.rule_id}${SEP}`);
    if (filter.from !== undefined) add('event_time_ms >= ?', filter.from);
    if (filter.to !== undefined) add('event_time_ms < ?', filter.to);
    if (cursor !== undefined) add('(event_time_ms < ? OR (event_time_ms = ? AND event_id < ?))', cursor[0], cursor[0], cursor[1]);
    const sql =
      `SELECT doc, event_time_ms, event_id FROM verdicts${where.length === 0 ? '' : ` WHERE ${where.join(' AND ')}`}` +
      ' ORDER BY event_time_ms DESC, event_id DESC LIMIT ?';
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
