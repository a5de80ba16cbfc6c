import {
  emptyFeatureValue,
  featureValuesFactory,
  MAX_ENTITY_KEYS,
  RiskEngineError,
  type FeatureDefinition,
  type FeatureValue,
  type StateSettings,
} from '@risk/domain';
import { EntityStates } from './redis-entity-states';
import { PartitionLedger, type CommitIdentity } from './redis-partition-ledger';
import { ENTITY_KEY_CODES, type RedisFeatureStoreOptions } from './redis-feature-store.options';

/**
 * One feature set's side of RedisFeatureStore: the entity plans with the
 * states this process caches between batches, the ledger, the empty values.
 * The store makes one per feature set it is given (docs/features.md,
 * "Features changed live"); each batch captures the plan of its set.
 */
export interface FeatureSetPlan {
  readonly definitions: readonly FeatureDefinition[];
  /** The entity groups' plans and the states this process keeps between batches. */
  readonly entities: EntityStates;
  /** Acceptance, first outcomes and commit arguments over the partition's records. */
  readonly ledger: PartitionLedger;
  readonly empty: FeatureValue[];
}

/**
 * A new set starts with an empty cache: states cached for another set are
 * not reused, each entity is read again, and since the codec finds sections
 * by feature id, unchanged features carry their state over (redis-entity.codec.ts).
 */
export function featureSetPlan(
  definitions: readonly FeatureDefinition[],
  settings: StateSettings,
  options: RedisFeatureStoreOptions & { readonly cluster: boolean },
  identity: CommitIdentity,
): FeatureSetPlan {
  const entities = new EntityStates(definitions, settings, {
    prefix: options.keyPrefix,
    keyCodes: ENTITY_KEY_CODES,
    cluster: options.cluster,
    cacheEntities: options.cacheEntities ?? 100_000,
    recordAnswers: options.answersWithoutMessageId ?? true,
  });
  // parseFeatureDefinitions refuses more; definitions built by hand are checked here, once per set, not per write.
  if (entities.groupTtls.length > MAX_ENTITY_KEYS) {
    throw new RiskEngineError(
      'INVALID_FEATURES',
      `a feature set may key its features on at most ${MAX_ENTITY_KEYS} different entities`,
      false,
    );
  }
  const empty = definitions.map((definition) => emptyFeatureValue(definition));
  const ledger = new PartitionLedger(definitions, settings, featureValuesFactory(definitions), empty, identity);
  return { definitions, entities, ledger, empty };
}
