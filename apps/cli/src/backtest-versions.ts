import { stat } from 'node:fs/promises';
import {
  checkFieldsAgainstFeatures,
  knownFacts,
  loadFieldFile,
  loadRuleFiles,
  parseFeatureDefinitions,
  type BacktestVersion,
  type DeclaredField,
  type FeatureDefinition,
} from '@risk/domain';
import type { RuleSetStore } from '@risk/domain/rules/lifecycle';
import { loadConfig } from '@risk/infra/config/engine-config';
import { FileRuleSetStore } from '@risk/infra/rule-store/file-rule-set.store';
import { loadRulesDirFeatures } from '@risk/infra/wiring/rules-dir-features';

/** `--baseline 7`, `--baseline v7` or `--baseline "version 7"`: a stored version. Anything else is a rules folder. */
const STORED_VERSION = /^(?:version\s+|v)?([0-9]+)$/i;

/** What `--baseline` / `--candidate` name: a rules folder, or a version of the rule set store. */
export type VersionReference = { readonly kind: 'dir'; readonly dir: string } | { readonly kind: 'stored'; readonly version: number };

export function parseVersionReference(flag: string, text: string): VersionReference | string {
  const stored = STORED_VERSION.exec(text.trim());
  if (stored === null) return { kind: 'dir', dir: text };
  const version = Number(stored[1]);
  if (!Number.isSafeInteger(version) || version < 1) return `${flag} ${text}: a stored version is a positive integer`;
  return { kind: 'stored', version };
}

/** Where stored versions are read: `--store redis://…` (with `--key-prefix`) or `--data-dir <dir>` (the embedded files). */
export interface StoreReference {
  readonly redisUrl?: string;
  readonly keyPrefix?: string;
  readonly dataDir?: string;
}

export interface OpenedVersionStore {
  readonly store: RuleSetStore;
  readonly description: string;
  close(): Promise<void>;
}

/** Opens the rule set store named on the command line; a message when it cannot be used. */
export async function openVersionStore(reference: StoreReference): Promise<OpenedVersionStore | string> {
  if (reference.redisUrl !== undefined) {
    const env: Record<string, string> = { REDIS_URL: reference.redisUrl };
    if (reference.keyPrefix !== undefined) env.REDIS_KEY_PREFIX = reference.keyPrefix;
    let redis;
    try {
      redis = loadConfig(env).redis;
    } catch (error) {
      return `--store ${reference.redisUrl}: ${(error as Error).message}`;
    }
    // Loaded only when asked for: the Redis client costs start-up time.
    const { openRuleSetStore } = await import('@risk/infra/wiring/open-rule-set-store');
    try {
      const opened = await openRuleSetStore({ redis, dataDir: '', redisReadyTimeoutMs: 5_000 });
      return { store: opened.store, description: reference.redisUrl, close: () => opened.close() };
    } catch (error) {
      return `cannot read the rule set store at ${reference.redisUrl}: ${(error as Error).message}`;
    }
  }
  const dataDir = reference.dataDir!;
  const found = await stat(dataDir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!found) return `--data-dir ${dataDir}: no such folder`;
  const store = new FileRuleSetStore(dataDir);
  return { store, description: `${dataDir}/rulesets`, close: () => store.close() };
}

/** The rules folder whose features.json and fields.json apply to stored versions that pin no features. */
export interface FeatureDefaults {
  readonly rulesDir: string;
  readonly warn: (message: string) => void;
}

export interface LoadedVersion {
  readonly version: BacktestVersion;
  readonly fields: readonly DeclaredField[];
}

/** Loads one side: a folder as `replay --rules` loads it, or a stored version with the features it pins. */
export async function loadVersion(
  reference: VersionReference,
  store: RuleSetStore | undefined,
  defaults: FeatureDefaults,
): Promise<LoadedVersion | string> {
  if (reference.kind === 'dir') {
    try {
      const features = loadRulesDirFeatures(reference.dir, defaults.warn);
      const fields = loadFieldFile(reference.dir, features);
      const rules = loadRuleFiles(reference.dir, knownFacts(features, fields));
      return { version: { source: reference.dir, ruleSet: { version: 0, rules }, features }, fields };
    } catch (error) {
      return `cannot load rules from ${reference.dir}: ${(error as Error).message}`;
    }
  }
  if (store === undefined) return `version ${reference.version} is a stored version: give --store redis://host:port or --data-dir <dir>`;
  let stored;
  try {
    stored = await store.getVersion(reference.version);
  } catch (error) {
    return `cannot read version ${reference.version}: ${(error as Error).message}`;
  }
  if (stored === undefined) return `version ${reference.version} is not in the rule set store`;
  let features: FeatureDefinition[];
  let fields: DeclaredField[];
  try {
    const dirFeatures = loadRulesDirFeatures(defaults.rulesDir, defaults.warn);
    fields = loadFieldFile(defaults.rulesDir, dirFeatures);
    // A version pins the features its rules were validated against (docs/features.md); older ones use the folder's.
    features = stored.features === undefined ? dirFeatures : parseFeatureDefinitions(stored.features, fields);
    checkFieldsAgainstFeatures(fields, features);
  } catch (error) {
    return `cannot load the features of version ${reference.version}: ${(error as Error).message}`;
  }
  return { version: { source: `version ${reference.version}`, ruleSet: stored, features }, fields };
}
