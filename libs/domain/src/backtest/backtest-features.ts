import { featureId } from '../features/entity-features';
import type { FeatureDefinition, FeatureValues } from '../features/feature-definition';
import { featureValuesFactory } from '../features/feature-values-factory';

/** Turns the computed values of the union into one version's own feature values. */
export type FeatureProjection = (values: FeatureValues) => FeatureValues;

/** The features computed once for both versions, and how each version reads its own. */
export interface FeatureUnion {
  readonly definitions: readonly FeatureDefinition[];
  readonly baseline: FeatureProjection;
  readonly candidate: FeatureProjection;
}

const SAME: FeatureProjection = (values) => values;

/**
 * Both versions' features in one set, so that each event's features are
 * computed once. Features are identified by definition (`featureId`): one
 * defined alike in both versions is computed once; a candidate feature that
 * reuses a baseline name with another definition (a longer window, a new
 * filter) is computed under an internal name and read back under its own.
 * A version whose features are exactly the union reads the values as they
 * are (the usual case: both versions pin the same features).
 */
export function unionOfFeatures(baseline: readonly FeatureDefinition[], candidate: readonly FeatureDefinition[]): FeatureUnion {
  const union: FeatureDefinition[] = [...baseline];
  const byName = new Map(baseline.map((d) => [d.name, featureId(d)]));
  const names = new Set(baseline.map((d) => d.name));
  const candidateInternal: string[] = [];
  let renamed = 0;
  for (const definition of candidate) {
    const known = byName.get(definition.name);
    if (known === featureId(definition)) {
      candidateInternal.push(definition.name);
      continue;
    }
    let name = definition.name;
    if (known !== undefined) {
      do name = `backtest_candidate_${renamed++}`;
      while (names.has(name));
    }
    names.add(name);
    union.push({ ...definition, name });
    candidateInternal.push(name);
  }
  const candidateIsUnion =
    union.length === candidate.length && candidate.every((definition, i) => candidateInternal[i] === definition.name);
  return {
    definitions: union,
    baseline:
      union.length === baseline.length
        ? SAME
        : projection(
            baseline.map((d) => d.name),
            baseline,
          ),
    candidate: candidateIsUnion ? SAME : projection(candidateInternal, candidate),
  };
}

function projection(internal: readonly string[], own: readonly FeatureDefinition[]): FeatureProjection {
  const make = featureValuesFactory(own);
  return (values) => make(internal.map((name) => values[name]));
}
