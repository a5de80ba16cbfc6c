import type { RiskEvent } from '../events/risk-event';
import type { FeatureValues } from './feature-definition';

/** What the state layer decided for one valid event (SPEC §2–§3). */
export type StateOutcome =
  | { readonly kind: 'duplicate' }
  | {
      readonly kind: 'accepted';
      readonly late: boolean;
      readonly features: FeatureValues;
      /**
       * True when this exact message (same `messageId`) was accepted before,
       * e.g. Kafka redelivered an uncommitted batch after a crash: the first
       * outcome is returned unchanged and no state changes, so the verdict is
       * decided again identically instead of being lost as a duplicate.
       */
      readonly redelivered: boolean;
    };

export interface StateInput {
  readonly event: RiskEvent;
  /** Identity of the carrying message (`topic/partition/offset`); absent for HTTP. */
  readonly messageId: string | undefined;
}

export interface StateSettings {
  /** SPEC §2: events below (max event_time on the partition − this) are late (ALLOWED_LATENESS). */
  readonly allowedLatenessMs: number;
  /** SPEC §2: how long (in event time) an accepted event_id is remembered (DEDUP_RETENTION). */
  readonly dedupRetentionMs: number;
  /**
   * How long (in event time) the latest known value behind a `changed`
   * feature is remembered after the entity's last event (LATEST_VALUE_RETENTION).
   */
  readonly latestValueRetentionMs: number;
}

/**
 * The streaming state layer: acceptance (dedup by event_id, per-partition
 * watermark, late flag) and the windowed features, in one step so that a
 * backend can make them atomic.
 *
 * `apply` takes a batch of valid events of one source partition, in arrival
 * order, and returns one outcome per event in the same order. Outcomes must
 * be exactly what processing the events one by one would give. Re-applying a
 * batch that was already applied changes no state: each event comes back as
 * `redelivered` with its first outcome when its `messageId` matches the one
 * that was accepted, else as `duplicate`. Errors are `RiskEngineError`s; a retriable one means no
 * entity was half-updated.
 */
export abstract class FeatureStore {
  abstract apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]>;
  /** Frees resources; the store must not be used afterwards. */
  abstract close(): Promise<void>;
}
