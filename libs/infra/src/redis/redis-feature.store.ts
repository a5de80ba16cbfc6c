import { randomBytes } from 'node:crypto';
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
  type EventField,
  type FeatureDefinition,
  type FeatureValue,
  type FeatureValues,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { AppliedRecord, appliedRecordHeader } from './redis-applied-record';
import { EntityCodec, HEADER_BYTES, type DecodedEntity } from './redis-entity.codec';
import { CLAIM_SCRIPT, COMMIT_SCRIPT, WRITE_ENTITIES_SCRIPT } from './redis-feature.scripts';
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
  readonly key: string;
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
  private readonly prefix: string;
  private readonly empty: FeatureValue[];
  private readonly makeFeatures: (values: readonly FeatureValue[]) => FeatureValues;
  private readonly owner = randomBytes(8).toString('hex');
  private readonly pendingTimeoutMs: number;
  private readonly claimTimeoutMs: number;
  private readonly dedupKeyTtlMs: number;
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
    this.empty = definitions.map((definition) => emptyFeatureValue(definition));
    this.makeFeatures = featureValuesFactory(definitions);
    this.claim = client.defineScript('claim', CLAIM_SCRIPT);
    this.writeEntities = client.defineScript('write_entities', WRITE_ENTITIES_SCRIPT);
    this.commit = client.defineScript('commit', COMMIT_SCRIPT);
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

  /** The key holding one entity's state, e.g. `risk:{u:alice}:s`. */
  entityKey(entity: EventField, value: string): string {
    const plan = this.plans.find((p) => p.group.entity === entity);
    return `${plan?.keyBefore ?? `${this.prefix}{${ENTITY_KEY_CODES[entity]}:`}${value}}:s`;
  }

  private async applyNow(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    if (inputs.length === 0) return [];
    const keys = this.partitionKeys(partition);
    const ids = [...new Set(inputs.map((input) => input.event.event_id))];
    const headCount = inputs.length + 32;
    // Identity of this call's events without a messageId in the applied records (they cannot be redelivered).
    const attempt = `~${randomBytes(6).toString('hex')}`;

    const units = this.unitsOf(inputs);
    let read = await this.read(keys, partition, ids, headCount, units);
    await this.options.afterStep?.('read');
    const partitionState = read.partition;
    const base = partitionState.version;
    const acceptance = this.accept(inputs, ids, partitionState);

    // Entities: computed from what was read, written under compare-and-set; on a conflict, read again.
    const features = new Array<FeatureValue[] | undefined>(inputs.length);
    const work: ComputeState = { attempt, features, writtenNow: new Set(), redelivered: new Set() };
    for (let attemptNo = 1; ; attemptNo++) {
      const writes = this.compute(inputs, acceptance.accepted, this.slotsOf(units, partition), read, work);
      await this.options.afterStep?.('computed');
      const conflicted = await this.write(writes, base);
      if (conflicted === 0) break;
      this.conflicts += conflicted;
      if (attemptNo >= MAX_ENTITY_ATTEMPTS) {
        throw new RiskEngineError('REDIS_CONFLICT', `entity state kept changing under ${partition}'s batch (${attemptNo} attempts)`, true);
      }
      if (attemptNo > 2) await sleep(Math.random() * attemptNo);
      read = { partition: partitionState, ...(await this.readEntities(units, partition)) };
    }
    await this.options.afterStep?.('entities');

    const outcomes = this.outcomes(inputs, acceptance, work);
    await this.commitPartition(keys, partition, base, inputs, acceptance, outcomes);
    return outcomes;
  }

  /** Entities touched by accepted-or-not events, grouped: reading a few extra keys costs less than a round trip. */
  private unitsOf(inputs: readonly StateInput[]): Map<string, Unit> {
    const units = new Map<string, Unit>();
    for (let g = 0; g < this.plans.length; g++) {
      const plan = this.plans[g];
      const field = plan.group.entity;
      for (let position = 0; position < inputs.length; position++) {
        const value = inputs[position].event[field];
        if (value === undefined) continue;
        const key = plan.keyBefore + String(value) + plan.keyAfter;
        let unit = units.get(key);
        if (unit === undefined) units.set(key, (unit = { plan, index: g, key, positions: [] }));
        unit.positions.push(position);
      }
    }
    return units;
  }

  private async read(
    keys: ReturnType<RedisFeatureStore['partitionKeys']>,
    partition: string,
    ids: readonly string[],
    headCount: number,
    units: Map<string, Unit>,
  ): Promise<{ partition: PartitionRead } & EntityRead> {
    const started = Date.now();
    const slots = this.slotsOf(units, partition);
    for (;;) {
      const calls: PipelineCall[] = [
        { script: this.claim, keys: [keys.lock], args: [this.owner, this.claimTimeoutMs] },
        { command: 'hmget', args: [keys.state, 'max', 'ver'] },
        { command: 'hmget', args: [keys.dedup, ...ids] },
        { command: 'lrange', args: [keys.order, 0, headCount - 1] },
        ...slots.map(({ apKey, units: list }): PipelineCall => ({
          command: 'mget',
          args: [apKey, ...list.map((u) => u.key)],
          buffers: true,
        })),
      ];
      const answers = await this.client.pipelined(calls);
      const wait = Number(answers[0]);
      if (wait === 0) {
        const [max, version] = answers[1] as (string | null)[];
        return {
          partition: {
            max: max === null ? undefined : Number(max),
            version: version === null ? 0 : Number(version),
            records: answers[2] as (string | null)[],
            head: answers[3] as string[],
          },
          ...this.entitiesFrom(slots, answers.slice(4) as (Buffer | null)[][]),
        };
      }
      if (Date.now() - started > MAX_CLAIM_WAIT_MS) {
        throw new DependencyUnavailableError('redis', `partition ${keys.lock} stays claimed by another writer`);
      }
      await sleep(Math.min(wait, 50));
    }
  }

  private async readEntities(units: Map<string, Unit>, partition: string): Promise<EntityRead> {
    const slots = this.slotsOf(units, partition);
    const answers = await this.client.pipelined(
      slots.map(({ apKey, units: list }): PipelineCall => ({ command: 'mget', args: [apKey, ...list.map((u) => u.key)], buffers: true })),
    );
    return this.entitiesFrom(slots, answers as (Buffer | null)[][]);
  }

  private entitiesFrom(slots: readonly SlotUnits[], answers: readonly (Buffer | null)[][]): EntityRead {
    const entities = new Map<string, Buffer | null>();
    const applied = new AppliedRecord();
    slots.forEach(({ units }, s) => {
      const values = answers[s];
      applied.add(values[0]);
      units.forEach((unit, u) => entities.set(unit.key, values[u + 1]));
    });
    return { entities, applied };
  }

  /** The batch's entities grouped by slot, each slot with its applied record's key. */
  private slotsOf(units: Map<string, Unit>, partition: string): SlotUnits[] {
    const cluster = this.client.isCluster;
    const bySlot = new Map<number, Unit[]>();
    for (const unit of units.values()) {
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
  private accept(inputs: readonly StateInput[], ids: readonly string[], read: PartitionRead): Acceptance {
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
      if (record !== null && !expired.has(id)) known.set(id, this.parseRecord(record));
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
   * Applies the accepted events to their entities (decoded from what was
   * read) and returns the slot writes. Events found in an applied record were
   * already applied by an earlier attempt: their answer is reused.
   */
  private compute(
    inputs: readonly StateInput[],
    accepted: readonly number[],
    slots: readonly SlotUnits[],
    { entities, applied }: EntityRead,
    { attempt, features, writtenNow, redelivered }: ComputeState,
  ): SlotWrite[] {
    const isAccepted = new Uint8Array(inputs.length);
    for (const position of accepted) {
      isAccepted[position] = 1;
      features[position] = this.empty.slice();
    }
    const writes = new Map<string, SlotWrite>();
    for (const { apKey, units: list } of slots) {
      for (const unit of list) {
        const { plan } = unit;
        let decoded: DecodedEntity | undefined;
        let changed = false;
        for (const position of unit.positions) {
          if (isAccepted[position] === 0) continue;
          const { event, messageId } = inputs[position];
          const identity = messageId ?? attempt;
          const entryKey = `${unit.index}:${event.event_id}`;
          const values = features[position]!;
          const answer = applied.answer(entryKey, identity);
          if (answer !== undefined) {
            this.readAnswer(plan, answer, values);
            // Applied before this call (a crash after the entity writes): this message's first outcome.
            if (messageId !== undefined && !writtenNow.has(entryKey)) redelivered.add(position);
            continue;
          }
          decoded ??= plan.codec.decode(entities.get(unit.key) ?? null, event.event_time);
          applyEventToEntity(plan.group, decoded.state, event, values);
          changed = true;
          let write = writes.get(apKey);
          if (write === undefined)
            writes.set(apKey, (write = { apKey, keys: [], headers: [], blobs: [], ttls: [], segment: applied.segment() }));
          write.segment.add(entryKey, identity, this.answerOf(plan, values));
          writtenNow.add(entryKey);
        }
        if (changed && decoded !== undefined) {
          const write = writes.get(apKey)!;
          write.keys.push(unit.key);
          write.headers.push(decoded.header);
          write.blobs.push(plan.codec.encode(decoded.state, decoded.nextVersion));
          write.ttls.push(plan.ttl);
        }
      }
    }
    return [...writes.values()];
  }

  /** Writes every slot; returns how many slots met a conflict (nothing written there). */
  private async write(writes: readonly SlotWrite[], base: number): Promise<number> {
    if (writes.length === 0) return 0;
    const header = appliedRecordHeader(base);
    const ttl = String(this.pendingTimeoutMs);
    const answers = await this.client.pipelined(
      writes.map((w): PipelineCall => {
        const args: (string | Buffer)[] = [header, w.segment.take(), ttl, Buffer.concat(w.headers, w.headers.length * HEADER_BYTES)];
        for (let i = 0; i < w.keys.length; i++) args.push(w.blobs[i], w.ttls[i]);
        return { script: this.writeEntities, keys: [w.apKey, ...w.keys], args };
      }),
    );
    return answers.filter((a) => Number(a) !== 0).length;
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
          : `F${late}${time},${messageId}\u001f${encodeValues(outcome.features, this.definitions)}`,
      );
      order.push(`${time},${event.event_id}`);
    }
    const max = acceptance.max === undefined ? '' : String(acceptance.max);
    const answer = await this.commit.run(
      [keys.state, keys.dedup, keys.order, keys.lock],
      [
        this.owner,
        String(base),
        max,
        String(this.dedupKeyTtlMs),
        String(acceptance.expire),
        String(records.length / 2),
        ...records,
        ...order,
      ],
    );
    if (answer !== 'OK') {
      throw new RiskEngineError(
        'REDIS_PARTITION_LOST',
        `partition ${partition} was ${answer === 'LOST' ? 'claimed by another writer' : 'committed by another writer'} during the batch`,
        true,
      );
    }
  }

  /** A stored record: code, late flag, event_time, ',', messageId, then (final records) US and the values. */
  private parseRecord(record: string): AcceptedRecord {
    const late = record[1] === '1';
    const comma = record.indexOf(',', 2);
    const separator = record.indexOf('\u001f', comma + 1);
    if (record[0] !== 'F' || separator < 0) {
      // 'A': no messageId, never redelivered. A 'P' record of the previous layout: accepted, outcome never stored.
      return { messageId: undefined, late, features: undefined };
    }
    return { messageId: record.slice(comma + 1, separator), late, features: this.decodeValues(record.slice(separator + 1)) };
  }

  private decodeValues(text: string): FeatureValues {
    const parts = text.split(',');
    // Stored under other definitions (a features file changed in between): what is missing is empty.
    const values = this.definitions.map((d, i): FeatureValue => {
      const part = parts[i];
      if (part === undefined || part === '') return this.empty[i];
      return d.aggregate === 'changed' ? part === '1' : Number(part);
    });
    return this.makeFeatures(values);
  }

  private answerOf(plan: GroupPlan, values: readonly FeatureValue[]): string {
    let text = '';
    for (let i = 0; i < plan.outputs.length; i++) {
      const value = values[plan.outputs[i]];
      const part = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
      text = i === 0 ? part : `${text},${part}`;
    }
    return text;
  }

  private readAnswer(plan: GroupPlan, answer: string, values: FeatureValue[]): void {
    const parts = answer.split(',');
    for (let i = 0; i < plan.outputs.length; i++) {
      const output = plan.outputs[i];
      values[output] = this.definitions[output].aggregate === 'changed' ? parts[i] === '1' : Number(parts[i]);
    }
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
  /** Identity of the call's events without a messageId in the applied records. */
  readonly attempt: string;
  /** By batch position: the accepted events' values in definition order. */
  readonly features: (FeatureValue[] | undefined)[];
  /** Applied-record entries this call wrote (a conflict retry finds them; they are not redeliveries). */
  readonly writtenNow: Set<string>;
  /** Positions whose answers an earlier, interrupted call had written. */
  readonly redelivered: Set<number>;
}

interface SlotUnits {
  readonly slot: number;
  readonly apKey: string;
  readonly units: Unit[];
}

interface SlotWrite {
  readonly apKey: string;
  readonly keys: string[];
  readonly headers: Buffer[];
  readonly blobs: Buffer[];
  readonly ttls: string[];
  readonly segment: ReturnType<AppliedRecord['segment']>;
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
