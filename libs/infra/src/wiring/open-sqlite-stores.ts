import type { RejectedMessage } from '@risk/domain';
import { openSqlite } from '../sqlite/sqlite.database';
import { SqliteAlertStore, SqliteRejectStore } from '../sqlite/sqlite-recent.stores';
import { SqliteVerdictStore } from '../sqlite/sqlite-verdict.store';

export interface OpenedSqliteStores {
  /** Verdicts and profiles: the verdict store when Elasticsearch is not configured. */
  readonly verdicts: SqliteVerdictStore;
  /** This instance's recent alerts (GET /alerts). */
  readonly alerts: SqliteAlertStore;
  /** This instance's recent rejects (GET /rejects). */
  readonly rejects: SqliteRejectStore;
  /** Closes the database file. */
  close(): Promise<void>;
}

export interface SqliteStoresOptions {
  readonly dataDir: string;
  readonly verdictsLimit: number;
  readonly recentLimit: number;
  /** Told of every reject as it is stored (the engine logs it). */
  readonly onReject?: (message: RejectedMessage) => void;
}

/** The embedded stores, all in one database file under DATA_DIR (bounded, kept across restarts). */
export function openSqliteStores(options: SqliteStoresOptions): OpenedSqliteStores {
  const database = openSqlite(options.dataDir);
  return {
    verdicts: new SqliteVerdictStore(database, options.verdictsLimit),
    alerts: new SqliteAlertStore(database, options.recentLimit),
    rejects: new SqliteRejectStore(database, options.recentLimit, options.onReject),
    close: async () => void database.close(),
  };
}
