import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SnoozeStore, type Snooze, type SnoozeAuditEntry, type SnoozeAuditPage } from '@risk/domain';
import { newestFirstPage } from '../files/audit-page';
import { appendDurably, readAuditTrail, readOptional, writeFileDurably } from '../files/durable-files';
import { OwnedDataDirectory } from '../files/owned-data-directory';

/**
 * The embedded default: snoozes under `${dataDir}/snoozes/`, surviving restarts.
 *
 *   active.json    the stored snoozes, replaced atomically (temp file + fsync + rename)
 *   audit.ndjson   one entry per line, appended
 *
 * One process owns a data directory: writes are serialised in memory.
 */
export class FileSnoozeStore extends SnoozeStore {
  private readonly dir: string;
  private readonly owned = new OwnedDataDirectory<void>(() => this.readAll());
  private snoozes: Snooze[] = [];
  private trail: SnoozeAuditEntry[] = [];

  constructor(dataDir: string) {
    super();
    this.dir = join(dataDir, 'snoozes');
  }

  async list(): Promise<Snooze[]> {
    await this.owned.load();
    return [...this.snoozes];
  }

  create(snooze: Snooze, maxActive: number, now: number): Promise<boolean> {
    return this.owned.exclusive(async () => {
      const kept = this.snoozes.filter((s) => Date.parse(s.expires_at) > now);
      if (kept.length >= maxActive) return false;
      await this.save([...kept, snooze], { at: snooze.created_at, actor: snooze.created_by, action: 'create', snooze });
      return true;
    });
  }

  remove(id: string, actor: string, at: string, reason?: string): Promise<Snooze | undefined> {
    return this.owned.exclusive(async () => {
      const snooze = this.snoozes.find((s) => s.id === id);
      if (snooze === undefined) return undefined;
      await this.save(
        this.snoozes.filter((s) => s.id !== id),
        { at, actor, action: 'delete', snooze, ...(reason === undefined ? {} : { reason }) },
      );
      return snooze;
    });
  }

  async audit(limit: number, offset: number): Promise<SnoozeAuditPage> {
    await this.owned.load();
    return newestFirstPage(this.trail, limit, offset);
  }

  subscribe(listener: () => void): Promise<() => Promise<void>> {
    return this.owned.subscribe(listener);
  }

  override close(): Promise<void> {
    return this.owned.close();
  }

  /** The snoozes file first (it is what decides), then the audit entry. */
  private async save(snoozes: Snooze[], entry: SnoozeAuditEntry): Promise<void> {
    await writeFileDurably(join(this.dir, 'active.json'), JSON.stringify(snoozes, null, 2) + '\n');
    this.snoozes = snoozes;
    await appendDurably(join(this.dir, 'audit.ndjson'), JSON.stringify(entry) + '\n');
    this.trail.push(entry);
    this.owned.notify();
  }

  private async readAll(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const active = await readOptional(join(this.dir, 'active.json'));
    this.snoozes = active === undefined ? [] : (JSON.parse(active) as Snooze[]);
    this.trail = await readAuditTrail<SnoozeAuditEntry>(join(this.dir, 'audit.ndjson'));
  }
}
