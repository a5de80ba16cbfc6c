import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FEATURES_FILE, loadFeatureFile, parseFeatureDefinitions, type FeatureDefinition } from '@risk/domain';
// The package's own rules/features.json, compiled in (tsc copies it beside the build), so that it is
// found wherever the build lives: dist/, a test build directory, the image. No alias names rules/.
// eslint-disable-next-line no-restricted-imports
import shipped from '../../../../rules/features.json';

/** The default feature definitions shipped in the package's `rules/features.json`. */
export function shippedFeatures(): FeatureDefinition[] {
  return parseFeatureDefinitions(shipped);
}

/**
 * The feature definitions of a rules directory: its `features.json`, else
 * the shipped defaults, told to `warn` (stderr for the CLI, the log for the
 * service) with the names it falls back to. One helper for the service's
 * start-up, `replay` and `migrate-state` (issue 13 item 4). A present but
 * invalid file is an error naming each bad path, never a silent fallback.
 */
export function loadRulesDirFeatures(dir: string, warn: (message: string) => void): FeatureDefinition[] {
  if (existsSync(join(dir, FEATURES_FILE))) return loadFeatureFile(dir);
  const features = shippedFeatures();
  warn(`${dir} has no ${FEATURES_FILE}: using the shipped default features (${features.map((f) => f.name).join(', ')})`);
  return features;
}
