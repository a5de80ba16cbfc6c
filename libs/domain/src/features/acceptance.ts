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
    if (previous.messageId !== undefined && previous.messageId === messageId && previous.features !== undefined) {
      return { kind: 'redelivered', late: previous.late, features: previous.features };
    }
    return { kind: 'duplicate' };
  }
  return { kind: 'accepted', late: partitionMax !== undefined && eventTime < partitionMax - allowedLatenessMs };
}
