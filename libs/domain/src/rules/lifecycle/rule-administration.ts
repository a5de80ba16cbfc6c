import type { FeatureDefinition, FeatureValues } from '@risk/domain/features/feature-definition';
import type { RiskEvent } from '@risk/domain/events/risk-event';
import type { DeclaredField } from '@risk/domain/events/declared-fields';
import { ConflictError, InvalidInputError, NotFoundError, type FieldError } from '@risk/domain/shared/errors';
import type { RuleDefinition, RuleMode, RuleSet } from '@risk/domain/rules/rule';
import { knownFacts } from '@risk/domain/rules/rule-files';
import { missingListErrors } from '@risk/domain/lists/list-references';
import type { ListRegistry } from '@risk/domain/lists/list-registry';
import { FeatureSetResolver, featureDocuments, type FeatureDocument } from '@risk/domain/features/feature-document';
import { dryRun, dryRunEvent, dryRunFeatures, type DryRunResult } from './dry-run';
import { checkFeaturesLoad, diffVersions, featureInUse, parseFeatureSet, rulesBrokenBy, type VersionDiff } from './feature-changes';
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
  /** The lists this instance decides with: a dry run reads them as the pipeline does. */
  readonly lists?: ListRegistry;
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
  /**
   * Without `features`: the features the event would get from the live state
   * (FeatureStore.preview, which changes nothing); undefined when the store
   * cannot tell (then every feature is at its empty value).
   */
  readonly live?: (event: RiskEvent) => Promise<FeatureValues | undefined>;
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
  readonly limits: RulePayloadLimits;
  private writes: Promise<unknown> = Promise.resolve();
  /** Versions stored without features read as the start-up ones (`features.json`). */
  private readonly featureSets: FeatureSetResolver;
  /** The facts of the active version as last read: what `validate` checks a rule document against. */
  private activeFacts: ReadonlySet<string>;

  constructor(
    private readonly store: RuleSetStore,
    startupFeatures: readonly FeatureDefinition[],
    private readonly options: RuleAdministrationOptions = {},
  ) {
    this.featureSets = new FeatureSetResolver(startupFeatures, options.fields);
    this.activeFacts = knownFacts(startupFeatures, options.fields);
    this.limits = { ...DEFAULT_PAYLOAD_LIMITS, ...options.limits };
  }

  /** Facts a rule may name in the active version (as last read): its features and the event fields. */
  get facts(): ReadonlySet<string> {
    return this.activeFacts;
  }

  /** The feature definitions a version decides with: its pinned ones, else the start-up ones. */
  featuresOf(set: RuleSet): readonly FeatureDefinition[] {
    return this.featureSets.definitionsOf(set.features);
  }

  /** The feature documents a version pins (the start-up ones, as documents, for a version stored without). */
  featureDocumentsOf(set: RuleSet): readonly FeatureDocument[] {
    return set.features ?? featureDocuments(this.featureSets.defaults);
  }

  /** Makes `rules` version 1 when the store is empty; returns the active version either way. */
  async seed(rules: readonly RuleDefinition[], actor = 'system'): Promise<RuleSetVersion> {
    if ((await this.store.activeVersion()) === undefined) {
      try {
        const features = featureDocuments(this.featureSets.defaults);
        return await this.store.commit({ basedOn: 0, rules: sortById(rules), actor, action: 'seed', before: null, after: null, features });
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
    this.noteActive(set);
    return set;
  }

  /** Remembers the facts of the version now active, for `validate`. */
  private noteActive(set: RuleSet): void {
    this.activeFacts = knownFacts(this.featuresOf(set), this.options.fields);
  }

  async getRule(id: string): Promise<{ version: number; rule: RuleDefinition }> {
    const set = await this.active();
    const rule = set.rules.find((r) => r.id === id);
    if (rule === undefined) throw new NotFoundError('rule', id);
    return { version: set.version, rule };
  }

  /** Every problem with a rule document, each naming its path; empty when it can be saved. */
  validate(input: unknown, facts: ReadonlySet<string> = this.activeFacts): FieldError[] {
    return checkRulePayload(input, facts, this.limits);
  }

  /**
   * What saving `input` now would refuse: `validate` against the active
   * version's facts (read first: another instance may have changed the
   * features), then the lists it names, as `createRule` checks them.
   */
  async check(input: unknown): Promise<FieldError[]> {
    await this.active();
    const errors = this.validate(input);
    if (errors.length > 0 || this.options.knownLists === undefined) return errors;
    return missingListErrors(input as RuleDefinition, await this.options.knownLists());
  }

  async createRule(input: unknown, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    // Checked first against the active version's facts (features are versioned too; reading it refreshes them),
    // then again against the version the write derives from.
    await this.active();
    const { id } = this.parse(input, this.activeFacts);
    await this.checkLists(input as RuleDefinition);
    return this.write(base, actor, 'create', id, (rules, facts) => {
      const rule = this.parse(input, facts);
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
    await this.active();
    this.parse(document, this.activeFacts);
    await this.checkLists(document as RuleDefinition);
    return this.write(base, actor, 'update', id, (rules, facts) => {
      const rule = this.parse(document, facts);
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
      checkFeaturesLoad(target.version, () => this.featuresOf(target));
      await this.checkListsOfVersion(target);
      const audit = await this.store.activate(version, actor, base);
      this.noteActive(target);
      this.options.onActivated?.(target);
      return { version: target, audit };
    });
  }

  /**
   * Replaces the active version's feature definitions: writes and activates a
   * version with the same rules and these features (action `features`, audited
   * with the features before and after). 400 naming each bad path; 409
   * `FEATURE_IN_USE` naming `rules[i]...` when a rule names a feature the set
   * leaves out (delete or change the rule first).
   */
  async replaceFeatures(input: unknown, base: number | undefined, actor: string): Promise<RuleWriteResult> {
    const { set, errors } = parseFeatureSet(input, this.options.fields ?? []);
    if (set === undefined) throw invalid('INVALID_FEATURES', errors);
    return this.write(base, actor, 'features', null, (rules, _facts, current) => {
      const before = this.featureDocumentsOf(current);
      if (JSON.stringify(before) === JSON.stringify(set.documents))
        return { rules: [...rules], before: null, after: null, unchanged: true };
      const broken = rulesBrokenBy(rules, set.definitions, this.options.fields ?? []);
      if (broken.length > 0) throw featureInUse(broken);
      return { rules: [...rules], before: null, after: null, features: set.documents, featuresBefore: before, unchanged: false };
    });
  }

  /** Every problem a feature set would meet at `PUT /features` against the active version: bad paths, then rules in the way. */
  async validateFeatures(input: unknown): Promise<FieldError[]> {
    const { set, errors } = parseFeatureSet(input, this.options.fields ?? []);
    if (set === undefined) return errors;
    return rulesBrokenBy((await this.active()).rules, set.definitions, this.options.fields ?? []);
  }

  /** Features and rules added, removed and changed from version `from` to version `to`. */
  async diff(from: number, to: number): Promise<VersionDiff> {
    const [a, b] = [await this.getVersion(from), await this.getVersion(to)];
    return diffVersions({ ...a, features: this.featuresOf(a) }, { ...b, features: this.featuresOf(b) });
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
    // The features of the version evaluated (a draft: the active one's).
    const set = request.version === undefined || request.rule !== undefined ? await this.active() : await this.getVersion(request.version);
    const { values, errors: featureErrors } = dryRunFeatures(this.featuresOf(set), request.features);
    errors.push(...featureErrors);
    let draft: RuleDefinition | undefined;
    if (request.rule !== undefined) {
      const ruleErrors = this.validate(request.rule);
      errors.push(...ruleErrors.map((e) => ({ path: e.path === '$' ? 'rule' : `rule.${e.path}`, message: e.message })));
      if (ruleErrors.length === 0) draft = { ...(request.rule as RuleDefinition), enabled: true };
    }
    if (errors.length > 0 || event === undefined) throw invalid('INVALID_DRY_RUN', errors);
    const live = request.features === undefined ? await request.live?.(event) : undefined;
    const features = live ?? values;
    const result =
      draft !== undefined
        ? dryRun({ version: 0, rules: [draft] }, event, features, true, this.options.fields, this.options.lists)
        : dryRun(set, event, features, false, this.options.fields, this.options.lists);
    return { ...result, features_from: live === undefined ? 'request' : 'live_state' };
  }

  private parse(input: unknown, facts: ReadonlySet<string>): RuleDefinition {
    const errors = this.validate(input, facts);
    if (errors.length > 0) throw invalid('INVALID_RULE', errors);
    return input as RuleDefinition;
  }

  private write(
    base: number | undefined,
    actor: string,
    action: RuleSetAction,
    ruleId: string | null,
    derive: RuleDerivation,
  ): Promise<RuleWriteResult> {
    return this.oneAtATime(() => this.compareAndSet(base, actor, action, ruleId, derive));
  }

  private async compareAndSet(
    base: number | undefined,
    actor: string,
    action: RuleSetAction,
    ruleId: string | null,
    derive: RuleDerivation,
  ): Promise<RuleWriteResult> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.active();
      if (base !== undefined && base !== current.version) throw new StaleWriteError(base, current.version);
      const derived = derive(current.rules, this.activeFacts, current);
      const { rules, before, after } = derived;
      if (rules.length > this.limits.maxRules) {
        throw invalid('TOO_MANY_RULES', [{ path: '$', message: `a rule set holds at most ${this.limits.maxRules} rules` }]);
      }
      const unchanged = derived.unchanged ?? (JSON.stringify(before) === JSON.stringify(after) && action !== 'delete');
      if (unchanged) return { version: current, changed: false, rule: after };
      try {
        // A rule change carries the active version's features forward; a `features` change brings its own.
        const features = derived.features ?? this.featureDocumentsOf(current);
        const version = await this.store.commit({
          basedOn: current.version,
          rules: sortById(rules),
          actor,
          action,
          ruleId,
          before,
          after,
          features,
          featuresBefore: derived.featuresBefore,
        });
        this.noteActive(version);
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

/**
 * A write: the next rules from the active version's rules, checked against its facts; a `features` change also
 * gives the features (otherwise the active version's are carried forward) and says itself whether it changes anything.
 */
type RuleDerivation = (
  rules: readonly RuleDefinition[],
  facts: ReadonlySet<string>,
  current: RuleSetVersion,
) => {
  rules: RuleDefinition[];
  before: RuleDefinition | null;
  after: RuleDefinition | null;
  features?: readonly FeatureDocument[];
  featuresBefore?: readonly FeatureDocument[];
  unchanged?: boolean;
};

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
