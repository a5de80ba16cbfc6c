import { parseFeatureDefinitions, type FeatureDefinition } from '@risk/domain';
// The package's own rules/features.json, compiled in (tsc copies it beside the build), so that it is
// found wherever the build lives: dist/, a test build directory, the image. No alias names rules/.
// eslint-disable-next-line no-restricted-imports
import shipped from '../../../rules/features.json';

/** The default feature definitions shipped in the package's `rules/features.json`. */
export function shippedFeatures(): FeatureDefinition[] {
  return parseFeatureDefinitions(shipped);
}
