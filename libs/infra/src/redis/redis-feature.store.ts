import { createHash, randomBytes } from 'node:crypto';
import {
  applyEventToEntity,
  buildEntityGroups,
  decideAcceptance,
  DependencyUnavailableError,
  FeatureStore,
  RiskEngineError,
  emptyFeatureValue,
  featureValuesFactory,
  type AcceptedRecord,
  type EntityGroup,
  type EntityState,
  type EventField,
  type FeatureDefinition,
  type FeatureValue,
  type FeatureValues,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { AppliedRecord, appliedRecordHeader, writeAppliedEntry } from './redis-applied-record';
import { ByteWriter, EntityCodec, nextVersion, writeHeader } from './redis-entity.codec';
import { CLAIM_SCRIPT, COMMIT_SCRIPT, WRITE_AND_COMMIT_SCRIPT, WRITE_ENTITIES_SCRIPT } from './redis-feature.scripts';
import { checkStateLayout } from './redis-state-layout';
import { keySlot, type PipelineCall, type RedisClient, type RedisScript } from './redis.client';

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
   * Entities whose state this process keeps between batches (those it wrote
   * last), so that most batches read no entity at all: the compare-and-set
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

/** Attempts at writing entities that other partitions keep changing, before giving up (retriable). */
const MAX_ENTITY_ATTEMPTS = 20;
/** How long a batch waits for a partition claimed by another writer before giving up (retriable). */
const MAX_CLAIM_WAIT_MS = 15_000;

interface GroupPlan {
  readonly group: EntityGroup;
  readonly codec: EntityCodec;
  readonly keyBefore: string;
  readonly keyAfter: string;
  readonly ttl: string;
  /** The group's outputs in order: the answer stored in the applied record. */
  readonly outputs: readonly number[];
}

/** One entity touched by the batch. */
interface Unit {
  readonly plan: GroupPlan;
  readonly index: number;
  /** The entity value (a user id, an IP, …) and its key. */
  readonly value: string;
  readonly key: string;
  /** The cached state when the batch began (then the entity is not read). */
  readonly entry: CachedEntity | undefined;
  /** Batch positions of the unit's accepted events, in arrival order. */
  readonly positions: number[];
}

interface PartitionRead {
  readonly max: number | undefined;
  readonly version: number;
  readonly records: (string | null)[];
  readonly head: string[];
}

/**
 * The streaming state layer in Redis. Redis stores the state; the engine
 * computes: acceptance and feature values come from the same domain code as
 * MemoryFeatureStore, so both give exactly the same outcomes for one
 * partition's events, batch after batch.
 *
 * One `apply` is three round trips, whatever the batch size:
 * 1. read: claim the partition, read its watermark, the batch's dedup
 *    records and the oldest ones, and every touched entity with its slot's
 *    applied record;
 * 2. write entities: per slot, one compare-and-set of every entity the
 *    batch changed (all or none) and the batch's answers in the applied
 *    record; another partition having changed one in between makes the
 *    store re-read and recompute (what was already written is recognised
 *    from the applied record and not applied again);
 * 3. commit: the dedup records with their first outcomes, the watermark, the
 *    version; releases the claim.
 * A crash between 2 and 3 leaves entities updated and the partition not
 * committed: the redelivered batch finds its answers in the applied records
 * (same messageIds), applies nothing twice and returns them.
 * See docs/redis.md for the layout and the crash analysis.
 */
export class RedisFeatureStore extends FeatureStore {
  private readonly plans: GroupPlan[];
  private readonly claim: RedisScript;
  private readonly writeEntities: RedisScript;
  private readonly commit: RedisScript;
  private readonly writeAndCommit: RedisScript;
  /** A single node: entity writes and commit in one atomic script (no applied records). */
  private readonly singleNode: boolean;
  private readonly prefix: string;
  private readonly empty: FeatureValue[];
  private readonly makeFeatures: (values: readonly FeatureValue[]) => FeatureValues;
  private readonly owner = randomBytes(8).toString('hex');
  private readonly pendingTimeoutMs: number;
  private readonly claimTimeoutMs: number;
  private readonly dedupKeyTtlMs: number;
  /** Per entity group: entity value → the state as this process last stored (or read) it. */
  private readonly caches: Map<string, CachedEntity>[];
  /** Per entity group: how long an idle entity is kept (ms, as text for the write script). */
  private readonly groupTtls: string[];
  private readonly cacheLimit: number;
  private readonly recordAnswers: boolean;
  /** Fingerprint of the feature names in order: dedup records name the set their values follow. */
  private readonly featureSetId: string;
  private readonly featureNames: string;
  /** Batches of one partition must not interleave: each waits for the previous one. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Entity writes refused because another writer changed an entity first (each one re-read and recomputed). */
  conflicts = 0;

  constructor(
    private readonly client: RedisClient,
    private readonly definitions: readonly FeatureDefinition[],
    private readonly settings: StateSettings,
    private readonly options: RedisFeatureStoreOptions,
  ) {
    super();
    this.prefix = options.keyPrefix;
    this.pendingTimeoutMs = options.pendingTimeoutMs ?? 3_600_000;
    this.claimTimeoutMs = options.claimTimeoutMs ?? 10_000;
    this.cacheLimit = options.cacheEntities ?? 100_000;
    this.recordAnswers = options.answersWithoutMessageId ?? true;
    this.featureNames = definitions.map((d) => d.name).join(',');
    this.featureSetId = createHash('sha1').update(this.featureNames).digest('hex').slice(0, 8);
    // Idle partitions keep their dedup records a little longer than the event-time retention.
    this.dedupKeyTtlMs = Math.max(settings.dedupRetentionMs, this.pendingTimeoutMs) + 3_600_000;
    this.plans = buildEntityGroups(definitions, settings).map((group) => ({
      group,
      codec: new EntityCodec(group),
      keyBefore: `${this.prefix}{${ENTITY_KEY_CODES[group.entity]}:`,
      keyAfter: '}:s',
      ttl: String(Math.max(group.retentionMs, 1)),
      outputs: [...group.windowed, ...group.changed].map((slot) => slot.output),
    }));
    this.caches = this.plans.map(() => new Map<string, CachedEntity>());
    this.groupTtls = this.plans.map((plan) => plan.ttl);
    this.empty = definitions.map((definition) => emptyFeatureValue(definition));
    this.makeFeatures = featureValuesFactory(definitions);
    this.claim = client.defineScript('claim', CLAIM_SCRIPT);
    this.writeEntities = client.defineScript('write_entities', WRITE_ENTITIES_SCRIPT);
    this.commit = client.defineScript('commit', COMMIT_SCRIPT);
    this.writeAndCommit = client.defineScript('write_and_commit', WRITE_AND_COMMIT_SCRIPT);
    this.singleNode = !client.isCluster;
  }

  apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    const previous = this.tails.get(partition) ?? Promise.resolve();
    const run = previous.then(
      () => this.applyNow(partition, inputs),
      () => this.applyNow(partition, inputs),
    );
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(partition, tail);
    void tail.then(() => {
      if (this.tails.get(partition) === tail) this.tails.delete(partition);
    });
    return run;
  }

  async close(): Promise<void> {
    await Promise.all([...this.tails.values()]);
    if (this.options.closeClient === true) await this.client.quit();
  }

  /** Keys of a partition's acceptance state (the hash tag keeps them in one slot). */
  partitionKeys(partition: string): { state: string; dedup: string; order: string; lock: string } {
    const base = `${this.prefix}{p:${partition}}:`;
    return { state: `${base}st`, dedup: `${base}dd`, order: `${base}ord`, lock: `${base}lk` };
  }

  /**
   * Start-up check: resolves when the key prefix holds no entity state of the
   * old (generated-Lua) layout, else throws `STATE_LAYOUT_OUTDATED` with the
   * `risk-engine migrate-state` command to run. SCANs the keyspace once, until
   * it marks the prefix (see redis-state-layout.ts).
   */
  checkLayout(): Promise<void> {
    return checkStateLayout(this.client, this.prefix);
  }

  /** The key holding one entity's state, e.g. `risk:{u:alice}:s`. */
  entityKey(entity: EventField, value: string): string {
    const plan = this.plans.find((p) => p.group.entity === entity);
    return `${plan?.keyBefore ?? `${this.prefix}{${ENTITY_KEY_CODES[entity]}:`}${value}}:s`;
  }

  private async applyNow(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    if (inputs.length === 0) return [];
    const keys = this.partitionKeys(partition);
    const ids = [...new Set(inputs.map((input) => input.event.event_id))];
    const units = this.unitsOf(inputs);
    const slots = this.slotsOf(units, partition);
    const read = await this.read(keys, ids, inputs.length + 32, slots);
    try {
      await this.options.afterStep?.('read');
      const base = read.partition.version;
      const acceptance = this.accept(inputs, ids, read.partition, await this.featureSetsOf(keys, read.partition.records));
      const work: ComputeState = { features: new Array<FeatureValue[] | undefined>(inputs.length), redelivered: new Set() };
      for (const position of acceptance.accepted) work.features[position] = this.empty.slice();
      if (this.singleNode) {
        const outcomes = await this.updateAndCommit(keys, partition, inputs, acceptance, slots, read, work, base);
        await this.options.afterStep?.('entities');
        return outcomes;
      }
      await this.updateEntities(partition, inputs, acceptance, slots, read, work, base);
      await this.options.afterStep?.('entities');
      const outcomes = this.outcomes(inputs, acceptance, work);
      await this.commitPartition(keys, partition, base, inputs, acceptance, outcomes);
      return outcomes;
    } catch (error) {
      // Cached states may hold this batch's events while its partition is not committed: a retry must read Redis
      // (and its applied records) again.
      for (const unit of units) {
        this.drop(unit.index, unit.value);
      }
      throw error;
    }
  }

  /**
   * Computes every touched entity from its cached or read state and writes it
   * under compare-and-set, slot by slot; a slot where another writer got
   * first is read again and recomputed, the others are done.
   */
  private async updateEntities(
    partition: string,
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    slots: readonly SlotUnits[],
    read: EntityRead,
    work: ComputeState,
    base: number,
  ): Promise<void> {
    const isAccepted = new Uint8Array(inputs.length);
    for (const position of acceptance.accepted) isAccepted[position] = 1;
    let pending = slots;
    for (let attemptNo = 1; ; attemptNo++) {
      const writes = pending.map((slot) => this.compute(inputs, isAccepted, slot, read, work)).filter((w) => w.units.length > 0);
      await this.options.afterStep?.('computed');
      const conflicted = await this.write(writes, base);
      if (conflicted.length === 0) return;
      this.conflicts += conflicted.length;
      if (attemptNo >= MAX_ENTITY_ATTEMPTS) {
        throw new RiskEngineError('REDIS_CONFLICT', `entity state kept changing under ${partition}'s batch (${attemptNo} attempts)`, true);
      }
      if (attemptNo > 2) await sleep(Math.random() * attemptNo);
      // The slots another writer got to first are read again and recomputed; the others are written.
      pending = conflicted;
      read = await this.readEntities(pending, base);
    }
  }

  /**
   * A single node: computes the entities, then writes them and commits the
   * partition in one atomic script; when another writer changed an entity
   * first, nothing is written, and the batch's entities are read again and
   * recomputed.
   */
  private async updateAndCommit(
    keys: ReturnType<RedisFeatureStore['partitionKeys']>,
    partition: string,
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    slots: readonly SlotUnits[],
    read: EntityRead,
    work: ComputeState,
    base: number,
  ): Promise<StateOutcome[]> {
    const isAccepted = new Uint8Array(inputs.length);
    for (const position of acceptance.accepted) isAccepted[position] = 1;
    for (let attemptNo = 1; ; attemptNo++) {
      const writes = slots.map((slot) => this.compute(inputs, isAccepted, slot, read, work, false));
      await this.options.afterStep?.('computed');
      const outcomes = this.outcomes(inputs, acceptance, work);
      const { records, order } = this.records(inputs, acceptance, outcomes);
      const units = writes.flatMap((w) => w.units);
      const groups = Buffer.allocUnsafe(units.length);
      for (let i = 0; i < units.length; i++) groups[i] = units[i].index + 1;
      const expected = writes.length === 1 ? writes[0].expected.take() : Buffer.concat(writes.map((w) => w.expected.take()));
      const pack = writes.length === 1 ? writes[0].pack.take() : Buffer.concat(writes.map((w) => w.pack.take()));
      const answer = await this.writeAndCommit.run(
        [keys.state, keys.dedup, keys.order, keys.lock],
        [
          ...this.commitArgs(base, acceptance, records.length / 2),
          expected,
          groups,
          pack,
          String(this.groupTtls.length),
          ...this.groupTtls,
          ...records,
          ...order,
        ],
      );
      if (answer === 'OK') return outcomes;
      if (!Array.isArray(answer)) throw this.lostPartition(partition, answer);
      this.conflicts++;
      for (const unit of units) this.drop(unit.index, unit.value);
      if (attemptNo >= MAX_ENTITY_ATTEMPTS) {
        throw new RiskEngineError('REDIS_CONFLICT', `entity state kept changing under ${partition}'s batch (${attemptNo} attempts)`, true);
      }
      if (attemptNo > 2) await sleep(Math.random() * attemptNo);
      const again = slots.map((slot) => ({ ...slot, units: slot.units.map((unit) => ({ ...unit, entry: undefined })) }));
      read = await this.readEntities(again, base);
      slots = again;
    }
  }

  /** Entities touched by the batch's events, each with its cached state taken out of the cache. */
  private unitsOf(inputs: readonly StateInput[]): Unit[] {
    const units: Unit[] = [];
    for (let g = 0; g < this.plans.length; g++) {
      const plan = this.plans[g];
      const field = plan.group.entity;
      const byValue = new Map<string, Unit>();
      for (let position = 0; position < inputs.length; position++) {
        const raw = inputs[position].event[field];
        if (raw === undefined) continue;
        const value = typeof raw === 'string' ? raw : String(raw);
        let unit = byValue.get(value);
        if (unit === undefined) {
          unit = { plan, index: g, value, key: plan.keyBefore + value + plan.keyAfter, positions: [], entry: this.caches[g].get(value) };
          byValue.set(value, unit);
          units.push(unit);
        }
        unit.positions.push(position);
      }
    }
    return units;
  }

  /** One round trip: claims the partition and reads its state, and every entity not cached with its slot's applied record. */
  private async read(
    keys: ReturnType<RedisFeatureStore['partitionKeys']>,
    ids: readonly string[],
    headCount: number,
    slots: readonly SlotUnits[],
  ): Promise<{ partition: PartitionRead } & EntityRead> {
    const started = Date.now();
    for (;;) {
      const reads = this.entityReads(slots, true);
      const calls: PipelineCall[] = [
        { script: this.claim, keys: [keys.lock], args: [this.owner, this.claimTimeoutMs] },
        { command: 'hmget', args: [keys.state, 'max', 'ver'] },
        { command: 'hmget', args: [keys.dedup, ...ids] },
        { command: 'lrange', args: [keys.order, 0, headCount - 1] },
        ...reads.calls,
      ];
      const answers = await this.client.pipelined(calls);
      const wait = Number(answers[0]);
      if (wait === 0) {
        const [max, stored] = answers[1] as (string | null)[];
        const version = stored === null ? 0 : Number(stored);
        return {
          partition: {
            max: max === null ? undefined : Number(max),
            version,
            records: answers[2] as (string | null)[],
            head: answers[3] as string[],
          },
          ...entitiesFrom(reads.keys, answers.slice(4) as (Buffer | null)[][], version),
        };
      }
      if (Date.now() - started > MAX_CLAIM_WAIT_MS) {
        throw new DependencyUnavailableError('redis', `partition ${keys.lock} stays claimed by another writer`);
      }
      await sleep(Math.min(wait, 50));
    }
  }

  private async readEntities(slots: readonly SlotUnits[], base: number): Promise<EntityRead> {
    const reads = this.entityReads(slots, false);
    const answers = await this.client.pipelined(reads.calls);
    return entitiesFrom(reads.keys, answers as (Buffer | null)[][], base);
  }

  /** One MGET per slot with entities to read: the applied record, then the entities (not cached ones, if asked). */
  private entityReads(slots: readonly SlotUnits[], skipCached: boolean): { calls: PipelineCall[]; keys: string[][] } {
    const calls: PipelineCall[] = [];
    const keys: string[][] = [];
    for (const { apKey, units } of slots) {
      const wanted = [apKey];
      for (const unit of units) if (!skipCached || unit.entry === undefined) wanted.push(unit.key);
      if (wanted.length === 1) continue;
      keys.push(wanted);
      calls.push({ command: 'mget', args: wanted, buffers: true });
    }
    return { calls, keys };
  }

  /** The batch's entities grouped by slot, each slot with its applied record's key. */
  private slotsOf(units: readonly Unit[], partition: string): SlotUnits[] {
    const cluster = this.client.isCluster;
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
      apKey: cluster ? `${this.prefix}{${slotTag(slot)}}:ap:${partition}` : `${this.prefix}{p:${partition}}:ap`,
      units: list,
    }));
  }

  /** SPEC §2 in batch order, with the same decisions as MemoryFeatureStore. */
  /**
   * The feature names of every feature set that stored one of these records
   * other than the current one (a features file changed since): one more
   * round trip, only then.
   */
  private async featureSetsOf(
    keys: ReturnType<RedisFeatureStore['partitionKeys']>,
    records: readonly (string | null)[],
  ): Promise<Map<string, string[]>> {
    const sets = new Map<string, string[]>();
    const wanted = new Set<string>();
    for (const record of records) {
      if (record === null || record[0] !== 'F') continue;
      const id = recordFeatureSet(record);
      if (id !== undefined && id !== this.featureSetId) wanted.add(id);
    }
    if (wanted.size === 0) return sets;
    const fields = [...wanted];
    const [names] = (await this.client.pipelined([{ command: 'hmget', args: [keys.state, ...fields.map((id) => `fs:${id}`)] }])) as (
      string | null
    )[][];
    fields.forEach((id, i) => sets.set(id, names[i] === null ? [] : names[i].split(',')));
    return sets;
  }

  private accept(
    inputs: readonly StateInput[],
    ids: readonly string[],
    read: PartitionRead,
    featureSets: Map<string, string[]>,
  ): Acceptance {
    const { allowedLatenessMs, dedupRetentionMs } = this.settings;
    // Dedup retention in event time, judged on the oldest remembered event_ids.
    let expire = 0;
    const expired = new Set<string>();
    if (read.max !== undefined) {
      const cutoff = read.max - dedupRetentionMs;
      for (const entry of read.head) {
        const comma = entry.indexOf(',');
        if (Number(entry.slice(0, comma)) > cutoff) break;
        expired.add(entry.slice(comma + 1));
        expire++;
      }
    }
    const known = new Map<string, AcceptedRecord>();
    ids.forEach((id, i) => {
      const record = read.records[i];
      if (record !== null && !expired.has(id)) known.set(id, this.parseRecord(record, featureSets));
    });
    let max = read.max;
    const decisions = new Array<Decision>(inputs.length);
    const accepted: number[] = [];
    const firstOf = new Map<string, number>();
    for (let i = 0; i < inputs.length; i++) {
      const { event, messageId } = inputs[i];
      const t = event.event_time;
      const earlier = firstOf.get(event.event_id);
      if (earlier !== undefined) {
        // Accepted earlier in this batch: its outcome is not known yet, so decide as if it were.
        const first = inputs[earlier];
        const same = messageId !== undefined && first.messageId === messageId;
        decisions[i] = same ? { kind: 'copy', of: earlier } : { kind: 'duplicate' };
        continue;
      }
      const decision = decideAcceptance(known.get(event.event_id), messageId, t, max, allowedLatenessMs);
      if (decision.kind === 'accepted') {
        if (max === undefined || t > max) max = t;
        firstOf.set(event.event_id, i);
        accepted.push(i);
      }
      decisions[i] = decision;
    }
    return { decisions, accepted, expire, max: max === read.max ? undefined : max };
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
  private compute(
    inputs: readonly StateInput[],
    isAccepted: Uint8Array,
    { slot, apKey, units }: SlotUnits,
    { entities, applied }: EntityRead,
    { features, redelivered }: ComputeState,
    withAnswers = true,
  ): SlotWrite {
    const write: SlotWrite = { slot, apKey, units: [], expected: new ByteWriter(), pack: new ByteWriter() };
    const answered: number[] = [];
    for (const unit of units) {
      const { plan } = unit;
      let entity: CachedEntity | undefined;
      let stored = false;
      answered.length = 0;
      for (const position of unit.positions) {
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
      writeHeader(write.expected, entity.version);
      pack.str(unit.key);
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
    return write;
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
    const entity: CachedEntity = { version: decoded.version, state: decoded.state, dropped: false };
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

  /** Forgets a cached state; batches that captured it look the entity up again. */
  private drop(group: number, value: string): void {
    const cache = this.caches[group];
    const entry = cache.get(value);
    if (entry === undefined) return;
    entry.dropped = true;
    cache.delete(value);
  }

  /** Writes every slot, each all or nothing; returns the slots where another writer changed an entity first. */
  private async write(writes: readonly SlotWrite[], base: number): Promise<SlotUnits[]> {
    if (writes.length === 0) return [];
    const header = appliedRecordHeader(base);
    const ttl = String(this.pendingTimeoutMs);
    const answers = await this.client.pipelined(
      writes.map((w): PipelineCall => {
        const groups = Buffer.allocUnsafe(w.units.length);
        for (let i = 0; i < w.units.length; i++) groups[i] = w.units[i].index + 1;
        const expected = w.expected.take();
        return {
          script: this.writeEntities,
          keys: [w.apKey],
          args: [header, ttl, expected, groups, w.pack.take(), ...this.groupTtls],
        };
      }),
    );
    const conflicted: SlotUnits[] = [];
    writes.forEach((w, i) => {
      if ((answers[i] as unknown[]).length === 0) return;
      // The cached states of the slot hold what was not written (and maybe other batches' changes on top): drop them.
      for (const unit of w.units) this.drop(unit.index, unit.value);
      conflicted.push({ slot: w.slot, apKey: w.apKey, units: w.units.map((unit) => ({ ...unit, entry: undefined })) });
    });
    return conflicted;
  }

  private outcomes(inputs: readonly StateInput[], acceptance: Acceptance, { features, redelivered }: ComputeState): StateOutcome[] {
    const outcomes = new Array<StateOutcome>(inputs.length);
    acceptance.decisions.forEach((decision, i) => {
      switch (decision.kind) {
        case 'duplicate':
          outcomes[i] = { kind: 'duplicate' };
          break;
        case 'redelivered':
          outcomes[i] = { kind: 'accepted', late: decision.late, features: decision.features, redelivered: true };
          break;
        case 'copy': {
          const first = outcomes[decision.of] as Extract<StateOutcome, { kind: 'accepted' }>;
          outcomes[i] = { kind: 'accepted', late: first.late, features: first.features, redelivered: true };
          break;
        }
        default:
          outcomes[i] = {
            kind: 'accepted',
            late: decision.late,
            features: this.makeFeatures(features[i]!),
            redelivered: redelivered.has(i),
          };
      }
    });
    return outcomes;
  }

  private async commitPartition(
    keys: ReturnType<RedisFeatureStore['partitionKeys']>,
    partition: string,
    base: number,
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    outcomes: readonly StateOutcome[],
  ): Promise<void> {
    const { records, order } = this.records(inputs, acceptance, outcomes);
    const answer = await this.commit.run(
      [keys.state, keys.dedup, keys.order, keys.lock],
      [...this.commitArgs(base, acceptance, records.length / 2), ...records, ...order],
    );
    if (answer !== 'OK') throw this.lostPartition(partition, answer);
  }

  /** ARGV[1..8] of the commit (see COMMIT_SCRIPT). */
  private commitArgs(base: number, acceptance: Acceptance, records: number): string[] {
    const max = acceptance.max === undefined ? '' : String(acceptance.max);
    return [
      this.owner,
      String(base),
      max,
      String(this.dedupKeyTtlMs),
      String(acceptance.expire),
      String(records),
      `fs:${this.featureSetId}`,
      this.featureNames,
    ];
  }

  /** The accepted events' dedup records (event_id, record pairs) and order entries. */
  private records(
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    outcomes: readonly StateOutcome[],
  ): { records: string[]; order: string[] } {
    const records: string[] = [];
    const order: string[] = [];
    for (const i of acceptance.accepted) {
      const { event, messageId } = inputs[i];
      const outcome = outcomes[i] as Extract<StateOutcome, { kind: 'accepted' }>;
      const time = String(event.event_time);
      const late = outcome.late ? '1' : '0';
      // The first outcome is kept only for messages that can be redelivered.
      records.push(
        event.event_id,
        messageId === undefined
          ? `A${late}${time},`
          : `F${late}${time},${messageId}\u001f${this.featureSetId}\u001f${encodeValues(outcome.features, this.definitions)}`,
      );
      order.push(`${time},${event.event_id}`);
    }
    return { records, order };
  }

  private lostPartition(partition: string, answer: unknown): RiskEngineError {
    return new RiskEngineError(
      'REDIS_PARTITION_LOST',
      `partition ${partition} was ${answer === 'LOST' ? 'claimed by another writer' : 'committed by another writer'} during the batch`,
      true,
    );
  }

  /**
   * A stored record: code, late flag, event_time, ',', messageId, then for
   * final records US, the feature set's id, US and the values in that set's
   * order (records of the Lua layout have no set id: the current order).
   */
  private parseRecord(record: string, featureSets: Map<string, string[]>): AcceptedRecord {
    const late = record[1] === '1';
    const comma = record.indexOf(',', 2);
    const separator = record.indexOf('\u001f', comma + 1);
    if (record[0] !== 'F' || separator < 0) {
      // 'A': no messageId, never redelivered. A 'P' record of the previous layout: accepted, outcome never stored.
      return { messageId: undefined, late, features: undefined };
    }
    const messageId = record.slice(comma + 1, separator);
    const second = record.indexOf('\u001f', separator + 1);
    if (second < 0) return { messageId, late, features: this.decodeValues(record.slice(separator + 1), undefined) };
    const set = record.slice(separator + 1, second);
    const names = set === this.featureSetId ? undefined : (featureSets.get(set) ?? []);
    return { messageId, late, features: this.decodeValues(record.slice(second + 1), names) };
  }

  /**
   * The first outcome's values, in the current definitions: by position when
   * stored under the current feature set, else by name (a feature the stored
   * set did not have is empty).
   */
  private decodeValues(text: string, names: readonly string[] | undefined): FeatureValues {
    const parts = text.split(',');
    const values = this.definitions.map((d, i): FeatureValue => {
      const at = names === undefined ? i : names.indexOf(d.name);
      const part = at < 0 ? undefined : parts[at];
      if (part === undefined || part === '') return this.empty[i];
      return d.aggregate === 'changed' ? part === '1' : Number(part);
    });
    return this.makeFeatures(values);
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

type Decision =
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'redelivered'; readonly late: boolean; readonly features: FeatureValues }
  | { readonly kind: 'accepted'; readonly late: boolean }
  /** A repeat, within the batch, of the message accepted at `of`. */
  | { readonly kind: 'copy'; readonly of: number };

interface Acceptance {
  readonly decisions: Decision[];
  /** Positions of the events accepted now, in order. */
  readonly accepted: number[];
  /** How many of the oldest dedup records expire. */
  readonly expire: number;
  /** The new watermark, when it moved. */
  readonly max: number | undefined;
}

interface EntityRead {
  readonly entities: Map<string, Buffer | null>;
  readonly applied: AppliedRecord;
}

/** What one `apply` carries across its compute attempts. */
interface ComputeState {
  /** By batch position: the accepted events' values in definition order. */
  readonly features: (FeatureValue[] | undefined)[];
  /** Positions whose answers an earlier, interrupted call had written. */
  readonly redelivered: Set<number>;
}

/** An entity's state as last written by this process, with the header that write stored. */
interface CachedEntity {
  /** The version of the last write computed from this state (maybe still on its way), or of the value read. */
  version: number;
  /** Dropped from the cache (a failed write, an error, eviction): batches that captured it look it up again. */
  dropped: boolean;
  readonly state: EntityState;
}

interface SlotUnits {
  readonly slot: number;
  readonly apKey: string;
  readonly units: Unit[];
}

interface SlotWrite {
  readonly slot: number;
  readonly apKey: string;
  readonly units: Unit[];
  /** Per unit: the header (format and version) its key must still hold. */
  readonly expected: ByteWriter;
  /** Per unit: key (u16 length, UTF-8), blob and applied-record entries (u32 length each): one script argument. */
  readonly pack: ByteWriter;
}

function entitiesFrom(keys: readonly string[][], answers: readonly (Buffer | null)[][], base: number): EntityRead {
  const entities = new Map<string, Buffer | null>();
  const applied = new AppliedRecord(base);
  keys.forEach((list, s) => {
    const values = answers[s];
    applied.add(values[0]);
    for (let k = 1; k < list.length; k++) entities.set(list[k], values[k]);
  });
  return { entities, applied };
}

/** The feature set id of a final record, undefined for a record of the Lua layout. */
function recordFeatureSet(record: string): string | undefined {
  const separator = record.indexOf('\u001f');
  const second = separator < 0 ? -1 : record.indexOf('\u001f', separator + 1);
  return second < 0 ? undefined : record.slice(separator + 1, second);
}

/** The first outcome as stored in a dedup record: values in definition order, comma-separated, booleans as 0/1. */
function encodeValues(features: FeatureValues, definitions: readonly FeatureDefinition[]): string {
  let text = '';
  for (let i = 0; i < definitions.length; i++) {
    const value = features[definitions[i].name];
    const part = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    text = i === 0 ? part : `${text},${part}`;
  }
  return text;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

let slotTags: string[] | undefined;

/** A hash tag for each cluster slot (`{<tag>}` keys land on that slot), found once by search. */
function slotTag(slot: number): string {
  if (slotTags === undefined) {
    const tags = new Array<string>(16384);
    let missing = 16384;
    for (let i = 0; missing > 0; i++) {
      const tag = `s${i.toString(36)}`;
      const found = keySlot(tag);
      if (tags[found] === undefined) {
        tags[found] = tag;
        missing--;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot];
}
