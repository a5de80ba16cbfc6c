import {
  applyEventToEntity,
  buildEntityGroups,
  entityKey,
  type EntityGroup,
  type EntityState,
  type EventField,
  type FeatureDefinition,
  type FeatureValue,
  type StateInput,
  type StateSettings,
} from '@risk/domain';
import { AppliedRecord, writeAppliedEntry } from './redis-applied-record';
import { entityKeyCode } from './redis-feature-store.options';
import { ByteWriter, EntityCodec, nextVersion, writeHeader } from './redis-entity.codec';
import { entityTtlMs } from './redis-entity-ttl';
import { keySlot } from './redis-keys';
import { slotTag } from './redis-slot-tags';
import { type PipelineCall } from './redis.client';

/** The largest first size of a pack (4 MiB); larger batches grow it as before. */
const MAX_PACK_GUESS = 4 << 20;

export interface GroupPlan {
  readonly group: EntityGroup;
  readonly codec: EntityCodec;
  readonly keyBefore: string;
  readonly keyAfter: string;
  readonly ttl: string;
  /** The group's outputs in order: the answer stored in the applied record. */
  readonly outputs: readonly number[];
}

/** One entity touched by the batch. */
export interface Unit {
  readonly plan: GroupPlan;
  readonly index: number;
  /** The entity value (a user id, an IP, …) and its key. */
  readonly value: string;
  readonly key: string;
  /** The cached state when the batch began (then the entity is not read). */
  readonly entry: CachedEntity | undefined;
  /** The unit's first batch position; the next ones follow through `next` (-1 ends), in arrival order. */
  readonly first: number;
  last: number;
  /** By batch position: the next position of the same entity (one array per entity group and batch). */
  readonly next: Int32Array;
}

export interface EntityRead {
  readonly entities: Map<string, Buffer | null>;
  readonly applied: AppliedRecord;
}

/** What one `apply` carries across its compute attempts. */
export interface ComputeState {
  /** By batch position: the accepted events' values in definition order. */
  readonly features: (FeatureValue[] | undefined)[];
  /** Positions whose answers an earlier, interrupted call had written. */
  readonly redelivered: Set<number>;
}

/** An entity's state as last written by this process, with the header that write stored. */
export interface CachedEntity {
  /** The version of the last write computed from this state (maybe still on its way), or of the value read. */
  version: number;
  /** Dropped from the cache (a failed write, an error, eviction): batches that captured it look it up again. */
  dropped: boolean;
  /** The write chain's epoch this state was last known valid in, -1 before its first write or check (see WriteChain). */
  trustEpoch: number;
  /** Until when (ms since 1970) its key surely has not expired; 0 unknown (see WriteChain). */
  trustUntil: number;
  /** Until when (ms since 1970) a write may keep its key's TTL, set by this process's last refresh; 0 never (redis-entity-ttl.ts). */
  keepTtlUntil: number;
  readonly state: EntityState;
  /** The entity's key, made once for every batch that touches it. */
  readonly key: string;
  /** `unitsOf`: the call that last made a unit of this entity, and that unit's index in its answer. */
  batch: number;
  unitAt: number;
}

export interface SlotUnits {
  readonly slot: number;
  /** The slot's applied record (cluster only: on a single node the batch's writes and commit are one script). */
  readonly apKey: string | undefined;
  readonly units: Unit[];
}

export interface SlotWrite {
  readonly slot: number;
  /** The slot's applied record (cluster only: on a single node the batch's writes and commit are one script). */
  readonly apKey: string | undefined;
  readonly units: Unit[];
  /** Per unit: the state it was computed from (and changed), as cached. */
  readonly entities: CachedEntity[];
  /** Per unit: the header (format and version) its key must still hold. */
  readonly expected: ByteWriter;
  /**
   * Per unit: key (u16 length and UTF-8, written empty: `entityWriteArgs` sends each unit's key string), blob and
   * applied-record entries (u32 length each): one script argument.
   */
  readonly pack: ByteWriter;
}

