import type { StateInput, StateOutcome } from '@risk/domain';
import { type ComputeState, type EntityRead, type SlotUnits, type Unit } from './redis-entity-states';
import type { FeatureSetPlan } from './redis-feature-set.plan';
import { entityWriteArgs } from './redis-feature.scripts';
import type { Acceptance } from './redis-partition-ledger';

/**
 * A single node: computes every entity of the batch (events in batch
 * order) and the arguments of the one script that compares-and-sets them
 * and commits the partition.
 */
export function singleNodeWrite(
  plan: FeatureSetPlan,
  inputs: readonly StateInput[],
  acceptance: Acceptance,
  slots: readonly SlotUnits[],
  read: EntityRead,
  work: ComputeState,
  base: number,
): { outcomes: StateOutcome[]; units: Unit[]; args: (string | Buffer)[] } {
  const isAccepted = new Uint8Array(inputs.length);
  for (const position of acceptance.accepted) isAccepted[position] = 1;
  const writes = slots.map((slot) => plan.entities.compute(inputs, isAccepted, slot, read, work, false));
  const outcomes = plan.ledger.outcomes(inputs, acceptance, work);
  const { records, order } = plan.ledger.records(inputs, acceptance, outcomes);
  const units = writes.flatMap((w) => w.units);
  // Not copied out of the writers: nothing writes to them any more, and the client copies them into its command.
  const expected = writes.length === 1 ? writes[0].expected.view() : Buffer.concat(writes.map((w) => w.expected.view()));
  const args: (string | Buffer)[] = [
    ...plan.ledger.commitArgs(base, acceptance, records.length / 2),
    expected,
    '',
    String(plan.entities.groupTtls.length),
    ...plan.entities.groupTtls,
  ];
  // Each entity's key and blob go as their own arguments (subarrays of the pack, not copied): see WRITE_AND_COMMIT_SCRIPT.
  args[9] = entityWriteArgs(writes, args).groups;
  for (const record of records) args.push(record);
  for (const entry of order) args.push(entry);
  return { outcomes, units, args };
}
