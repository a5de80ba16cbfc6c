import type { EventField } from '@risk/domain';

export interface RedisFeatureStoreOptions {
  /** Prefix of every key (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  /**
   * How long (wall clock) the answers of a batch interrupted by a crash are
   * kept for its redelivery: a batch redelivered later than this may be
   * counted twice at the entities it had already reached. Default 1 h.
   */
  readonly pendingTimeoutMs?: number;
  /** How long a partition stays claimed by a batch that never finished (a crashed process). Default 10 s. */
  readonly claimTimeoutMs?: number;
  /**
   * Entities whose state this process keeps between batches (as it last
   * wrote or read them), so that most batches read no entity at all: the compare-and-set
   * catches a cached state another writer changed, and it is read again.
   * Per entity field (users, IPs, devices, …). 0 disables. Default 100,000.
   */
  readonly cacheEntities?: number;
  /**
   * Whether the answers of events without a messageId are kept until the
   * partition commits, so that an HTTP client retrying after a crash is not
   * counted twice. Default true; a replay (which cannot be retried) turns it off.
   */
  readonly answersWithoutMessageId?: boolean;
  /** Whether `close()` also closes the client. Default false: the client is usually shared. */
  readonly closeClient?: boolean;
  /**
   * Tests only: called after each step of `apply` (awaited); throwing simulates a
   * crash there, waiting lets another writer change entities in between.
   */
  readonly afterStep?: (step: StoreStep) => void | Promise<void>;
}

/** read: state read, nothing written; computed: about to write entities; entities: written, partition not committed. */
export type StoreStep = 'read' | 'computed' | 'entities';

/** Short, stable key codes for the entity fields (they end up in every entity key). */
export const ENTITY_KEY_CODES: Record<EventField, string> = {
  event_id: 'eid',
  user_id: 'u',
  event_type: 'type',
  ip_address: 'ip',
  device_id: 'dev',
  location_city: 'city',
  amount: 'amt',
};

/**
 * The key code of an entity field: SPEC §1's from ENTITY_KEY_CODES (unchanged,
 * so that stored state stays readable), a declared field's `f.<name>` (the
 * dot keeps it apart from every SPEC code), a composite key's two codes
 * joined by `+` (`u+dev`).
 */
export function entityKeyCode(entity: string, codes: Readonly<Record<EventField, string>> = ENTITY_KEY_CODES): string {
  // A composite key (`user_id+device_id`): its fields' codes, `u+dev`.
  if (entity.includes('+'))
    return entity
      .split('+')
      .map((field) => entityKeyCode(field, codes))
      .join('+');
  return Object.prototype.hasOwnProperty.call(codes, entity) ? codes[entity as EventField] : `f.${entity}`;
}
