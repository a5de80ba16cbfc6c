import type { FeatureDefinition, FeatureValue, FeatureValues } from './feature-definition';

/**
 * Builds feature objects that all share one hidden class, by compiling an
 * object literal with the feature names. Objects built key by key from
 * data end up in dictionary mode, several times slower to build and to
 * serialise on the hot path. Names are validated by `parseFeatureDefinitions`
 * (^[a-z][a-z0-9_]*$), so they are safe to place in source.
 */
export function featureValuesFactory(definitions: readonly FeatureDefinition[]): (values: readonly FeatureValue[]) => FeatureValues {
  for (const d of definitions) if (!/^[a-z][a-z0-9_]{0,63}$/.test(d.name)) throw new Error(`invalid feature name ${d.name}`);
  const body = `return { ${definitions.map((d, i) => `${d.name}: v[${i}]`).join(', ')} };`;
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- compiled once from validated names
  return new Function('v', body) as (values: readonly FeatureValue[]) => FeatureValues;
}
