import type { RiskEvent } from '../events/risk-event';
import { eventFieldReader, type EventFieldReader } from '../events/declared-fields';
import { entityFields } from './feature-definition';
import { emptyEntityState, entityKey, type EntityGroup, type EntityState } from './entity-features';

/**
 * The memory store's states of one entity group, by key. A single-field key
 * is one `Map` from the field's value; a composite key (user_id+device_id) is
 * a `Map` of the first field's value to a `Map` of the second's, so that no
 * key string is built per event: the values are the event's own strings
 * (short ones come out of JSON.parse internalized, compared by pointer),
 * where the flat `<length>:<first>|<second>` form cost two string
 * allocations and a hash of the whole text on every event. Both address the
 * same entities: the pair is the key, whatever form it is kept in.
 */
export abstract class EntityTable {
  /** Entities held (the memory budget counts them). */
  abstract readonly size: number;
  /** The event's entity state, created empty at the event's time when new; undefined when the event lacks the key. */
  abstract stateOf(group: EntityGroup, event: RiskEvent): EntityState | undefined;
  /** The state of the key in its stored text form (`entityKey`'s, e.g. `5:alice|dev-1`): investigation reads and previews. */
  abstract find(value: string): EntityState | undefined;
  abstract states(): IterableIterator<EntityState>;
  /** Removes every state `test` holds for, calling `removed` with each; order does not matter to callers. */
  abstract removeIf(test: (state: EntityState) => boolean, removed: (state: EntityState) => void): void;
  /** The same keys with each state replaced by `map`'s (a change of the feature set). */
  abstract mapped(map: (state: EntityState) => EntityState): EntityTable;
  abstract clear(): void;
}

export function entityTable(group: EntityGroup): EntityTable {
  const fields = entityFields(group.entity);
  return fields.length === 2 ? new PairTable(fields[0], fields[1]) : new FlatTable();
}

class FlatTable extends EntityTable {
  private readonly byKey = new Map<string, EntityState>();

  get size(): number {
    return this.byKey.size;
  }

  stateOf(group: EntityGroup, event: RiskEvent): EntityState | undefined {
    const key = entityKey(group, event);
    if (key === undefined) return undefined;
    let state = this.byKey.get(key as string);
    if (state === undefined) this.byKey.set(key as string, (state = emptyEntityState(group, event.event_time)));
    return state;
  }

  find(value: string): EntityState | undefined {
    return this.byKey.get(value);
  }

  states(): IterableIterator<EntityState> {
    return this.byKey.values();
  }

  removeIf(test: (state: EntityState) => boolean, removed: (state: EntityState) => void): void {
    // forEach, not `for (const [key, state] of ...)`: that allocates an entry array per entity on every
    // sweep, about 200 bytes an event of the twenty features. Deleting the visited entry is safe.
    const byKey = this.byKey;
    byKey.forEach((state, key) => {
      if (!test(state)) return;
      byKey.delete(key);
      removed(state);
    });
  }

  mapped(map: (state: EntityState) => EntityState): EntityTable {
    const next = new FlatTable();
    for (const [key, state] of this.byKey) next.byKey.set(key, map(state));
    return next;
  }

  clear(): void {
    this.byKey.clear();
  }
}

/** A composite key's states: first value → second value → state (see {@link EntityTable}). */
class PairTable extends EntityTable {
  private readonly byFirst = new Map<string, Map<string, EntityState>>();
  private count = 0;
  private readonly first: EventFieldReader;
  private readonly second: EventFieldReader;

  constructor(
    private readonly firstField: string,
    private readonly secondField: string,
  ) {
    super();
    this.first = eventFieldReader(firstField);
    this.second = eventFieldReader(secondField);
  }

  get size(): number {
    return this.count;
  }

  stateOf(group: EntityGroup, event: RiskEvent): EntityState | undefined {
    // Absent when either field is (as `entityKey`); both are string fields (parseFeatureDefinitions).
    const a = this.first(event) as string | undefined;
    if (a === undefined) return undefined;
    const b = this.second(event) as string | undefined;
    if (b === undefined) return undefined;
    let inner = this.byFirst.get(a);
    if (inner === undefined) this.byFirst.set(a, (inner = new Map<string, EntityState>()));
    let state = inner.get(b);
    if (state === undefined) {
      inner.set(b, (state = emptyEntityState(group, event.event_time)));
      this.count++;
    }
    return state;
  }

  find(value: string): EntityState | undefined {
    const pair = splitPair(value);
    return pair === undefined ? undefined : this.byFirst.get(pair[0])?.get(pair[1]);
  }

  *states(): IterableIterator<EntityState> {
    for (const inner of this.byFirst.values()) yield* inner.values();
  }

  removeIf(test: (state: EntityState) => boolean, removed: (state: EntityState) => void): void {
    const byFirst = this.byFirst;
    let count = this.count;
    // forEach: no entry array per entity (see FlatTable.removeIf); one inner callback for all, not one per first value.
    let inner = undefined as unknown as Map<string, EntityState>;
    const visit = (state: EntityState, b: string): void => {
      if (!test(state)) return;
      inner.delete(b);
      count--;
      removed(state);
    };
    byFirst.forEach((seconds, a) => {
      inner = seconds;
      seconds.forEach(visit);
      if (seconds.size === 0) byFirst.delete(a);
    });
    this.count = count;
  }

  mapped(map: (state: EntityState) => EntityState): EntityTable {
    const next = new PairTable(this.firstField, this.secondField);
    for (const [a, inner] of this.byFirst) {
      const copy = new Map<string, EntityState>();
      for (const [b, state] of inner) copy.set(b, map(state));
      next.byFirst.set(a, copy);
    }
    next.count = this.count;
    return next;
  }

  clear(): void {
    this.byFirst.clear();
    this.count = 0;
  }
}

/** `<length of the first>:<first>|<second>` (entity-features.ts keyReader) into its two values; undefined when malformed. */
export function splitPair(value: string): [string, string] | undefined {
  const colon = value.indexOf(':');
  if (colon < 1) return undefined;
  const digits = value.slice(0, colon);
  const length = Number(digits);
  const bar = colon + 1 + length;
  // The stored form writes the length as String(length): "05:..." names no stored key.
  if (String(length) !== digits || value[bar] !== '|') return undefined;
  return [value.slice(colon + 1, bar), value.slice(bar + 1)];
}
