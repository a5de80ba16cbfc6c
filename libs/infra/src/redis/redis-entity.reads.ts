import {
  checkEntityValue,
  entityKey,
  featureValuesFactory,
  previewFeatures,
  readEntity,
  type EntityReadOutcome,
  type EntityState,
  type FeatureDefinition,
  type FeatureValue,
  type FeatureValues,
  type RiskEvent,
} from '@risk/domain';
import type { GroupPlan } from './redis-entity-states';
import type { RedisClient } from './redis.client';

/**
 * The investigation reads of the Redis store: GETs of entity blobs, decoded
 * and computed with the shared TypeScript code (entity-read.ts). Nothing is
 * written, not even this process's entity cache: the blob in Redis is what
 * the next batch will compute from. On a cluster, a blob may hold a batch
 * whose partition commit is still on its way (docs/redis.md).
 */
export async function readRedisEntity(
  client: RedisClient,
  plans: readonly GroupPlan[],
  entity: string,
  value: string,
): Promise<EntityReadOutcome> {
  const groups = plans.map((p) => p.group);
  const index = groups.findIndex((g) => g.entity === entity);
  let state: EntityState | undefined;
  if (index >= 0 && checkEntityValue(entity, value).length === 0) {
    const plan = plans[index];
    const [blob] = await readBlobs(client, [plan.keyBefore + value + plan.keyAfter]);
    state = blob === null ? undefined : plan.codec.decode(blob, 0).state;
  }
  return readEntity(groups, entity, value, () => state);
}

/** The features `event` would get from the entities' blobs now; see FeatureStore.preview. */
export async function previewRedisFeatures(
  client: RedisClient,
  plans: readonly GroupPlan[],
  definitions: readonly FeatureDefinition[],
  event: RiskEvent,
): Promise<FeatureValues> {
  const keys = plans.map((plan) => {
    const key = entityKey(plan.group, event);
    return key === undefined ? undefined : plan.keyBefore + String(key) + plan.keyAfter;
  });
  const present = keys.filter((key): key is string => key !== undefined);
  const blobs = new Map<string, Buffer | null>();
  (await readBlobs(client, present)).forEach((blob, i) => blobs.set(present[i], blob));
  const values = definitions.map((): FeatureValue => 0);
  previewFeatures(
    plans.map((p) => p.group),
    event,
    values,
    (_group, index) => {
      const blob = blobs.get(keys[index]!) ?? null;
      return blob === null ? undefined : plans[index].codec.decode(blob, event.event_time).state;
    },
  );
  return featureValuesFactory(definitions)(values);
}

/** One MGET per key (a cluster routes each to its own slot), in one round trip. */
async function readBlobs(client: RedisClient, keys: readonly string[]): Promise<(Buffer | null)[]> {
  if (keys.length === 0) return [];
  const answers = await client.pipelined(keys.map((key) => ({ command: 'mget', args: [key], buffers: true })));
  return answers.map((answer) => (answer as (Buffer | null)[])[0] ?? null);
}
