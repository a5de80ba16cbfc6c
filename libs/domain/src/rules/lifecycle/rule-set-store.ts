import { ConflictError } from '@risk/domain/shared/errors';
import type { RuleDefinition, RuleSet } from '@risk/domain/rules/rule';
import type { FeatureDocument } from '@risk/domain/features/feature-document';

/**
 * What changed a rule set; `seed` is the first version, loaded from the shipped `rules/` directory;
 * `features` replaced the feature definitions (the rules stay).
 */
export type RuleSetAction = 'seed' | 'create' | 'update' | 'delete' | 'enable' | 'disable' | 'set-mode' | 'features';
export type AuditAction = RuleSetAction | 'activate';

/** One immutable, numbered rule set, with where it came from. */
export interface RuleSetVersion extends RuleSet {
  readonly rules: readonly RuleDefinition[];
  readonly created_at: string;
  /** Name of the API key that wrote it (`system` for the seed). */
  readonly created_by: string;
  /** The version that was active when this one was written; 0 for the seed. */
  readonly based_on: number;
  readonly action: RuleSetAction;
  readonly rule_id: string | null;
  /**
   * The feature definitions its rules were validated against, and that
   * decide with them (docs/features.md). Absent in versions written before
   * features were versioned: they read as the start-up `features.json`.
   */
  readonly features?: readonly FeatureDocument[];
}

export interface RuleSetVersionSummary {
  readonly version: number;
  readonly created_at: string;
  readonly created_by: string;
  readonly based_on: number;
  readonly action: RuleSetAction;
  readonly rule_id: string | null;
  readonly rule_count: number;
  readonly active: boolean;
}

/** One line of the audit trail: who did what, when, and the rule before and after. */
export interface AuditEntry {
  /** The version active after the change. */
  readonly version: number;
  /** The version active before the change (0 when the store was empty). */
  readonly previous_version: number;
  readonly at: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly rule_id: string | null;
  readonly before: RuleDefinition | null;
  readonly after: RuleDefinition | null;
  /** Action `features` only: the feature definitions before and after the change. */
  readonly features_before?: readonly FeatureDocument[];
  readonly features_after?: readonly FeatureDocument[];
}

/** A new version to write: it becomes active only if `basedOn` is still the active version. */
export interface RuleSetChange {
  /** The active version the change was computed from; 0 means "the store is empty" (seeding). */
  readonly basedOn: number;
  readonly rules: readonly RuleDefinition[];
  readonly actor: string;
  readonly action: RuleSetAction;
  readonly ruleId?: string | null;
  readonly before: RuleDefinition | null;
  readonly after: RuleDefinition | null;
  /** The features the new version pins (see RuleSetVersion.features). */
  readonly features?: readonly FeatureDocument[];
  /** Action `features` only: recorded in the audit entry. */
  readonly featuresBefore?: readonly FeatureDocument[];
}

export interface AuditPage {
  readonly total: number;
  readonly items: readonly AuditEntry[];
}

/**
 * Where rule set versions live: immutable numbered versions, one active
 * pointer and an append-only audit trail. Implementations make `commit` and
 * `activate` atomic compare-and-set operations on the active pointer, so two
 * editors (or two instances) can never silently overwrite each other.
 */
export abstract class RuleSetStore {
  /** The active version number, or `undefined` when the store holds no rule set yet. */
  abstract activeVersion(): Promise<number | undefined>;
  abstract getVersion(version: number): Promise<RuleSetVersion | undefined>;
  /** Every version, newest first. */
  abstract listVersions(): Promise<RuleSetVersionSummary[]>;
  /**
   * Writes version `latest + 1` and activates it, atomically, only if the
   * active version is still `change.basedOn`; otherwise throws `StaleWriteError`.
   */
  abstract commit(change: RuleSetChange): Promise<RuleSetVersion>;
  /**
   * Points the active pointer at an existing version (a rollback when it is
   * older) and records it in the audit trail. With `expected`, only if that
   * is still the active version.
   */
  abstract activate(version: number, actor: string, expected?: number): Promise<AuditEntry>;
  /** The audit trail, newest first. */
  abstract audit(limit: number, offset: number): Promise<AuditPage>;
  /**
   * Calls `listener` with the new active version whenever one is activated,
   * by this process or another, and with `undefined` when notifications may
   * have been missed (after a reconnection). Delivery is best effort:
   * watchers also poll.
   */
  abstract subscribe(listener: (version: number | undefined) => void): Promise<() => Promise<void>>;
  abstract close(): Promise<void>;
}

/** 409: the write was computed from a version that is no longer active. */
export class StaleWriteError extends ConflictError {
  constructor(basedOn: number, active: number | undefined) {
    super('STALE_WRITE', `stale write: based on version ${basedOn} but version ${active ?? 0} is active; reload and retry`, {
      base_version: basedOn,
      active_version: active ?? 0,
    });
  }
}

/** The fields of a version record besides the version number, as written by `commit`. */
export function versionRecord(change: RuleSetChange, now: Date): Omit<RuleSetVersion, 'version'> {
  return {
    created_at: now.toISOString(),
    created_by: change.actor,
    based_on: change.basedOn,
    action: change.action,
    rule_id: change.ruleId ?? null,
    rules: change.rules,
    ...(change.features === undefined ? {} : { features: change.features }),
  };
}

/** The audit entry's feature fields of a change: only a `features` change records them. */
export function auditedFeatures(change: RuleSetChange): Pick<AuditEntry, 'features_before' | 'features_after'> {
  if (change.action !== 'features') return {};
  return { features_before: change.featuresBefore ?? [], features_after: change.features ?? [] };
}

export function summarize(version: RuleSetVersion, active: number | undefined): RuleSetVersionSummary {
  return {
    version: version.version,
    created_at: version.created_at,
    created_by: version.created_by,
    based_on: version.based_on,
    action: version.action,
    rule_id: version.rule_id,
    rule_count: version.rules.length,
    active: version.version === active,
  };
}
