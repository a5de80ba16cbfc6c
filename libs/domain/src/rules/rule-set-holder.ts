import type { DeclaredField } from '../events/declared-fields';
import { CompiledRuleSet } from './rule-compiler';
import type { RuleSet } from './rule';
import { NO_LISTS, type ListRegistry } from '../lists/list-registry';

/**
 * The rule set the pipeline decides with. A new version is compiled by the
 * caller (off the hot path) and swapped in with one reference assignment;
 * the pipeline reads `current` once per batch, so a batch never mixes versions.
 * The declared event fields (`rules/fields.json`) travel with every compiled
 * version: the pipeline decodes a batch with the fields its rules were compiled for.
 */
export class RuleSetHolder {
  private compiled: CompiledRuleSet;
  private readonly listeners = new Set<(next: CompiledRuleSet) => void>();

  constructor(
    initial: RuleSet,
    private readonly fields: readonly DeclaredField[] = [],
    /** The named lists every version's `inList` / `notInList` conditions read (docs/lists.md). */
    readonly lists: ListRegistry = NO_LISTS,
  ) {
    this.compiled = new CompiledRuleSet(initial, fields, undefined, lists);
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
    const compiled = new CompiledRuleSet(next, this.fields, undefined, this.lists);
    this.compiled = compiled;
    for (const listener of this.listeners) listener(compiled);
    return true;
  }

  onChange(listener: (next: CompiledRuleSet) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
