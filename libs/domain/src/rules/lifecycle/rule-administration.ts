import type { FeatureDefinition } from '@risk/domain/features/feature-definition';
import type { DeclaredField } from '@risk/domain/events/declared-fields';
import { ConflictError, InvalidInputError, NotFoundError, type FieldError } from '@risk/domain/shared/errors';
import type { RuleDefinition, RuleMode, RuleSet } from '@risk/domain/rules/rule';
import { knownFacts } from '@risk/domain/rules/rule-files';
import { missingListErrors } from '@risk/domain/lists/list-references';
import { dryRun, dryRunEvent, dryRunFeatures, type DryRunResult } from './dry-run';
import { checkRulePayload, DEFAULT_PAYLOAD_LIMITS, type RulePayloadLimits } from './rule-payload';
import {
  RuleSetStore,
  StaleWriteError,
  type AuditEntry,
  type AuditPage,
  type RuleSetAction,
  type RuleSetVersion,
  type RuleSetVersionSummary,
} from './rule-set-store';

export interface RuleAdministrationOptions {
  readonly limits?: Partial<RulePayloadLimits>;
  /** The declared event fields (`rules/fields.json`): facts a rule may name, and validated in a dry run's event. */
  readonly fields?: readonly DeclaredField[];
  /** Called with each version this process activates, so it can decide with it at once (read-your-writes). */
  readonly onActivated?: (version: RuleSetVersion) => void;
  /** The lists that exist (docs/lists.md): a rule naming another cannot be saved, a version naming another cannot be activated. */
  readonly knownLists?: () => Promise<ReadonlySet<string>>;
}

/** The outcome of a write: the version it produced (or the current one when nothing changed) and the rule after it. */
export interface RuleWriteResult {
  readonly version: RuleSetVersion;
  readonly changed: boolean;
  readonly rule: RuleDefinition | null;
}

export interface DryRunRequest {
  /** A draft rule to evaluate alone (validated, evaluated as if enabled). */
  readonly rule?: unknown;
  /** A stored version to evaluate; default: the active one. */
  readonly version?: number;
  readonly event: unknown;
  readonly features?: unknown;
}

/**
 * A write without a base version asked for "apply to whatever is active": it
 * is re-derived and re-committed when another instance's write slips in
 * between its read and its commit. Each lost attempt means another write
 * succeeded, so this bounds how many writes may overtake it, not a time.
 */
export const UNBASED_WRITE_ATTEMPTS = 32;

/**
 * Rule management on top of a `RuleSetStore`: every write reads the active
 * version, derives the next rule set and commits it as a new version based on
 * the one it read (compare-and-set), so no update is ever lost. Writes of one
 * process run one at a time, so they never conflict with each other; a write
 * with a base version that is no longer active is refused (409), one without
 * is retried on the caller's behalf against other instances' writes.
 */
