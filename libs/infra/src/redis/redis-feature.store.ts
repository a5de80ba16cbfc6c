import {
  DEFAULT_STATE_SETTINGS,
  FeatureStore,
  RiskEngineError,
  emptyFeatureValue,
  type FeatureDefinition,
  type FeatureValues,
  type RiskEvent,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { FIELD_CODES, FINALIZE_SCRIPT, acceptScript, applyScript, buildGroups, type EntityGroup } from './redis-feature.lua';
import { keySlot, type RedisClient, type RedisScript } from './redis.client';

export interface RedisFeatureStoreOptions {
  /** Prefix of every key; default `risk:`. */
  readonly keyPrefix?: string;
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
  readonly keys: string[];
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
export class RedisFeatureStore extends FeatureStore {
  private readonly groups: EntityGroup[];
  private readonly accept: RedisScript;
  private readonly applyEntities: RedisScript;
  private readonly finalize: RedisScript;
  private readonly prefix: string;
  /** Batches of one partition must not interleave: each waits for the previous one. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: RedisClient,
    private readonly definitions: readonly FeatureDefinition[],
    settings: StateSettings = DEFAULT_STATE_SETTINGS,
    private readonly options: RedisFeatureStoreOptions = {},
  ) {
    super();
    const pendingTimeoutMs = options.pendingTimeoutMs ?? 3_600_000;
    this.prefix = options.keyPrefix ?? 'risk:';
    this.groups = buildGroups(definitions, settings, pendingTimeoutMs);
    // Idle partitions keep their dedup records a little longer than the event-time retention.
    const dedupKeyTtlMs = Math.max(settings.dedupRetentionMs, pendingTimeoutMs) + 3_600_000;
    this.accept = client.defineScript('accept', acceptScript(settings, pendingTimeoutMs, dedupKeyTtlMs));
    this.applyEntities = client.defineScript('apply', applyScript(this.groups, settings));
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
  partitionKeys(partition: string): { state: string; dedup: string; order: string; pending: string } {
    const base = `${this.prefix}{p:${partition}}:`;
    return { state: `${base}st`, dedup: `${base}dd`, order: `${base}ord`, pending: `${base}pend` };
  }

  private async applyNow(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    if (inputs.length === 0) return [];
    const keys = this.partitionKeys(partition);

    const acceptArgs: string[] = [];
    for (const { event, messageId } of inputs) acceptArgs.push(event.event_id, messageId ?? '', String(event.event_time));
    const accepted = (await this.accept.run([keys.state, keys.dedup, keys.order, keys.pending], acceptArgs)) as string[];
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
    const finalizeArgs: string[] = [];
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
          const values = features.get(i)!;
          outcomes[i] = { kind: 'accepted', late: d.late, features: values, redelivered: d.code === 'P' };
          // Without a messageId nothing can ever be redelivered: no need to keep the outcome.
          if (inputs[i].messageId !== undefined) finalizeArgs.push(inputs[i].event.event_id, this.encodeValues(values));
        }
      }
    });
    if (finalizeArgs.length > 0) await this.finalize.run([keys.dedup, keys.pending], finalizeArgs);
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

  /** RT2: every entity's accepted events of the batch, grouped by slot so that each script call stays in one slot. */
  private async applyToEntities(
    partition: string,
    token: string,
    inputs: readonly StateInput[],
    positions: readonly number[],
  ): Promise<Map<number, FeatureValues>> {
    const units = new Map<string, Unit>();
    for (const group of this.groups) {
      for (const position of positions) {
        const value = inputs[position].event[group.entity];
        if (value === undefined) continue;
        const tag = `${FIELD_CODES[group.entity]}:${String(value)}`;
        const mapKey = `${group.index}\u0000${tag}`;
        let unit = units.get(mapKey);
        if (unit === undefined) {
          const base = `${this.prefix}{${tag}}:`;
          const keys = group.hasChanged ? [`${base}w`, `${base}c`] : [`${base}w`];
          unit = { group, keys, slot: this.client.isCluster ? keySlot(keys[0]) : 0, positions: [] };
          units.set(mapKey, unit);
        }
        unit.positions.push(position);
      }
    }

    const bySlot = new Map<number, Unit[]>();
    for (const unit of units.values()) {
      const list = bySlot.get(unit.slot);
      if (list === undefined) bySlot.set(unit.slot, [unit]);
      else list.push(unit);
    }
    const groups = [...bySlot.values()];
    const calls = groups.map((slotUnits) => {
      const keys: string[] = [];
      const args: string[] = [partition, token];
      for (const unit of slotUnits) {
        keys.push(...unit.keys);
        args.push(String(unit.group.index), String(unit.positions.length));
        for (const position of unit.positions) {
          const event = inputs[position].event;
          args.push(event.event_id, String(event.event_time), event.event_type);
          for (const field of unit.group.fields) args.push(fieldText(event, field));
        }
      }
      return { script: this.applyEntities, keys, args };
    });
    const answers = await this.client.runScripts(calls);
    const replies = groups.map((slotUnits, i) => ({ slotUnits, values: answers[i] as string[] }));

    const results = new Map<number, FeatureValues>();
    for (const position of positions) results.set(position, this.emptyValues());
    for (const { slotUnits, values } of replies) {
      let at = 0;
      for (const unit of slotUnits) {
        for (const position of unit.positions) {
          const parts = values[at++].split(',');
          const target = results.get(position)! as Record<string, number | boolean>;
          unit.group.features.forEach(({ definition }, j) => {
            target[definition.name] = definition.aggregate === 'changed' ? parts[j] === '1' : Number(parts[j]);
          });
        }
      }
    }
    return results;
  }

  private emptyValues(): FeatureValues {
    const values: Record<string, number | boolean> = {};
    for (const definition of this.definitions) values[definition.name] = emptyFeatureValue(definition);
    return values;
  }

  private encodeValues(values: FeatureValues): string {
    return this.definitions
      .map((d) => (typeof values[d.name] === 'boolean' ? (values[d.name] ? '1' : '0') : String(values[d.name])))
      .join(',');
  }

  private decodeValues(text: string): FeatureValues {
    const parts = text.split(',');
    const values: Record<string, number | boolean> = {};
    this.definitions.forEach((d, i) => {
      const part = parts[i];
      // Stored under other definitions (a features file changed in between): what is missing is empty.
      if (part === undefined || part === '') values[d.name] = emptyFeatureValue(d);
      else values[d.name] = d.aggregate === 'changed' ? part === '1' : Number(part);
    });
    return values;
  }
}

function fieldText(event: RiskEvent, field: keyof RiskEvent): string {
  const value = event[field];
  return value === undefined ? '' : String(value);
}
