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
} from './rule-set-store';
import { NotFoundError } from '@risk/domain/shared/errors';

/**
 * A `RuleSetStore` in process memory: the reference implementation of the
 * port's semantics (used by the specs and by the replay command).
 */
export class MemoryRuleSetStore extends RuleSetStore {
  private readonly versions = new Map<number, RuleSetVersion>();
  private readonly trail: AuditEntry[] = [];
  private readonly listeners = new Set<(version: number | undefined) => void>();
  private active: number | undefined;

  constructor(private readonly now: () => Date = () => new Date()) {
    super();
  }

  activeVersion(): Promise<number | undefined> {
    return Promise.resolve(this.active);
  }

  getVersion(version: number): Promise<RuleSetVersion | undefined> {
    return Promise.resolve(this.versions.get(version));
  }

  listVersions(): Promise<RuleSetVersionSummary[]> {
    return Promise.resolve([...this.versions.values()].sort((a, b) => b.version - a.version).map((v) => summarize(v, this.active)));
  }

  commit(change: RuleSetChange): Promise<RuleSetVersion> {
    if ((this.active ?? 0) !== change.basedOn) return Promise.reject(new StaleWriteError(change.basedOn, this.active));
    const at = this.now();
    const version: RuleSetVersion = { version: this.versions.size + 1, ...versionRecord(change, at) };
    this.versions.set(version.version, version);
    this.trail.push({
      version: version.version,
      previous_version: this.active ?? 0,
      at: at.toISOString(),
      actor: change.actor,
      action: change.action,
      rule_id: change.ruleId ?? null,
      before: change.before,
      after: change.after,
      ...auditedFeatures(change),
    });
    this.active = version.version;
    this.notify(version.version);
    return Promise.resolve(version);
  }

  activate(version: number, actor: string, expected?: number): Promise<AuditEntry> {
    if (!this.versions.has(version)) return Promise.reject(new NotFoundError('rule set version', version));
    if (expected !== undefined && expected !== (this.active ?? 0)) return Promise.reject(new StaleWriteError(expected, this.active));
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
    this.trail.push(entry);
    this.active = version;
    this.notify(version);
    return Promise.resolve(entry);
  }

  audit(limit: number, offset: number): Promise<AuditPage> {
    const newestFirst = [...this.trail].reverse();
    return Promise.resolve({ total: newestFirst.length, items: newestFirst.slice(offset, offset + limit) });
  }

  subscribe(listener: (version: number | undefined) => void): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    return Promise.resolve(() => {
      this.listeners.delete(listener);
      return Promise.resolve();
    });
  }

  close(): Promise<void> {
    this.listeners.clear();
    return Promise.resolve();
  }

  private notify(version: number): void {
    for (const listener of this.listeners) listener(version);
  }
}