export class RuleAdministration {
  readonly facts: ReadonlySet<string>;
  readonly limits: RulePayloadLimits;
  private writes: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: RuleSetStore,
    private readonly features: readonly FeatureDefinition[],
    private readonly options: RuleAdministrationOptions = {},
  ) {
    this.facts = knownFacts(features, options.fields);
    this.limits = { ...DEFAULT_PAYLOAD_LIMITS, ...options.limits };
  }

  /** Makes `rules` version 1 when the store is empty; returns the active version either way. */
  async seed(rules: readonly RuleDefinition[], actor = 'system'): Promise<RuleSetVersion> {
    if ((await this.store.activeVersion()) === undefined) {
      try {
        return await this.store.commit({ basedOn: 0, rules: sortById(rules), actor, action: 'seed', before: null, after: null });
      } catch (error) {
        // Another instance seeded first: use its version.
        if (!(error instanceof StaleWriteError)) throw error;
      }
    }
    return this.active();
  }

  async active(): Promise<RuleSetVersion> {
    const version = await this.store.activeVersion();
    if (version === undefined) throw new NotFoundError('active rule set', 'none');
    const set = await this.store.getVersion(version);
    if (set === undefined) throw new NotFoundError('rule set version', version);
    return set;
  }

  async getRule(id: string): Promise<{ version: number; rule: RuleDefinition }> {
    const set = await this.active();
    const rule = set.rules.find((r) => r.id === id);
    if (rule === undefined) throw new NotFoundError('rule', id);
    return { version: set.version, rule };
  }

  /** Every problem with a rule document, each naming its path; empty when it can be saved. */
  validate(input: unknown): FieldError[] {
    return checkRulePayload(input, this.facts, this.limits);
  }

  async createRule(input: unknown, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    const rule = this.parse(input);
    await this.checkLists(rule);
    return this.write(base, actor, 'create', rule.id, (rules) => {
      if (rules.some((r) => r.id === rule.id))
        throw new ConflictError('RULE_EXISTS', `rule ${rule.id} already exists; use PUT /rules/${rule.id} to change it`);
      return { rules: [...rules, rule], before: null, after: rule };
    });
  }

  async replaceRule(id: string, input: unknown, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    let document = input;
    if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
      const given = (input as Record<string, unknown>).id;
      if (given !== undefined && given !== id) {
        throw new InvalidInputError('INVALID_RULE', `id: must be "${id}", the rule id in the path`, [
          { path: 'id', message: `must be "${id}", the rule id in the path` },
        ]);
      }
      document = { ...(input as Record<string, unknown>), id };
    }
    const rule = this.parse(document);
    await this.checkLists(rule);
    return this.write(base, actor, 'update', id, (rules) => {
      const before = find(rules, id);
      return { rules: rules.map((r) => (r.id === id ? rule : r)), before, after: rule };
    });
  }

  deleteRule(id: string, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    return this.write(base, actor, 'delete', id, (rules) => ({
      rules: rules.filter((r) => r.id !== id),
      before: find(rules, id),
      after: null,
    }));
  }

  setEnabled(id: string, enabled: boolean, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    return this.write(base, actor, enabled ? 'enable' : 'disable', id, (rules) => {
      const before = find(rules, id);
      const after: RuleDefinition = { ...before, enabled };
      return { rules: rules.map((r) => (r.id === id ? after : r)), before, after };
    });
  }

  async setMode(id: string, mode: RuleMode, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    if (mode !== 'active' && mode !== 'shadow') {
      throw new InvalidInputError('INVALID_RULE', 'mode: must be "active" or "shadow"', [
        { path: 'mode', message: 'must be "active" or "shadow"' },
      ]);
    }
    return this.write(base, actor, 'set-mode', id, (rules) => {
      const before = find(rules, id);
      const after: RuleDefinition = { ...before, mode };
      return { rules: rules.map((r) => (r.id === id ? after : r)), before, after };
    });
  }

  /** 400 naming each `inList` / `notInList` condition whose list does not exist (docs/lists.md). */
  private async checkLists(rule: RuleDefinition): Promise<void> {
    if (this.options.knownLists === undefined) return;
    const errors = missingListErrors(rule, await this.options.knownLists());
    if (errors.length > 0) throw invalid('INVALID_RULE', errors);
  }

  /** 409 `LIST_MISSING` when a version to activate (a rollback) names a list deleted since. */
  private async checkListsOfVersion(set: RuleSet): Promise<void> {
    if (this.options.knownLists === undefined) return;
    const lists = await this.options.knownLists();
    const missing = set.rules.flatMap((rule) => missingListErrors(rule, lists).map((e) => `${rule.id}: ${e.message}`));
    if (missing.length > 0)
      throw new ConflictError('LIST_MISSING', `version ${set.version} names lists that no longer exist: ${missing.join('; ')}`);
  }

  /** Activates a stored version: a rollback when it is older than the active one. */
  activate(version: number, actor: string, base?: number): Promise<{ version: RuleSetVersion; audit: AuditEntry }> {
    return this.oneAtATime(async () => {
      const target = await this.store.getVersion(version);
      if (target === undefined) throw new NotFoundError('rule set version', version);
      await this.checkListsOfVersion(target);
      const audit = await this.store.activate(version, actor, base);
      this.options.onActivated?.(target);
      return { version: target, audit };
    });
  }

  listVersions(): Promise<RuleSetVersionSummary[]> {
    return this.store.listVersions();
  }

  async getVersion(version: number): Promise<RuleSetVersion> {
    const set = await this.store.getVersion(version);
    if (set === undefined) throw new NotFoundError('rule set version', version);
    return set;
  }

  audit(limit: number, offset: number): Promise<AuditPage> {
    return this.store.audit(limit, offset);
  }

  /**
   * Dry run: decides `event` (with the given feature values, the others at
   * 0/false) with a draft rule, a stored version, or the active set. Changes nothing.
   */
  async evaluate(request: DryRunRequest): Promise<DryRunResult> {
    const errors: FieldError[] = [];
    const { event, errors: eventErrors } = dryRunEvent(request.event, 'event', this.options.fields);
    errors.push(...eventErrors);
    const { values, errors: featureErrors } = dryRunFeatures(this.features, request.features);
    errors.push(...featureErrors);
    let draft: RuleDefinition | undefined;
    if (request.rule !== undefined) {
      const ruleErrors = this.validate(request.rule);
      errors.push(...ruleErrors.map((e) => ({ path: e.path === '$' ? 'rule' : `rule.${e.path}`, message: e.message })));
      if (ruleErrors.length === 0) draft = { ...(request.rule as RuleDefinition), enabled: true };
    }
    if (errors.length > 0 || event === undefined) throw invalid('INVALID_DRY_RUN', errors);
    if (draft !== undefined) return dryRun({ version: 0, rules: [draft] }, event, values, true, this.options.fields);
    const set = request.version === undefined ? await this.active() : await this.getVersion(request.version);
    return dryRun(set, event, values, false, this.options.fields);
  }

  private parse(input: unknown): RuleDefinition {
    const errors = this.validate(input);
    if (errors.length > 0) throw invalid('INVALID_RULE', errors);
    return input as RuleDefinition;
  }

  private write(
    base: number | undefined,
    actor: string,
    action: RuleSetAction,
    ruleId: string,
    derive: (rules: readonly RuleDefinition[]) => { rules: RuleDefinition[]; before: RuleDefinition | null; after: RuleDefinition | null },
  ): Promise<RuleWriteResult> {
    return this.oneAtATime(() => this.compareAndSet(base, actor, action, ruleId, derive));
  }

  private async compareAndSet(
    base: number | undefined,
    actor: string,
    action: RuleSetAction,
    ruleId: string,
    derive: (rules: readonly RuleDefinition[]) => { rules: RuleDefinition[]; before: RuleDefinition | null; after: RuleDefinition | null },
  ): Promise<RuleWriteResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.active();
      if (base !== undefined && base !== current.version) throw new StaleWriteError(base, current.version);
      const { rules, before, after } = derive(current.rules);
      if (rules.length > this.limits.maxRules) {
        throw invalid('TOO_MANY_RULES', [{ path: '$', message: `a rule set holds at most ${this.limits.maxRules} rules` }]);
      }
      if (JSON.stringify(before) === JSON.stringify(after) && action !== 'delete') return { version: current, changed: false, rule: after };
      try {
        const version = await this.store.commit({ basedOn: current.version, rules: sortById(rules), actor, action, ruleId, before, after });
        this.options.onActivated?.(version);
        return { version, changed: true, rule: after };
      } catch (error) {
        if (!(error instanceof StaleWriteError) || base !== undefined || attempt >= UNBASED_WRITE_ATTEMPTS) throw error;
      }
    }
  }

  /** Runs this process's writes in arrival order, one after another (a failed one does not block the next). */
  private oneAtATime<T>(task: () => Promise<T>): Promise<T> {
    const run = this.writes.then(task);
    this.writes = run.catch(() => undefined);
    return run;
  }
}

function find(rules: readonly RuleDefinition[], id: string): RuleDefinition {
  const rule = rules.find((r) => r.id === id);
  if (rule === undefined) throw new NotFoundError('rule', id);
  return rule;
}

function sortById(rules: readonly RuleDefinition[]): RuleDefinition[] {
  return [...rules].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function invalid(code: string, errors: readonly FieldError[]): InvalidInputError {
  return new InvalidInputError(code, errors.map((e) => `${e.path}: ${e.message}`).join('; '), errors);
}
