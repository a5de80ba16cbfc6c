import { AlertPublisher, RejectSink, type Alert, type RecentAlerts, type RecentRejects, type RejectedMessage } from '@risk/domain';
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './sqlite.database';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS alerts (seq INTEGER PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rejects (seq INTEGER PRIMARY KEY, doc TEXT NOT NULL, raw BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
`;

/** This instance's recent alerts (`GET /alerts`) in SQLite: the newest `limit` kept, across restarts. */
export class SqliteAlertStore extends AlertPublisher implements RecentAlerts {
  private readonly insert: Statement<[string]>;
  private readonly prune: Statement<[number]>;
  private readonly newest: Statement<[number], { doc: string }>;
  private readonly writeBatch: (alerts: readonly Alert[]) => void;

  constructor(
    db: SqliteDatabase,
    private readonly limit: number,
  ) {
    super();
    db.exec(SCHEMA);
    this.insert = db.prepare('INSERT INTO alerts (doc) VALUES (?)');
    this.prune = db.prepare('DELETE FROM alerts WHERE seq <= ?');
    this.newest = db.prepare('SELECT doc FROM alerts ORDER BY seq DESC LIMIT ?');
    this.writeBatch = db.transaction((alerts: readonly Alert[]) => {
      let seq = 0;
      for (const alert of alerts) seq = Number(this.insert.run(JSON.stringify(alert)).lastInsertRowid);
      if (seq > this.limit) this.prune.run(seq - this.limit);
    });
  }

  publish(alerts: readonly Alert[]): Promise<void> {
    this.writeBatch(alerts);
    return Promise.resolve();
  }

  recent(limit: number): Alert[] {
    return this.newest.all(Math.min(limit, this.limit)).map((row) => JSON.parse(row.doc) as Alert);
  }
}

interface StoredReject {
  readonly key?: string | null;
  readonly errors: RejectedMessage['errors'];
  readonly source: RejectedMessage['source'];
  readonly stage?: RejectedMessage['stage'];
}

/** This instance's dead letters (`GET /rejects`) in SQLite: the newest `limit`, their original bytes, and the total. */
export class SqliteRejectStore extends RejectSink implements RecentRejects {
  private readonly insert: Statement<[string, Buffer]>;
  private readonly prune: Statement<[number]>;
  private readonly newest: Statement<[number], { doc: string; raw: Buffer }>;
  private readonly addTotal: Statement<[number]>;
  private readonly writeBatch: (messages: readonly RejectedMessage[]) => void;
  private count: number;

  constructor(
    db: SqliteDatabase,
    private readonly limit: number,
    private readonly onReject?: (message: RejectedMessage) => void,
  ) {
    super();
    db.exec(SCHEMA);
    this.insert = db.prepare('INSERT INTO rejects (doc, raw) VALUES (?, ?)');
    this.prune = db.prepare('DELETE FROM rejects WHERE seq <= ?');
    this.newest = db.prepare('SELECT doc, raw FROM rejects ORDER BY seq DESC LIMIT ?');
    this.addTotal = db.prepare(
      "INSERT INTO counters (name, value) VALUES ('rejects', ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
    );
    const total = db.prepare<[], { value: number }>("SELECT value FROM counters WHERE name = 'rejects'").get();
    this.count = total?.value ?? 0;
    this.writeBatch = db.transaction((messages: readonly RejectedMessage[]) => {
      let seq = 0;
      for (const m of messages) {
        const doc: StoredReject = { key: m.key == null ? m.key : m.key.toString(), errors: m.errors, source: m.source, stage: m.stage };
        const raw = typeof m.raw === 'string' ? Buffer.from(m.raw, 'utf8') : m.raw;
        seq = Number(this.insert.run(JSON.stringify(doc), raw).lastInsertRowid);
      }
      if (seq > this.limit) this.prune.run(seq - this.limit);
      this.addTotal.run(messages.length);
    });
  }

  /** Rejects ever kept by this data directory, including those pruned from the recent list. */
  get total(): number {
    return this.count;
  }

  reject(messages: readonly RejectedMessage[]): Promise<void> {
    this.writeBatch(messages);
    this.count += messages.length;
    if (this.onReject !== undefined) for (const message of messages) this.onReject(message);
    return Promise.resolve();
  }

  recent(limit: number): RejectedMessage[] {
    return this.newest.all(Math.min(limit, this.limit)).map((row) => {
      const doc = JSON.parse(row.doc) as StoredReject;
      return {
        raw: row.raw,
        key: doc.key,
        errors: doc.errors,
        source: doc.source,
        ...(doc.stage === undefined ? {} : { stage: doc.stage }),
      };
    });
  }
}
