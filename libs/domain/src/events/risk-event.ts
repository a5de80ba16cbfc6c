/**
 * An event that passed validation (SPEC §1). Field names keep the wire names
 * because rules and feature definitions address them by those names.
 * Optional fields are `undefined` when absent or empty.
 */
export interface RiskEvent {
  readonly event_id: string;
  readonly user_id: string;
  readonly event_type: string;
  /** Epoch milliseconds, UTC. */
  readonly event_time: number;
  readonly ip_address: string | undefined;
  readonly device_id: string | undefined;
  readonly location_city: string | undefined;
  readonly amount: number | undefined;
  /**
   * The declared fields (`rules/fields.json`, docs/fields.md) the event
   * carries, by name. Set only when fields are declared: then on every event,
   * empty when it carries none of them. Read it through `eventField`.
   */
  readonly fields?: Readonly<Record<string, DeclaredValue>>;
}

/** The value of a declared field (docs/fields.md). */
export type DeclaredValue = string | number | boolean;

/** Event fields a rule may name as facts (SPEC §4). */
export const EVENT_FACTS = ['event_type', 'user_id', 'ip_address', 'device_id', 'location_city', 'amount'] as const;
export type EventFact = (typeof EVENT_FACTS)[number];

/** Fields a feature definition may key on or aggregate. */
export const EVENT_FIELDS = ['event_id', 'user_id', 'event_type', 'ip_address', 'device_id', 'location_city', 'amount'] as const;
export type EventField = (typeof EVENT_FIELDS)[number];

export const MAX_EVENT_BYTES = 64 * 1024;
