import type { FeatureValues } from './feature-definition';

/**
 * SPEC §2 acceptance, written once for every backend: deduplication by
 * event_id (with redelivery of the same message), and the per-partition
 * watermark that decides the late flag.
 */

/** What a backend remembers of an accepted event_id. */
export interface AcceptedRecord {
  /** The carrying message; undefined for events that can never be redelivered (HTTP, replay). */
  readonly messageId: string | undefined;
  readonly late: boolean;
  /** The first outcome's features; undefined when not kept (no messageId) or not known. */
  readonly features: FeatureValues | undefined;
}

export type AcceptanceDecision =
  | { readonly kind: 'duplicate' }
  /** The same message again: its first outcome, unchanged, and no state change. */
  | { readonly kind: 'redelivered'; readonly late: boolean; readonly features: FeatureValues }
  | { readonly kind: 'accepted'; readonly late: boolean };

/**
 * Decides one event against what is remembered of its event_id and the
 * partition's highest event time so far (`partitionMax`, undefined before
 * the partition's first accepted event).
 */
export function decideAcceptance(
  previous: AcceptedRecord | undefined,
  messageId: string | undefined,
  eventTime: number,
  partitionMax: number | undefined,
  allowedLatenessMs: number,
): AcceptanceDecision {
  if (previous !== undefined) {
    if (isRedelivery(previous, messageId)) return { kind: 'redelivered', late: previous.late, features: previous.features };
    return { kind: 'duplicate' };
  }
  return { kind: 'accepted', late: isLate(eventTime, partitionMax, allowedLatenessMs) };
}

/** An event_id already accepted comes back with the same message: Kafka redelivered it, its first outcome stands. */
export function isRedelivery(
  previous: AcceptedRecord,
  messageId: string | undefined,
): previous is AcceptedRecord & { readonly features: FeatureValues } {
  return previous.messageId !== undefined && previous.messageId === messageId && previous.features !== undefined;
}

/** SPEC §2: late when below the partition's highest event time so far minus the allowed lateness. */
export function isLate(eventTime: number, partitionMax: number | undefined, allowedLatenessMs: number): boolean {
  return partitionMax !== undefined && eventTime < partitionMax - allowedLatenessMs;
}
