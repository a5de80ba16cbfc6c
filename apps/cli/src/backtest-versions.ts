import { stat } from 'node:fs/promises';
import {
  checkFieldsAgainstFeatures,
  knownFacts,
  loadFieldFile,
  loadRuleFiles,
  loadRulesDirLists,
  ListRegistry,
  FeatureSetResolver,
  type BacktestVersion,
  type DeclaredField,
  type FeatureDefinition,
} from '@risk/domain';
import type { RuleSetStore } from '@risk/domain/rules/lifecycle';
import { ListSync } from '@risk/domain/lists/list-sync';
import type { ListStore } from '@risk/domain/lists/list-store';
import { FileListStore } from '@risk/infra/list-store/file-list.store';
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
  /** The lists stored beside the versions: stored versions' `inList` conditions read them as they are now. */
  readonly lists: ListStore;
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
    const { openListStore } = await import('@risk/infra/wiring/open-list-store');
    try {
      const options = { redis, dataDir: '', redisReadyTimeoutMs: 5_000 };
      const opened = await openRuleSetStore(options);
      const lists = await openListStore(options).catch(async (error: unknown) => {
        await opened.close();
        throw error;
      });
      return {
        store: opened.store,
        lists: lists.store,
        description: reference.redisUrl,
        close: async () => {
          await opened.close();
          await lists.close();
        },
      };
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
  // The engine may be running on this folder: read its lists, never clean up after it.
  const lists = new FileListStore(dataDir, undefined, { reader: true });
  return {
    store,
    lists,
    description: `${dataDir}/rulesets`,
    close: async () => {
      await store.close();
      await lists.close();
    },
  };
}

/** The rules folder whose features.json and fields.json apply to stored versions that pin no features. */
export interface FeatureDefaults {
  readonly rulesDir: string;
  readonly warn: (message: string) => void;
  /** When list entries' expiry is judged (`--now`, else the wall clock). */
  readonly clock: () => number;
}

export interface LoadedVersion {
  readonly version: BacktestVersion;
  readonly fields: readonly DeclaredField[];
}

/**
 * Loads one side: a folder as `replay --rules` loads it (its features.json,
 * fields.json, rules and lists/), or a stored version with the features it
 * pins and the store's lists.
 */
export async function loadVersion(
  reference: VersionReference,
  store: OpenedVersionStore | undefined,
  defaults: FeatureDefaults,
): Promise<LoadedVersion | string> {
  if (reference.kind === 'dir') {
    try {
      const features = loadRulesDirFeatures(reference.dir, defaults.warn);
      const fields = loadFieldFile(reference.dir, features);
      const rules = loadRuleFiles(reference.dir, knownFacts(features, fields));
      const lists = loadRulesDirLists(reference.dir, rules, defaults.clock);
      return { version: { source: reference.dir, ruleSet: { version: 0, rules }, features, lists }, fields };
    } catch (error) {
      return `cannot load rules from ${reference.dir}: ${(error as Error).message}`;
    }
  }
  if (store === undefined) return `version ${reference.version} is a stored version: give --store redis://host:port or --data-dir <dir>`;
  let stored;
  try {
    stored = await store.store.getVersion(reference.version);
  } catch (error) {
    return `cannot read version ${reference.version}: ${(error as Error).message}`;
  }
  if (stored === undefined) return `version ${reference.version} is not in the rule set store`;
  let features: readonly FeatureDefinition[];
  let fields: DeclaredField[];
  try {
    const dirFeatures = loadRulesDirFeatures(defaults.rulesDir, defaults.warn);
    fields = loadFieldFile(defaults.rulesDir, dirFeatures);
    // A version pins the features its rules were validated against (docs/features.md); older ones use the folder's.
    features = new FeatureSetResolver(dirFeatures, fields).definitionsOf(stored.features);
    checkFieldsAgainstFeatures(fields, features);
  } catch (error) {
    return `cannot load the features of version ${reference.version}: ${(error as Error).message}`;
  }
  // The lists as they are now, loaded as the engine loads them (ListSync); a failure is reported, not skipped.
  const lists = new ListRegistry(defaults.clock);
  let failure: unknown;
  await new ListSync(store.lists, lists, { onError: (error) => (failure = error) }).sync();
  if (failure !== undefined) return `cannot read the lists of ${store.description}: ${(failure as Error).message}`;
  return { version: { source: `version ${reference.version}`, ruleSet: stored, features, lists }, fields };
}
