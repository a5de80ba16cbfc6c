import type { StateInput, StateOutcome } from '@risk/domain';
import { appliedRecordHeader } from './redis-applied-record';
import type { PartitionKeys } from './redis-batch-read';
import type { SlotUnits, SlotWrite } from './redis-entity-states';
import type { FeatureSetPlan } from './redis-feature-set.plan';
import { entityWriteArgs } from './redis-feature.scripts';
import type { Acceptance } from './redis-partition-ledger';
import type { PipelineCall, RedisClient, RedisScript } from './redis.client';

/**
 * A cluster's step 2 (RedisFeatureStore): writes every slot's entities with
 * their applied-record entries (WRITE_ENTITIES_SCRIPT), each slot all or
 * nothing, one pipeline per master sent together; returns the slots where
 * another writer changed an entity first (their cached states dropped), to
 * be read again and recomputed.
 */
export async function writeSlots(
  client: RedisClient,
  script: RedisScript,
  plan: FeatureSetPlan,
  writes: readonly SlotWrite[],
  base: number,
  pendingTimeoutMs: number,
): Promise<SlotUnits[]> {
  if (writes.length === 0) return [];
  const header = appliedRecordHeader(base);
  const ttl = String(pendingTimeoutMs);
  const groups = String(plan.entities.groupTtls.length);
  const answers = await client.pipelined(
    writes.map((w): PipelineCall => {
      const args: (string | Buffer)[] = [header, ttl, w.expected.take(), '', '', groups, ...plan.entities.groupTtls];
      const entities = entityWriteArgs([w], args);
      args[3] = entities.groups;
      args[4] = entities.applied;
      return { script, keys: [w.apKey!], args };
    }),
  );
  const conflicted: SlotUnits[] = [];
  writes.forEach((w, i) => {
    if ((answers[i] as unknown[]).length === 0) return;
    // The cached states of the slot hold what was not written (and maybe other batches' changes on top): drop them.
    for (const unit of w.units) plan.entities.drop(unit.index, unit.value);
    conflicted.push({ slot: w.slot, apKey: w.apKey, units: w.units.map((unit) => ({ ...unit, entry: undefined })) });
  });
  return conflicted;
}

/** A cluster's step 3 (COMMIT_SCRIPT): the partition's dedup records, watermark and version; answers 'OK', 'LOST' or 'STALE'. */
export function commitPartition(
  script: RedisScript,
  plan: FeatureSetPlan,
  keys: PartitionKeys,
  base: number,
  inputs: readonly StateInput[],
  acceptance: Acceptance,
  outcomes: readonly StateOutcome[],
): Promise<unknown> {
  const { records, order, count } = plan.ledger.records(inputs, acceptance, outcomes);
  return script.run([keys.state, keys.dedup, keys.order, keys.lock], [...plan.ledger.commitArgs(base, acceptance, count), records, order]);
}
