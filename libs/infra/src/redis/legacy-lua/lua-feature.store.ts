/**
 * The previous Redis feature store, whose feature semantics ran in generated Lua.
 * Kept only while the new TypeScript-computed store is measured against it
 * (issue 12); not wired anywhere. To be deleted.
 */
import {
  FeatureStore,
  RiskEngineError,
  emptyFeatureValue,
  featureValuesFactory,
  type FeatureDefinition,
  type FeatureValue,
  type FeatureValues,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { FIELD_CODES, FINALIZE_SCRIPT, acceptScript, applyScript, buildGroups, type EntityGroup } from './lua-feature.lua';
import { Packer } from '../redis-packer';
import { keySlot, type RedisClient, type RedisScript } from '../redis.client';

export interface LuaFeatureStoreOptions {
  /** Prefix of every key (REDIS_KEY_PREFIX). */
  readonly keyPrefix: string;
  /**
   * How long (wall clock) the state needed to finish a batch interrupted by a
   * crash is kept: a batch redelivered later than this may be counted twice
   * at the entities it had already reached. Default 1 h.
   */
  readonly pendingTimeoutMs?: number;
  /** Whether `close()` also closes the client. Default false: the client is usually shared. */
  readonly closeClient?: boolean;
  /** Tests only: called between the steps of `apply`; throwing simulates a crash there. */
  readonly afterStep?: (step: 'accept' | 'apply') => void;
}

interface Unit {
  readonly group: EntityGroup;
  readonly key: string;
  readonly slot: number;
  /** Batch positions of the unit's events, in arrival order. */
  readonly positions: number[];
}

type Decision =
  | { readonly code: 'D' }
  | { readonly code: 'A' | 'P'; readonly late: boolean }
  | { readonly code: 'R'; readonly late: boolean; readonly values: string }
  /** A repeat, within the batch, of the message at `of`. */
  | { readonly code: 'C'; readonly of: number };

/**
 * The streaming state layer in Redis, giving exactly MemoryFeatureStore's
 * outcomes for events of one partition processed one by one.
 *
 * One `apply` costs three round trips whatever the batch size:
 * 1. accept: one script on the partition's slot decides duplicate /
 *    redelivered / accepted and the late flag for the whole batch in order
 *    (dedup + watermark are per source partition);
 * 2. apply: one script per entity slot (one call for everything on a single
 *    node) applies each entity's accepted events in order and returns their
 *    feature values, idempotently per batch token;
 * 3. finalize: one script on the partition's slot stores each first outcome
 *    in its dedup record, for redelivery.
 * See docs/redis.md for the key layout and the crash analysis.
 */
export class LuaFeatureStore extends FeatureStore {
  private readonly groups: EntityGroup[];
  private readonly accept: RedisScript;
  private readonly applyEntities: RedisScript;
  private readonly finalize: RedisScript;
  private readonly prefix: string;
  /** Per group (by index - 1): the entity key around the entity value. */
  private readonly keyParts: { readonly before: string; readonly after: string }[];
  private readonly empty: FeatureValue[];
  private readonly makeFeatures: (values: readonly FeatureValue[]) => FeatureValues;
  /** Scratch for the packed arguments; each is packed and taken without an await in between. */
  private readonly packer = new Packer();
  /** Batches of one partition must not interleave: each waits for the previous one. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: RedisClient,
    private readonly definitions: readonly FeatureDefinition[],
    settings: StateSettings,
    private readonly options: LuaFeatureStoreOptions,
  ) {
    super();
    const pendingTimeoutMs = options.pendingTimeoutMs ?? 3_600_000;
    this.prefix = options.keyPrefix;
    this.groups = buildGroups(definitions, settings);
    this.keyParts = this.groups.map((group) => ({ before: `${this.prefix}{${FIELD_CODES[group.entity]}:`, after: `}:e${group.layout}` }));
    this.empty = definitions.map((definition) => emptyFeatureValue(definition));
    this.makeFeatures = featureValuesFactory(definitions);
    // Idle partitions keep their dedup records a little longer than the event-time retention.
    const dedupKeyTtlMs = Math.max(settings.dedupRetentionMs, pendingTimeoutMs) + 3_600_000;
    this.accept = client.defineScript('accept', acceptScript(settings, pendingTimeoutMs, dedupKeyTtlMs));
    this.applyEntities = client.defineScript('apply', applyScript(this.groups, settings, pendingTimeoutMs));
    this.finalize = client.defineScript('finalize', FINALIZE_SCRIPT);
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
  partitionKeys(partition: string): { state: string; dedup: string; order: string } {
    const base = `${this.prefix}{p:${partition}}:`;
    return { state: `${base}st`, dedup: `${base}dd`, order: `${base}ord` };
  }

  private async applyNow(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    if (inputs.length === 0) return [];
    const keys = this.partitionKeys(partition);
    const pack = this.packer;

    // event_time as text once: the accept script keeps it in the dedup record, finalize rewrites that record.
    const times = new Array<string>(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const { event, messageId } = inputs[i];
      const time = String(event.event_time);
      times[i] = time;
      pack.str16(event.event_id);
      pack.str16(messageId ?? '');
      pack.str16(time);
    }
    const accepted = String(await this.accept.run([keys.state, keys.dedup, keys.order], [pack.take()])).split('\n');
    this.options.afterStep?.('accept');
    const token = accepted[0];
    const decisions = this.decide(inputs, accepted);

    const toApply: number[] = [];
    decisions.forEach((d, i) => {
      if (d.code === 'A' || d.code === 'P') toApply.push(i);
    });
    const features = await this.applyToEntities(partition, token, inputs, toApply);
    this.options.afterStep?.('apply');

    const outcomes = new Array<StateOutcome>(inputs.length);
    // Events leaving pending: those the accept step counted (with a non-empty messageId).
    let leaving = 0;
    let records = 0;
    decisions.forEach((d, i) => {
      switch (d.code) {
        case 'D':
          outcomes[i] = { kind: 'duplicate' };
          break;
        case 'R':
          outcomes[i] = { kind: 'accepted', late: d.late, features: this.decodeValues(d.values), redelivered: true };
          break;
        case 'C': {
          const first = outcomes[d.of] as Extract<StateOutcome, { kind: 'accepted' }>;
          outcomes[i] = { kind: 'accepted', late: first.late, features: first.features, redelivered: true };
          break;
        }
        default: {
          const values = features[i];
          outcomes[i] = { kind: 'accepted', late: d.late, features: this.makeFeatures(values), redelivered: d.code === 'P' };
          // Without a messageId nothing can ever be redelivered: no need to keep the outcome.
          const { event, messageId } = inputs[i];
          if (messageId !== undefined) {
            if (messageId !== '') leaving++;
            records++;
            // The accept script's record with 'F' for 'P' and the outcome appended (see FINALIZE_SCRIPT).
            pack.str16(event.event_id);
            pack.str32(`F${d.late ? '1' : '0'}${times[i]},${messageId}\u001f${encodeValues(values)}`);
          }
        }
      }
    });
    const finalRecords = pack.take();
    if (records > 0) await this.finalize.run([keys.dedup, keys.state], [String(leaving), finalRecords]);
    return outcomes;
  }

  private decide(inputs: readonly StateInput[], replies: readonly string[]): Decision[] {
    if (replies.length !== inputs.length + 1) {
      throw new RiskEngineError('REDIS_PROTOCOL', `accept script answered ${replies.length - 1} codes for ${inputs.length} events`, false);
    }
    const firstInBatch = new Map<string, number>();
    return inputs.map(({ event, messageId }, i) => {
      const reply = replies[i + 1];
      const code = reply[0];
      if (code === 'D') return { code: 'D' };
      const late = reply[1] === '1';
      if (code === 'R') return { code: 'R', late, values: reply.slice(2) };
      // A second copy of a message accepted earlier in this same batch: the first copy's outcome, once.
      const seen = firstInBatch.get(event.event_id);
      if (code === 'P' && seen !== undefined && messageId !== undefined) return { code: 'C', of: seen };
      if (code !== 'A' && code !== 'P') throw new RiskEngineError('REDIS_PROTOCOL', `unexpected accept code ${reply}`, false);
      firstInBatch.set(event.event_id, i);
      return { code, late };
    });
  }

  /**
   * RT2: every entity's accepted events of the batch, grouped by slot so that each script call stays in one slot.
   * Returns, by batch position, the feature values in definition order (only for `positions`).
   */
  private async applyToEntities(
    partition: string,
    token: string,
    inputs: readonly StateInput[],
    positions: readonly number[],
  ): Promise<FeatureValue[][]> {
    const results = new Array<FeatureValue[]>(inputs.length);
    for (const position of positions) results[position] = this.empty.slice();
    const units = new Map<string, Unit>();
    const cluster = this.client.isCluster;
    for (const group of this.groups) {
      const { before, after } = this.keyParts[group.index - 1];
      for (const position of positions) {
        const value = inputs[position].event[group.entity];
        if (value === undefined) continue;
        const key = before + String(value) + after;
        let unit = units.get(key);
        if (unit === undefined) {
          unit = { group, key, slot: cluster ? keySlot(key) : 0, positions: [] };
          units.set(key, unit);
        }
        unit.positions.push(position);
      }
    }
    if (units.size === 0) return results;

    const bySlot = new Map<number, Unit[]>();
    for (const unit of units.values()) {
      const list = bySlot.get(unit.slot);
      if (list === undefined) bySlot.set(unit.slot, [unit]);
      else list.push(unit);
    }
    const groups = [...bySlot.entries()];
    const pack = this.packer;
    const calls = groups.map(([slot, slotUnits]) => {
      // The applied record lives in the call's own slot, so that a retried batch finds it whatever the grouping.
      const keys: string[] = [cluster ? `${this.prefix}{${slotTag(slot)}}:ap:${partition}` : `${this.prefix}{p:${partition}}:ap`];
      let eventKeys = '';
      for (const unit of slotUnits) {
        keys.push(unit.key);
        const group = unit.group;
        pack.u8(group.index);
        pack.u16(unit.positions.length);
        const fields = group.fields;
        const tag = `${group.index}:`;
        for (const position of unit.positions) {
          const event = inputs[position].event;
          const eventKey = tag + event.event_id;
          eventKeys += `${Buffer.byteLength(eventKey)}\t${eventKey}`;
          pack.f64(event.event_time);
          if (group.typed) pack.str16(event.event_type);
          for (let f = 0; f < fields.length; f++) {
            const value = event[fields[f]];
            pack.str16(value === undefined ? '' : String(value));
          }
        }
      }
      return { script: this.applyEntities, keys, args: [token, eventKeys, pack.take()] };
    });
    const answers = await this.client.runScripts(calls);

    for (let c = 0; c < groups.length; c++) {
      const lines = String(answers[c]).split('\n');
      let at = 0;
      for (const unit of groups[c][1]) {
        const features = unit.group.features;
        for (const position of unit.positions) {
          const line = lines[at++];
          if (line === undefined) throw new RiskEngineError('REDIS_PROTOCOL', 'apply script answered too few values', false);
          const parts = line.split(',');
          const target = results[position];
          for (let j = 0; j < features.length; j++) {
            const { definition, position: output } = features[j];
            target[output] = definition.aggregate === 'changed' ? parts[j] === '1' : Number(parts[j]);
          }
        }
      }
    }
    return results;
  }

  private decodeValues(text: string): FeatureValues {
    const parts = text.split(',');
    // Stored under other definitions (a features file changed in between): what is missing is empty.
    const values = this.definitions.map((d, i): FeatureValue => {
      const part = parts[i];
      if (part === undefined || part === '') return this.empty[i];
      return d.aggregate === 'changed' ? part === '1' : Number(part);
    });
    // Same hidden class as freshly computed outcomes (see featureValuesFactory).
    return this.makeFeatures(values);
  }
}

/** The stored first outcome: values in definition order, comma-separated, booleans as 0/1. */
function encodeValues(values: readonly FeatureValue[]): string {
  let text = '';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    const part = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    text = i === 0 ? part : `${text},${part}`;
  }
  return text;
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
