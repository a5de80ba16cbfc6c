import type { DeclaredField } from '@risk/domain/events/declared-fields';
import { parseFeatureDefinitions, type FeatureDefinition } from '@risk/domain/features/feature-definition';
import { diffFeatureSets, type FeatureDocument, type FeatureSetDiff } from '@risk/domain/features/feature-document';
import { ConflictError, InvalidInputError, type FieldError } from '@risk/domain/shared/errors';
import type { RuleDefinition } from '@risk/domain/rules/rule';
import { knownFacts } from '@risk/domain/rules/rule-files';
import { validateRule } from '@risk/domain/rules/rule-validator';

/**
 * A feature set is bounded like a rule set: every feature costs state per
 * entity and work per event. 256 is far above the shipped nine and the
 * twenty of the bench's heavy set.
 */
export const MAX_FEATURES = 256;

/** A validated replacement feature set: the documents as given (descriptions kept) and their definitions. */
export interface ParsedFeatureSet {
  readonly documents: readonly FeatureDocument[];
  readonly definitions: readonly FeatureDefinition[];
}

/**
 * Every problem with a feature set document (`{ "features": [...] }` or a
 * bare array), each naming its path (`features[2].window`); empty when it
 * can be saved. A feature may not be named like a declared event field: a
 * rule's fact would be ambiguous.
 */
export function featureSetErrors(input: unknown, fields: readonly DeclaredField[]): FieldError[] {
  return parseFeatureSet(input, fields).errors;
}

export function parseFeatureSet(
  input: unknown,
  fields: readonly DeclaredField[],
): { readonly set: ParsedFeatureSet | undefined; readonly errors: FieldError[] } {
  const list = Array.isArray(input) ? input : (input as { features?: unknown } | null)?.features;
  if (input !== null && typeof input === 'object' && !Array.isArray(input)) {
    const extra = Object.keys(input).filter((key) => key !== 'features' && key !== 'base_version');
    if (extra.length > 0) return { set: undefined, errors: extra.map((key) => ({ path: key, message: 'unknown property' })) };
  }
  if (Array.isArray(list) && list.length > MAX_FEATURES) {
    return { set: undefined, errors: [{ path: 'features', message: `a feature set holds at most ${MAX_FEATURES} features` }] };
  }
  let definitions: FeatureDefinition[];
  try {
    definitions = parseFeatureDefinitions(Array.isArray(list) ? list : input, fields);
  } catch (error) {
    if (error instanceof InvalidInputError) return { set: undefined, errors: [...error.errors] };
    throw error;
  }
  const declared = new Set(fields.map((f) => f.name));
  const errors: FieldError[] = [];
  definitions.forEach((d, i) => {
    if (declared.has(d.name)) errors.push({ path: `features[${i}].name`, message: `"${d.name}" is a declared event field (fields.json)` });
  });
  if (errors.length > 0) return { set: undefined, errors };
  return { set: { documents: list as FeatureDocument[], definitions }, errors };
}

/**
 * The rules that would no longer validate with `features`: each problem's
 * path is `rules[i].<path in the rule>` (i in the version's rule order), its
 * message names the rule. Rules of a stored version were valid against its
 * own features, so every problem here comes from the change (a removed feature).
 */
export function rulesBrokenBy(
  rules: readonly RuleDefinition[],
  features: readonly FeatureDefinition[],
  fields: readonly DeclaredField[],
): FieldError[] {
  const facts = knownFacts(features, fields);
  const problems: FieldError[] = [];
  rules.forEach((rule, i) => {
    for (const e of validateRule(rule, facts)) problems.push({ path: `rules[${i}].${e.path}`, message: `rule ${rule.id}: ${e.message}` });
  });
  return problems;
}

/** 409 `FEATURE_IN_USE`: the change would leave rules naming features it removes (`rulesBrokenBy`). */
export function featureInUse(broken: readonly FieldError[]): ConflictError {
  const list = broken.map((e) => `${e.path}: ${e.message}`).join('; ');
  return new ConflictError('FEATURE_IN_USE', `rules still name features this set leaves out: ${list}`, { errors: broken });
}

/** 409 `FEATURES_INVALID` when a stored version's features do not load here (its declared fields are gone). */
export function checkFeaturesLoad(version: number, load: () => unknown): void {
  try {
    load();
  } catch (error) {
    if (!(error instanceof InvalidInputError)) throw error;
    throw new ConflictError('FEATURES_INVALID', `version ${version}'s features do not load here: ${error.message}`, {
      errors: error.errors,
    });
  }
}

/** How two rule set versions differ: features added, removed and changed, and rules added, removed and changed. */
export interface VersionDiff {
  readonly from: number;
  readonly to: number;
  readonly features: FeatureSetDiff;
  readonly rules: { readonly added: readonly string[]; readonly removed: readonly string[]; readonly changed: readonly string[] };
}

export function diffVersions(
  from: { readonly version: number; readonly rules: readonly RuleDefinition[]; readonly features: readonly FeatureDefinition[] },
  to: { readonly version: number; readonly rules: readonly RuleDefinition[]; readonly features: readonly FeatureDefinition[] },
): VersionDiff {
  const before = new Map(from.rules.map((r) => [r.id, JSON.stringify(r)]));
  const after = new Map(to.rules.map((r) => [r.id, JSON.stringify(r)]));
  const added = [...after.keys()].filter((id) => !before.has(id));
  const removed = [...before.keys()].filter((id) => !after.has(id));
  const changed = [...after].filter(([id, text]) => before.has(id) && before.get(id) !== text).map(([id]) => id);
  return { from: from.version, to: to.version, features: diffFeatureSets(from.features, to.features), rules: { added, removed, changed } };
}
