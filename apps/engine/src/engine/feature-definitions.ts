import type { FeatureDefinition } from '@risk/domain';

/** The feature definitions loaded from `rules/features.json` at start-up. */
export abstract class FeatureDefinitions {
  abstract readonly definitions: readonly FeatureDefinition[];
}
