import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
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
import { newestFirstPage } from '../files/audit-page';
import { appendDurably, readAuditTrail, readOptional, writeFileDurably } from '../files/durable-files';
import { OwnedDataDirectory } from '../files/owned-data-directory';

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
  private readonly owned = new OwnedDataDirectory<number | undefined>(() => this.readAll());
  private readonly versions = new Map<number, RuleSetVersion>();
  private trail: AuditEntry[] = [];
  private active: number | undefined;
  private latest = 0;

  constructor(
    dataDir: string,
    private readonly now: () => Date = () => new Date(),
  ) {
    super();
    this.dir = join(dataDir, 'rulesets');
    this.versionsDir = join(this.dir, 'versions');
  }

  async activeVersion(): Promise<number | undefined> {
    await this.owned.load();
    return this.active;
  }

  async getVersion(version: number): Promise<RuleSetVersion | undefined> {
    await this.owned.load();
    return this.versions.get(version);
  }

  async listVersions(): Promise<RuleSetVersionSummary[]> {
    await this.owned.load();
    return [...this.versions.values()].sort((a, b) => b.version - a.version).map((v) => summarize(v, this.active));
  }

  commit(change: RuleSetChange): Promise<RuleSetVersion> {
    return this.owned.exclusive(async () => {
      if ((this.active ?? 0) !== change.basedOn) throw new StaleWriteError(change.basedOn, this.active);
      const at = this.now();
      const version: RuleSetVersion = { version: this.latest + 1, ...versionRecord(change, at) };
      await writeFileDurably(join(this.versionsDir, versionFileName(version.version)), JSON.stringify(version, null, 2) + '\n');
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
    return this.owned.exclusive(async () => {
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
    await this.owned.load();
    return newestFirstPage(this.trail, limit, offset);
  }

  subscribe(listener: (version: number | undefined) => void): Promise<() => Promise<void>> {
    return this.owned.subscribe(listener);
  }

  close(): Promise<void> {
    return this.owned.close();
  }

  /** Moves the active pointer, then appends the audit entry (the pointer is what decides). */
  private async point(version: number, entry: AuditEntry): Promise<void> {
    await writeFileDurably(join(this.dir, 'active.json'), JSON.stringify({ version }) + '\n');
    this.active = version;
    await appendDurably(join(this.dir, 'audit.ndjson'), JSON.stringify(entry) + '\n');
    this.trail.push(entry);
    this.owned.notify(version);
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
    this.trail = await readAuditTrail<AuditEntry>(join(this.dir, 'audit.ndjson'));
  }
}

function versionFileName(version: number): string {
  return `v${String(version).padStart(6, '0')}.json`;
}
