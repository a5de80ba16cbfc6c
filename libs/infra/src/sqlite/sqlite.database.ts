import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

/**
 * The embedded default's database, `<dataDir>/engine.sqlite`: verdicts,
 * profiles, recent alerts and rejects. WAL mode with synchronous=NORMAL: a
 * committed batch survives a crash of the process (the WAL is written before
 * the commit returns) but may be lost with the machine's power; fsync happens
 * at checkpoints, not per batch.
 */
export function openSqlite(dataDir: string, file = 'engine.sqlite'): SqliteDatabase {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, file));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  // Readers (GET /verdicts) never block the writer in WAL mode; a short wait covers a checkpoint.
  db.pragma('busy_timeout = 5000');
  // 64 MB of page cache (native memory, not V8 heap): the four verdict indexes stay cached on the write path.
  db.pragma('cache_size = -65536');
  return db;
}
