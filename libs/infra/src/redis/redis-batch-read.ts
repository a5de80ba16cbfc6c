import { DependencyUnavailableError } from '@risk/domain';
import { entitiesFrom, type EntityRead, type SlotUnits } from './redis-entity-states';
import { partitionReadFrom, type PartitionRead } from './redis-partition-ledger';
import type { FeatureSetPlan } from './redis-feature-set.plan';
import type { AnchoredRead, WriteChain } from './redis-single-node-write';
import type { PipelineCall, RedisClient, RedisScript } from './redis.client';
import { sleep } from '../retry/retry';

/** How long a batch waits for a partition claimed by another writer before giving up (retriable). */
const MAX_CLAIM_WAIT_MS = 15_000;

/** What RedisFeatureStore's reads need: its client, its claim script and owner id, and whether Redis is a cluster. */
export interface BatchReader {
  readonly client: RedisClient;
  readonly claim: RedisScript;
  readonly owner: string;
  readonly claimTimeoutMs: number;
  readonly cluster: boolean;
  /** A single node: the write token the entities read are anchored to (see WriteChain). */
  readonly chain: WriteChain | undefined;
}

/** Keys of a partition's acceptance state (RedisFeatureStore.partitionKeys; the hash tag keeps them in one slot). */
export interface PartitionKeys {
  readonly state: string;
  readonly dedup: string;
  readonly order: string;
  readonly lock: string;
}

/** One round trip: claims the partition and reads its state, and every entity not cached with its slot's applied record. */
export async function readBatch(
  r: BatchReader,
  plan: FeatureSetPlan,
  keys: PartitionKeys,
  ids: readonly string[],
  headCount: number,
  slots: readonly SlotUnits[],
): Promise<{ partition: PartitionRead } & AnchoredRead> {
  const started = Date.now();
  for (;;) {
    const reads = plan.entities.entityReads(slots, true);
    const calls: PipelineCall[] = [
      { script: r.claim, keys: [keys.lock], args: [r.owner, r.claimTimeoutMs] },
      { command: 'hmget', args: [keys.state, 'max', 'ver'] },
      { command: 'hmget', args: [keys.dedup, ...ids] },
      { command: 'lrange', args: [keys.order, 0, headCount - 1] },
    ];
    // The token first: a write by anyone after it changes the token, which the batch's write then sees.
    const chain = reads.calls.length > 0 ? r.chain : undefined;
    const anchor = chain?.anchor();
    if (chain !== undefined) calls.push({ command: 'get', args: [chain.key] });
    const first = calls.length;
    for (const call of reads.calls) calls.push(call);
    const answers = await r.client.pipelined(calls);
    const wait = Number(answers[0]);
    if (wait === 0) {
      const partition = partitionReadFrom(answers[1] as (string | null)[], answers[2] as (string | null)[], answers[3] as string[]);
      const entities = entitiesFrom(reads.keys, answers.slice(first) as (Buffer | null)[][], partition.version, r.cluster);
      return chain !== undefined && answers[4] === anchor ? { partition, ...entities, anchor } : { partition, ...entities };
    }
    if (Date.now() - started > MAX_CLAIM_WAIT_MS) {
      throw new DependencyUnavailableError('redis', `partition ${keys.lock} stays claimed by another writer`);
    }
    await sleep(Math.min(wait, 50));
  }
}

/** The first `count` entries of a partition's order list (when the batch's read asked for fewer: see OrderHeads). */
export async function readOrderHead(client: RedisClient, keys: PartitionKeys, count: number): Promise<string[]> {
  const [head] = await client.pipelined([{ command: 'lrange', args: [keys.order, 0, count - 1] }]);
  return head as string[];
}

export async function readEntities(r: BatchReader, plan: FeatureSetPlan, slots: readonly SlotUnits[], base: number): Promise<EntityRead> {
  const reads = plan.entities.entityReads(slots, false);
  const answers = await r.client.pipelined(reads.calls);
  return entitiesFrom(reads.keys, answers as (Buffer | null)[][], base, r.cluster);
}

/**
 * The feature names of every feature set that stored one of these records
 * other than the current one (a features file changed since): one more
 * round trip, only then.
 */
export async function featureSetsOf(
  client: RedisClient,
  plan: FeatureSetPlan,
  keys: PartitionKeys,
  records: readonly (string | null)[],
): Promise<Map<string, string[]>> {
  const sets = new Map<string, string[]>();
  const fields = plan.ledger.otherFeatureSets(records);
  if (fields.length === 0) return sets;
  const [names] = (await client.pipelined([{ command: 'hmget', args: [keys.state, ...fields.map((id) => `fs:${id}`)] }])) as (
    string | null
  )[][];
  fields.forEach((id, i) => sets.set(id, names[i] === null ? [] : names[i].split(',')));
  return sets;
}
