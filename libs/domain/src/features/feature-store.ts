import type { RiskEvent } from '../events/risk-event';
import type { FieldError } from '../shared/errors';
import type { FeatureDefinition, FeatureValues } from './feature-definition';

/** `GET /entities/:key/:value/features`: one entity's features as of its latest accepted event. */
export interface EntityFeatures {
  /** The entity key: `user_id`, `ip_address`, a declared field, or a composite `user_id+device_id`. */
  readonly entity: string;
  readonly value: string;
  /** The event_time t of the entity's latest event that took part in one of its features: every window is (t − W, t]. */
  readonly as_of: string;
  /** Every windowed feature keyed on this entity, in definition order. */
  readonly features: FeatureValues;
  /** Per `changed` feature keyed on this entity: the latest known value and its event_time (null: none yet). */
  readonly latest_values: Readonly<Record<string, { readonly value: string | number; readonly event_time: string } | null>>;
}

export type EntityReadOutcome =
  | { readonly kind: 'found'; readonly entity: EntityFeatures }
  /** No feature is keyed on this entity key: the store keeps nothing for it. */
  | { readonly kind: 'unknown-key'; readonly keys: readonly string[] }
  /** A bad value for the key (a composite value not of the form `<length>:<first>|<second>`). */
  | { readonly kind: 'invalid-value'; readonly errors: readonly FieldError[] }
  /** The store holds nothing for this entity: never seen, expired, or its events took part in none of its features. */
  | { readonly kind: 'not-found' }
  /** The store cannot read without writing (test doubles). */
  | { readonly kind: 'unsupported' };

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
 *
 * `definitions` are the features to compute for this batch: those pinned by
 * the rule set version deciding it (docs/features.md, "Features changed
 * live"); undefined keeps the store's current ones. A store given other
 * definitions computes them from this batch on: every feature whose
 * `featureId` stays keeps its state, a removed or redefined one's state is
 * dropped, an added one starts empty. Callers pass the same array for the
 * same set (FeatureSetResolver), so the check per batch is one comparison.
 */
export abstract class FeatureStore {
  abstract apply(partition: string, inputs: readonly StateInput[], definitions?: readonly FeatureDefinition[]): Promise<StateOutcome[]>;
  /** Frees resources; the store must not be used afterwards. */
  abstract close(): Promise<void>;

  /**
   * Investigation read (`GET /entities/:key/:value/features`): one entity's
   * features as of its latest accepted event. Changes no state. A store that
   * cannot read without writing answers `unsupported`.
   */
  readEntity(_entity: string, _value: string): Promise<EntityReadOutcome> {
    return Promise.resolve({ kind: 'unsupported' });
  }

  /**
   * The features `event` would get from the live state if it were accepted
   * now (`POST /rules/evaluate` without `features`), WITHOUT changing any
   * state: no dedup record, no watermark move, no entity write. Undefined
   * from a store that cannot read without writing.
   */
  preview(_event: RiskEvent): Promise<FeatureValues | undefined> {
    return Promise.resolve(undefined);
  }
}