export interface EntityStatesOptions {
  /** Prefix of every key. */
  readonly prefix: string;
  /** Short key code of each entity field (see ENTITY_KEY_CODES). */
  readonly keyCodes: Record<EventField, string>;
  /** A cluster: entities grouped by their own slot, each slot with its applied record. */
  readonly cluster: boolean;
  /** Entities kept between batches, per entity field; 0 disables. */
  readonly cacheEntities: number;
  /** Whether the answers of events without a messageId go into the applied records. */
  readonly recordAnswers: boolean;
}

/**
 * The entity side of the store: the entity groups' plans, the states this
 * process keeps between batches, and the computation of each slot's write
 * from cached or read states. No I/O: the store reads and writes.
 */
export class EntityStates {
  readonly plans: GroupPlan[];
  /** Per entity group: how long an idle entity is kept (ms, as text for the write script). */
  readonly groupTtls: string[];
  /** Per entity group: entity value → the state as this process last stored (or read) it. */
  private readonly caches: Map<string, CachedEntity>[];
  private readonly cacheLimit: number;
  private readonly recordAnswers: boolean;
  private readonly cluster: boolean;
  private readonly prefix: string;
  /** A single node: the first size of a batch's pack (the largest one so far, bounded). */
  private packBytes = 16_384;
  /** Calls of `unitsOf` so far: marks which call a cached entity's `unitAt` belongs to. */
  private unitsCalls = 0;

  constructor(
    private readonly definitions: readonly FeatureDefinition[],
    settings: StateSettings,
    options: EntityStatesOptions,
  ) {
    this.prefix = options.prefix;
    this.cluster = options.cluster;
    this.cacheLimit = options.cacheEntities;
    this.recordAnswers = options.recordAnswers;
    this.plans = buildEntityGroups(definitions, settings).map((group) => ({
      group,
      codec: new EntityCodec(group),
      keyBefore: `${this.prefix}{${entityKeyCode(group.entity, options.keyCodes)}:`,
      keyAfter: '}:s',
      ttl: String(entityTtlMs(group.retentionMs)),
      outputs: [...group.windowed, ...group.changed].map((slot) => slot.output),
    }));
    this.caches = this.plans.map(() => new Map<string, CachedEntity>());
    this.groupTtls = this.plans.map((plan) => plan.ttl);
  }

  /**
   * Entities touched by the batch's events, each with its cached state when
   * there is one (then it is not read). A cached entity finds its unit
   * through the marks `unitsOf` leaves on it (one Map lookup per event and
   * group); only the others go through a Map of this call's own.
   */
  unitsOf(inputs: readonly StateInput[]): Unit[] {
    const batch = ++this.unitsCalls;
    const units: Unit[] = [];
    for (let g = 0; g < this.plans.length; g++) {
      const plan = this.plans[g];
      const group = plan.group;
      const cache = this.caches[g];
      const next = new Int32Array(inputs.length);
      let uncached: Map<string, Unit> | undefined;
      for (let position = 0; position < inputs.length; position++) {
        const raw = entityKey(group, inputs[position].event);
        if (raw === undefined) continue;
        const value = typeof raw === 'string' ? raw : String(raw);
        const entry = cache.get(value);
        let unit: Unit | undefined;
        if (entry === undefined) unit = (uncached ??= new Map<string, Unit>()).get(value);
        else if (entry.batch === batch) unit = units[entry.unitAt];
        if (unit === undefined) {
          const key = entry !== undefined ? entry.key : plan.keyBefore + value + plan.keyAfter;
          unit = { plan, index: g, value, key, entry, first: position, last: position, next };
          if (entry === undefined) uncached!.set(value, unit);
          else {
            entry.batch = batch;
            entry.unitAt = units.length;
          }
          units.push(unit);
        } else {
          next[unit.last] = position;
          unit.last = position;
        }
        next[position] = -1;
      }
    }
    return units;
  }

