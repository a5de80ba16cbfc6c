import type { StateInput, StateOutcome } from '@risk/domain';
import { groupBytes, type ComputeState, type EntityRead, type SlotUnits, type Unit } from './redis-entity-states';
import type { FeatureSetPlan } from './redis-feature-set.plan';
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
  const pack = writes.length === 1 ? writes[0].pack.view() : Buffer.concat(writes.map((w) => w.pack.view()));
  const args = [
    ...plan.ledger.commitArgs(base, acceptance, records.length / 2),
    expected,
    groupBytes(units),
    pack,
    String(plan.entities.groupTtls.length),
    ...plan.entities.groupTtls,
    ...records,
    ...order,
  ];
  return { outcomes, units, args };
}
