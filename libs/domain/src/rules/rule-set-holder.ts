import type { DeclaredField } from '../events/declared-fields';
import { CompiledRuleSet } from './rule-compiler';
import type { RuleSet } from './rule';
import type { FeatureDefinition } from '../features/feature-definition';
import { FeatureSetResolver } from '../features/feature-document';
import { NO_LISTS, type ListRegistry } from '../lists/list-registry';

/**
 * The rule set the pipeline decides with. A new version is compiled by the
 * caller (off the hot path) and swapped in with one reference assignment;
 * the pipeline reads `current` once per batch, so a batch never mixes versions.
 * The declared event fields (`rules/fields.json`) travel with every compiled
 * version: the pipeline decodes a batch with the fields its rules were compiled for.
 * So do the features the version pins (its `features`, else `startupFeatures`):
 * the pipeline hands them to the feature store with the batch.
 */
export class RuleSetHolder {
  private compiled: CompiledRuleSet;
  private readonly listeners = new Set<(next: CompiledRuleSet) => void>();
  /** Undefined when the holder was given no start-up features (replay, tests): the store's own then apply. */
  private readonly features: FeatureSetResolver | undefined;

  constructor(
    initial: RuleSet,
    private readonly fields: readonly DeclaredField[] = [],
    /** The named lists every version's `inList` / `notInList` conditions read (docs/lists.md). */
    readonly lists: ListRegistry = NO_LISTS,
    /** The start-up `features.json`: what versions stored without features decide with (docs/features.md). */
    startupFeatures?: readonly FeatureDefinition[],
  ) {
    this.features = startupFeatures === undefined ? undefined : new FeatureSetResolver(startupFeatures, fields);
    this.compiled = this.compile(initial);
  }

  get current(): CompiledRuleSet {
    return this.compiled;
  }

  /**
   * Compiles and activates `next`; returns false when it is already running.
   * An older version is accepted: activating one is how a rollback works.
   */
  activate(next: RuleSet): boolean {
    if (next.version === this.compiled.version) return false;
    const compiled = this.compile(next);
    this.compiled = compiled;
    for (const listener of this.listeners) listener(compiled);
    return true;
  }

  /** Throws `INVALID_FEATURES` when the version's features do not validate here (declared fields changed since). */
  private compile(set: RuleSet): CompiledRuleSet {
    const features = this.features === undefined ? undefined : this.features.definitionsOf(set.features);
    return new CompiledRuleSet(set, this.fields, features, this.lists);
  }

  onChange(listener: (next: CompiledRuleSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