  /** The batch's entities grouped by slot, each slot with its applied record's key. */
  slotsOf(units: readonly Unit[], partition: string): SlotUnits[] {
    const cluster = this.cluster;
    const bySlot = new Map<number, Unit[]>();
    for (const unit of units) {
      const slot = cluster ? keySlot(unit.key) : 0;
      const list = bySlot.get(slot);
      if (list === undefined) bySlot.set(slot, [unit]);
      else list.push(unit);
    }
    // The applied record lives in the slot of the entities it covers, so that one script writes both.
    return [...bySlot].map(([slot, list]) => ({
      slot,
      apKey: cluster ? `${this.prefix}{${slotTag(slot)}}:ap:${partition}` : undefined,
      units: list,
    }));
  }

  /** One MGET per slot with entities to read: the applied record (cluster), then the entities (not cached ones, if asked). */
  entityReads(slots: readonly SlotUnits[], skipCached: boolean): { calls: PipelineCall[]; keys: string[][] } {
    const calls: PipelineCall[] = [];
    const keys: string[][] = [];
    for (const { apKey, units } of slots) {
      const wanted = apKey === undefined ? [] : [apKey];
      const first = wanted.length;
      for (const unit of units) if (!skipCached || unit.entry === undefined) wanted.push(unit.key);
      if (wanted.length === first) continue;
      keys.push(wanted);
      calls.push({ command: 'mget', args: wanted, buffers: true });
    }
    return { calls, keys };
  }

  /**
   * Applies one slot's accepted events to their entities and returns the
   * slot's write. An entity's state is the cached one when there is one —
   * possibly already changed by another batch of this process whose write is
   * still on its way: this batch's write then expects that write's header and
   * fails with it (writes of one process reach Redis in the order they were
   * computed) — else the one read. Events found in the slot's applied record
   * were applied by an interrupted earlier call: their answer is reused and
   * they are not applied again.
   */
  compute(
    inputs: readonly StateInput[],
    isAccepted: Uint8Array,
    { slot, apKey, units }: SlotUnits,
    { entities, applied }: EntityRead,
    { features, redelivered }: ComputeState,
    withAnswers = true,
  ): SlotWrite {
    // Sized for the common case: on a cluster a slot holds an entity or two, on a single node the whole batch.
    const write: SlotWrite = {
      slot,
      apKey,
      units: [],
      entities: [],
      expected: new ByteWriter(5 * units.length),
      pack: new ByteWriter(this.cluster ? 512 : this.packBytes),
    };
    const answered: number[] = [];
    for (const unit of units) {
      const { plan } = unit;
      let entity: CachedEntity | undefined;
      let stored = false;
      answered.length = 0;
      for (let position = unit.first; position !== -1; position = unit.next[position]) {
        if (isAccepted[position] === 0) continue;
        const { event, messageId } = inputs[position];
        const values = features[position]!;
        const answer = applied.empty ? undefined : applied.answer(unit.index, event.event_id, messageId ?? '');
        if (answer !== undefined) {
          for (let i = 0; i < plan.outputs.length; i++) {
            const output = plan.outputs[i];
            values[output] = this.definitions[output].aggregate === 'changed' ? answer[i] === 1 : answer[i];
          }
          if (messageId !== undefined) redelivered.add(position);
          continue;
        }
        entity ??= this.entityOf(unit, entities, event.event_time);
        if (applyEventToEntity(plan.group, entity.state, event, values)) stored = true;
        // After a crash between these writes and the commit, a redelivered message (or an HTTP client's retry of the
        // same event_id) finds its answer here instead of being applied again.
        if (withAnswers && (messageId !== undefined || this.recordAnswers)) answered.push(position);
      }
      if (entity === undefined) continue;
      const { pack } = write;
      write.units.push(unit);
      write.entities.push(entity);
      writeHeader(write.expected, entity.version);
      // The key's bytes would be skipped: the script's arguments take the unit's key string (see SlotWrite.pack).
      pack.u16(0);
      if (!stored) {
        // Read, not changed: the write only checks that it is still what the values were computed from.
        pack.u32(0);
        pack.u32(0);
        continue;
      }
      const version = nextVersion(entity.version);
      entity.version = version;
      const blobLength = pack.reserveU32();
      const blobStart = pack.at;
      plan.codec.encodeInto(pack, entity.state, version);
      pack.patchU32(blobLength, pack.at - blobStart);
      const segmentLength = pack.reserveU32();
      const segmentStart = pack.at;
      for (const position of answered) {
        const { event, messageId } = inputs[position];
        writeAppliedEntry(pack, unit.index, event.event_id, messageId ?? '', this.answerOf(plan, features[position]!));
      }
      pack.patchU32(segmentLength, pack.at - segmentStart);
    }
    // The next batch's pack starts as large as this one's: no doubling and copying of half a megabyte each time.
    if (!this.cluster) this.packBytes = Math.min(Math.max(this.packBytes, write.pack.at), MAX_PACK_GUESS);
    return write;
  }

