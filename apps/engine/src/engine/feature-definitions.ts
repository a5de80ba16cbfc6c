import type { FeatureDefinition } from '@risk/domain';

/**
 * The start-up feature definitions (`rules/features.json`, or the shipped defaults without one): what seeds an empty
 * rule set store, and what versions stored without features decide with. The running set is the active version's
 * (`RuleSetHolder.current.features`; docs/features.md).
 */
export abstract class FeatureDefinitions {
  abstract readonly definitions: readonly FeatureDefinition[];
}
