import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SnoozeStore, type Snooze, type SnoozeAuditEntry, type SnoozeAuditPage } from '@risk/domain';

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
  private loaded: Promise<void> | undefined;
  private snoozes: Snooze[] = [];
  private trail: SnoozeAuditEntry[] = [];
  private tail: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<() => void>();

  constructor(dataDir: string) {
    super();
    this.dir = join(dataDir, 'snoozes');
  }

  async list(): Promise<Snooze[]> {
    await this.load();
    return [...this.snoozes];
  }

  create(snooze: Snooze, maxActive: number, now: number): Promise<boolean> {
    return this.exclusive(async () => {
      const kept = this.snoozes.filter((s) => Date.parse(s.expires_at) > now);
      if (kept.length >= maxActive) return false;
      await this.save([...kept, snooze], { at: snooze.created_at, actor: snooze.created_by, action: 'create', snooze });
      return true;
    });
  }

  remove(id: string, actor: string, at: string, reason?: string): Promise<Snooze | undefined> {
    return this.exclusive(async () => {
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
    await this.load();
    const total = this.trail.length;
    const items: SnoozeAuditEntry[] = [];
    for (let i = total - 1 - offset; i >= 0 && items.length < limit; i--) items.push(this.trail[i]);
    return { total, items };
  }

  subscribe(listener: () => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
      return Promise.resolve();
    });
  }

  override async close(): Promise<void> {
    this.listeners.clear();
    await this.tail.catch(() => undefined);
  }

  /** The snoozes file first (it is what decides), then the audit entry. */
  private async save(snoozes: Snooze[], entry: SnoozeAuditEntry): Promise<void> {
    const path = join(this.dir, 'active.json');
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(JSON.stringify(snoozes, null, 2) + '\n', 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(temp, path);
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      throw error;
    }
    this.snoozes = snoozes;
    const audit = await open(join(this.dir, 'audit.ndjson'), 'a');
    try {
      await audit.writeFile(JSON.stringify(entry) + '\n', 'utf8');
      await audit.sync();
    } finally {
      await audit.close();
    }
    this.trail.push(entry);
    for (const listener of this.listeners) listener();
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => this.load()).then(task);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private load(): Promise<void> {
    this.loaded ??= this.readAll().catch((error: unknown) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
  }

  private async readAll(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const active = await readOptional(join(this.dir, 'active.json'));
    this.snoozes = active === undefined ? [] : (JSON.parse(active) as Snooze[]);
    this.trail = [];
    for (const line of ((await readOptional(join(this.dir, 'audit.ndjson'))) ?? '').split('\n')) {
      if (line.trim() === '') continue;
      try {
        this.trail.push(JSON.parse(line) as SnoozeAuditEntry);
      } catch {
        // A line torn by a crash mid-append: the entries before it are intact.
      }
    }
  }
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