  /** Forgets a cached state; batches that captured it look the entity up again. */
  drop(group: number, value: string): void {
    const cache = this.caches[group];
    const entry = cache.get(value);
    if (entry === undefined) return;
    entry.dropped = true;
    cache.delete(value);
  }

  /** The entity's state: the cached one, else decoded from what was read (and cached for the batches after). */
  private entityOf(unit: Unit, entities: Map<string, Buffer | null>, firstTime: number): CachedEntity {
    if (unit.entry !== undefined && !unit.entry.dropped) return unit.entry;
    const cache = this.caches[unit.index];
    const cached = cache.get(unit.value);
    if (cached !== undefined) return cached;
    // Not read (it was cached when the batch began, and dropped since): computed from "absent", which the write's
    // compare-and-set refuses unless the key is indeed absent; the slot is then read again.
    const decoded = unit.plan.codec.decode(entities.get(unit.key) ?? null, firstTime);
    const entity: CachedEntity = {
      version: decoded.version,
      state: decoded.state,
      key: unit.key,
      dropped: false,
      trustEpoch: -1,
      trustUntil: 0,
      keepTtlUntil: 0,
      batch: 0,
      unitAt: 0,
    };
    if (this.cacheLimit > 0) {
      cache.set(unit.value, entity);
      if (cache.size > this.cacheLimit) {
        // Oldest first; a batch still using an evicted state is not affected (its write is checked as always).
        let excess = cache.size - this.cacheLimit;
        for (const [old, evicted] of cache) {
          evicted.dropped = true;
          cache.delete(old);
          if (--excess === 0) break;
        }
      }
    }
    return entity;
  }

  private answerOf(plan: GroupPlan, values: readonly FeatureValue[]): number[] {
    const answer = new Array<number>(plan.outputs.length);
    for (let i = 0; i < plan.outputs.length; i++) {
      const value = values[plan.outputs[i]];
      answer[i] = typeof value === 'boolean' ? (value ? 1 : 0) : value;
    }
    return answer;
  }
}

/**
 * The entities and the applied records read per slot (`keys` as asked by
 * `entityReads`, answers in the same order; on a cluster each list starts
 * with its slot's applied record).
 */
export function entitiesFrom(keys: readonly string[][], answers: readonly (Buffer | null)[][], base: number, cluster: boolean): EntityRead {
  const entities = new Map<string, Buffer | null>();
  const applied = new AppliedRecord(base);
  const first = cluster ? 1 : 0;
  keys.forEach((list, s) => {
    const values = answers[s];
    if (cluster) applied.add(values[0]);
    for (let k = first; k < list.length; k++) entities.set(list[k], values[k]);
  });
  return { entities, applied };
}
