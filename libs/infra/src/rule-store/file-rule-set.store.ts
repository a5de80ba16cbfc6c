import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { NotFoundError } from '@risk/domain';
import {
  RuleSetStore,
  StaleWriteError,
  summarize,
  versionRecord,
  auditedFeatures,
  type AuditEntry,
  type AuditPage,
  type RuleSetChange,
  type RuleSetVersion,
  type RuleSetVersionSummary,
} from '@risk/domain/rules/lifecycle';

const VERSION_FILE = /^v(\d{6,})\.json$/;

/**
 * The embedded default: rule set versions and the audit trail under
 * `${dataDir}/rulesets/`, surviving restarts.
 *
 *   versions/v000007.json   one immutable file per version
 *   active.json             {"version": 7}, replaced atomically (temp file + fsync + rename)
 *   audit.ndjson            one entry per line, appended
 *
 * One process owns a data directory: writes are serialised in memory, not
 * locked on disk. A crash between writing a version and moving the pointer
 * leaves an unused version file, never a torn one.
 */
export class FileRuleSetStore extends RuleSetStore {
  private readonly dir: string;
  private readonly versionsDir: string;
  private loaded: Promise<void> | undefined;
  private readonly versions = new Map<number, RuleSetVersion>();
  private trail: AuditEntry[] = [];
  private active: number | undefined;
  private latest = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(version: number | undefined) => void>();

  constructor(
    dataDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
    this.dir = join(dataDir, 'rulesets');
    this.versionsDir = join(this.dir, 'versions');
  }

  async activeVersion(): Promise<number | undefined> {
    await this.load();
    return this.active;
  }

  async getVersion(version: number): Promise<RuleSetVersion | undefined> {
    await this.load();
    return this.versions.get(version);
  }

  async listVersions(): Promise<RuleSetVersionSummary[]> {
    await this.load();
    return [...this.versions.values()].sort((a, b) => b.version - a.version).map((v) => summarize(v, this.active));
  }

  commit(change: RuleSetChange): Promise<RuleSetVersion> {
    return this.exclusive(async () => {
      if ((this.active ?? 0) !== change.basedOn) throw new StaleWriteError(change.basedOn, this.active);
      const at = this.now();
      const version: RuleSetVersion = { version: this.latest + 1, ...versionRecord(change, at) };
      await this.writeAtomically(join(this.versionsDir, versionFileName(version.version)), JSON.stringify(version, null, 2) + '\n');
      this.latest = version.version;
      this.versions.set(version.version, version);
      const entry: AuditEntry = {
        version: version.version,
        previous_version: this.active ?? 0,
        at: at.toISOString(),
        actor: change.actor,
        action: change.action,
        rule_id: change.ruleId ?? null,
        before: change.before,
        after: change.after,
        ...auditedFeatures(change),
      };
      await this.point(version.version, entry);
      return version;
    });
  }

  activate(version: number, actor: string, expected?: number): Promise<AuditEntry> {
    return this.exclusive(async () => {
      if (!this.versions.has(version)) throw new NotFoundError('rule set version', version);
      if (expected !== undefined && expected !== (this.active ?? 0)) throw new StaleWriteError(expected, this.active);
      const entry: AuditEntry = {
        version,
        previous_version: this.active ?? 0,
        at: this.now().toISOString(),
        actor,
        action: 'activate',
        rule_id: null,
        before: null,
        after: null,
      };
      await this.point(version, entry);
      return entry;
    });
  }

  async audit(limit: number, offset: number): Promise<AuditPage> {
    await this.load();
    const total = this.trail.length;
    const items: AuditEntry[] = [];
    for (let i = total - 1 - offset; i >= 0 && items.length < limit; i--) items.push(this.trail[i]);
    return { total, items };
  }

  subscribe(listener: (version: number | undefined) => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
      return Promise.resolve();
    });
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.tail.catch(() => undefined);
  }

  /** Moves the active pointer, then appends the audit entry (the pointer is what decides). */
  private async point(version: number, entry: AuditEntry): Promise<void> {
    await this.writeAtomically(join(this.dir, 'active.json'), JSON.stringify({ version }) + '\n');
    this.active = version;
    await this.append(join(this.dir, 'audit.ndjson'), JSON.stringify(entry) + '\n');
    this.trail.push(entry);
    for (const listener of this.listeners) listener(version);
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
    await mkdir(this.versionsDir, { recursive: true });
    for (const name of await readdir(this.versionsDir)) {
      const match = VERSION_FILE.exec(name);
      if (match === null) continue;
      const version = JSON.parse(await readFile(join(this.versionsDir, name), 'utf8')) as RuleSetVersion;
      this.versions.set(version.version, version);
      this.latest = Math.max(this.latest, version.version);
    }
    const pointer = await readOptional(join(this.dir, 'active.json'));
    if (pointer !== undefined) {
      const version = (JSON.parse(pointer) as { version: number }).version;
      if (!this.versions.has(version)) throw new Error(`${this.dir}/active.json points at version ${version}, which is missing`);
      this.active = version;
    }
    const audit = (await readOptional(join(this.dir, 'audit.ndjson'))) ?? '';
    this.trail = [];
    for (const line of audit.split('\n')) {
      if (line.trim() === '') continue;
      try {
        this.trail.push(JSON.parse(line) as AuditEntry);
      } catch {
        // A line torn by a crash mid-append: the entries before it are intact.
      }
    }
  }

  private async writeAtomically(path: string, text: string): Promise<void> {
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await open(temp, 'wx');
    try {
      await file.writeFile(text, 'utf8');
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
    await syncDirectory(dirname(path));
  }

  private async append(path: string, text: string): Promise<void> {
    const file = await open(path, 'a');
    try {
      await file.writeFile(text, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
  }
}

function versionFileName(version: number): string {
  return `v${String(version).padStart(6, '0')}.json`;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Makes a rename durable; not every platform can open a directory, which only costs durability. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // best effort
  }
}
