import { randomBytes } from 'node:crypto';
import {
  FeatureStore,
  RiskEngineError,
  type FeatureDefinition,
  type EntityReadOutcome,
  type FeatureValue,
  type FeatureValues,
  type RiskEvent,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { type ComputeState, type EntityRead, type SlotUnits } from './redis-entity-states';
import { CLAIM_SCRIPT, COMMIT_SCRIPT, WRITE_AND_COMMIT_SCRIPT, WRITE_ENTITIES_SCRIPT } from './redis-feature.scripts';
import { commitPartition, writeSlots } from './redis-cluster-write';
import { type Acceptance } from './redis-partition-ledger';
import { previewRedisFeatures, readRedisEntity } from './redis-entity.reads';
import { featureSetsOf, readBatch, readEntities, readOrderHead, type BatchReader, type PartitionKeys } from './redis-batch-read';
import { headExpires, OrderHeads } from './redis-order-head';
import { WriteChain } from './redis-single-node-write';
import { checkStateLayout } from './redis-state-layout';
import { type RedisClient, type RedisScript } from './redis.client';
import { backoffDelay, sleep } from '../retry/retry';
import { entityKeyCode, type RedisFeatureStoreOptions } from './redis-feature-store.options';
import { featureSetPlan, type FeatureSetPlan } from './redis-feature-set.plan';

export { ENTITY_KEY_CODES, entityKeyCode, type RedisFeatureStoreOptions, type StoreStep } from './redis-feature-store.options';

/** `applyAhead`'s answer: the batch's outcomes, handed out before `durable` says its write is done. */
export interface AheadOutcome {
  readonly outcomes: StateOutcome[];
  readonly durable: Promise<void>;
}

/** Attempts at writing entities that other partitions keep changing, before giving up (retriable). */
const MAX_ENTITY_ATTEMPTS = 20;

/**
 * The streaming state layer in Redis. Redis stores the state; the engine
 * computes: acceptance and feature values come from the same domain code as
 * MemoryFeatureStore, so both give exactly the same outcomes for one
 * partition's events, batch after batch.
 *
 * One `apply`, whatever the batch size, first reads in one round trip:
 * claims the partition, reads its watermark, the batch's dedup records and
 * the oldest ones, and every touched entity not cached with its slot's
 * applied record. Then:
 * - on a single node (TWO round trips in all): one atomic script
 *   compares-and-sets every entity the batch changed and commits the
 *   partition, all or nothing. No applied records: there is no moment where
 *   entities hold a batch their partition does not. Another partition having
 *   changed an entity in between makes it write nothing: the store re-reads
 *   and recomputes;
 * - on a cluster (THREE round trips in all; entities live in other slots
 *   than their partition):
 *   2. write entities: per slot, one compare-and-set of every entity the
 *      batch changed (all or none) and the batch's answers in the applied
 *      record; another partition having changed one in between makes the
 *      store re-read and recompute (what was already written is recognised
 *      from the applied record and not applied again);
 *   3. commit: the dedup records with their first outcomes, the watermark,
 *      the version; releases the claim.
 *   A crash between 2 and 3 leaves entities updated and the partition not
 *   committed: the redelivered batch finds its answers in the applied
 *   records (same messageIds), applies nothing twice and returns them.
 * See docs/redis.md for the layout and the crash analysis.
 */
export class RedisFeatureStore extends FeatureStore {
  private readonly claim: RedisScript;
  private readonly writeEntities: RedisScript;
  private readonly commit: RedisScript;
  private readonly writeAndCommit: RedisScript;
  /** A single node: entity writes and commit in one atomic script (no applied records). */
  private readonly singleNode: boolean;
  /** A single node: which entities a write need not check (the write token). */
  private readonly chain: WriteChain;
  private readonly prefix: string;
  private readonly owner = randomBytes(8).toString('hex');
  private readonly pendingTimeoutMs: number;
  private readonly claimTimeoutMs: number;
  /** The feature set computed now: batches capture it when they are queued (see `apply`). */
  private plan: FeatureSetPlan;
  private readonly dedupKeyTtlMs: number;
  /** Batches of one partition must not interleave: each waits for the previous one. */
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly reader: BatchReader;
  /** How much of each partition's order list the next read asks for. */
  private readonly heads: OrderHeads;
  /** `applyAhead`'s writes still on their way (settled either way). */
  private readonly writing = new Set<Promise<void>>();
  /** Entity writes refused because another writer changed an entity first (each one re-read and recomputed). */
  conflicts = 0;

  constructor(
    private readonly client: RedisClient,
    definitions: readonly FeatureDefinition[],
    private readonly settings: StateSettings,
    private readonly options: RedisFeatureStoreOptions,
  ) {
    super();
    this.prefix = options.keyPrefix;
    this.pendingTimeoutMs = options.pendingTimeoutMs ?? 3_600_000;
    this.claimTimeoutMs = options.claimTimeoutMs ?? 10_000;
    // Idle partitions keep their dedup records a little longer than the event-time retention.
    this.dedupKeyTtlMs = Math.max(settings.dedupRetentionMs, this.pendingTimeoutMs) + 3_600_000;
    this.plan = this.planOf(definitions);
    this.heads = new OrderHeads(settings.dedupRetentionMs);
    this.claim = client.defineScript('claim', CLAIM_SCRIPT);
    this.writeEntities = client.defineScript('write_entities', WRITE_ENTITIES_SCRIPT);
    this.commit = client.defineScript('commit', COMMIT_SCRIPT);
    this.writeAndCommit = client.defineScript('write_and_commit', WRITE_AND_COMMIT_SCRIPT);
    this.singleNode = !client.isCluster;
    this.chain = new WriteChain(`${this.prefix}write-token`);
    this.reader = {
      client,
      claim: this.claim,
      owner: this.owner,
      claimTimeoutMs: this.claimTimeoutMs,
      cluster: !this.singleNode,
      chain: this.singleNode ? this.chain : undefined,
    };
  }

  apply(partition: string, inputs: readonly StateInput[], definitions?: readonly FeatureDefinition[]): Promise<StateOutcome[]> {
    return this.enqueue(partition, definitions, (plan) => this.applyNow(plan, partition, inputs));
  }

  /**
   * For a caller that gives up as a whole when any batch fails and never
   * retries one (`replay --state`, whose outputs appear only once the run
   * completes): resolves with the batch's outcomes as soon as they are
   * computed, while its write and commit (on a single node one script) are
   * still on their way, so that the caller evaluates rules while Redis
   * works. `durable` settles when the write is done and rejects when it
   * failed: the outcomes handed out may then not be the sequential ones and
   * the caller must discard them and everything after (an entity another
   * writer changed is not read again and recomputed as `apply` does: the
   * write fails with REDIS_CONFLICT). The partition's next batch does not
   * wait for `durable`: its read goes out at once, behind the write on the
   * same connection, so Redis answers it from the committed batch; if that
   * write failed instead, the next batch was computed from state that is not
   * Redis's and its own write fails the version or header check — the
   * caller, failing on the first `durable` that fails, never keeps it.
   * On a cluster: as `apply`.
   */
  applyAhead(partition: string, inputs: readonly StateInput[]): Promise<AheadOutcome> {
    if (!this.singleNode) return this.apply(partition, inputs).then((outcomes) => ({ outcomes, durable: Promise.resolve() }));
    return new Promise<AheadOutcome>((resolve, reject) => {
      const run = this.enqueue(partition, undefined, async (plan) => {
        const ahead = await this.applyNow(plan, partition, inputs, true);
        const settled = ahead.durable.then(
          () => undefined,
          () => undefined,
        );
        this.writing.add(settled);
        void settled.then(() => this.writing.delete(settled));
        resolve(ahead);
        return ahead.outcomes;
      });
      run.catch(reject);
    });
  }

  private enqueue(
    partition: string,
    definitions: readonly FeatureDefinition[] | undefined,
    applyNow: (plan: FeatureSetPlan) => Promise<StateOutcome[]>,
  ): Promise<StateOutcome[]> {
    // Captured now, in call order: a batch computes the features its caller decided with, even while a batch of
    // another feature set is still running on another partition (entity state is shared through Redis only).
    if (definitions !== undefined && definitions !== this.plan.definitions) this.plan = this.planOf(definitions);
    const plan = this.plan;
    const previous = this.tails.get(partition) ?? Promise.resolve();
    const run = previous.then(
      () => applyNow(plan),
      () => applyNow(plan),
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
    await Promise.all([...this.writing]);
    if (this.options.closeClient === true) await this.client.quit();
  }

  /** Keys of a partition's acceptance state (the hash tag keeps them in one slot). */
  partitionKeys(partition: string): PartitionKeys {
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

  private planOf(definitions: readonly FeatureDefinition[]): FeatureSetPlan {
    const identity = { owner: this.owner, dedupKeyTtlMs: this.dedupKeyTtlMs };
    return featureSetPlan(definitions, this.settings, { ...this.options, cluster: this.client.isCluster }, identity);
  }

  /** The key holding one entity's state, e.g. `risk:{u:alice}:s`. */
  entityKey(entity: string, value: string): string {
    const plan = this.plan.entities.plans.find((p) => p.group.entity === entity);
    return `${plan?.keyBefore ?? `${this.prefix}{${entityKeyCode(entity)}:`}${value}}:s`;
  }

  /** Investigation reads: GETs of entity blobs, nothing written (redis-entity.reads.ts). */
  override readEntity(entity: string, value: string): Promise<EntityReadOutcome> {
    return readRedisEntity(this.client, this.plan.entities.plans, entity, value);
  }

  override preview(event: RiskEvent): Promise<FeatureValues> {
    return previewRedisFeatures(this.client, this.plan.entities.plans, this.plan.definitions, event);
  }

  private applyNow(plan: FeatureSetPlan, partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]>;
  private applyNow(plan: FeatureSetPlan, partition: string, inputs: readonly StateInput[], ahead: true): Promise<AheadOutcome>;
  private async applyNow(
    plan: FeatureSetPlan,
    partition: string,
    inputs: readonly StateInput[],
    ahead = false,
  ): Promise<StateOutcome[] | AheadOutcome> {
    if (inputs.length === 0) return ahead ? { outcomes: [], durable: Promise.resolve() } : [];
    const keys = this.partitionKeys(partition);
    const ids = [...new Set(inputs.map((input) => input.event.event_id))];
    const units = plan.entities.unitsOf(inputs);
    const slots = plan.entities.slotsOf(units, partition);
    // The oldest `batch size + 32` remembered event_ids at most expire in one batch; mostly only the first is read.
    const full = inputs.length + 32;
    const asked = this.heads.wanted(partition, full);
    let read = await readBatch(this.reader, plan, keys, ids, asked, slots);
    try {
      if (asked < full && headExpires(read.partition, this.settings.dedupRetentionMs)) {
        read = { ...read, partition: { ...read.partition, head: await readOrderHead(this.client, keys, full) } };
      }
      await this.options.afterStep?.('read');
      const base = read.partition.version;
      const acceptance = plan.ledger.accept(
        inputs,
        ids,
        read.partition,
        await featureSetsOf(this.client, plan, keys, read.partition.records),
      );
      const firstAccepted = acceptance.accepted.length > 0 ? inputs[acceptance.accepted[0]].event.event_time : undefined;
      this.heads.committed(partition, read.partition, asked, acceptance.expire, acceptance.max ?? read.partition.max, firstAccepted);
      const work: ComputeState = { features: new Array<FeatureValue[] | undefined>(inputs.length), redelivered: new Set() };
      for (const position of acceptance.accepted) work.features[position] = plan.empty.slice();
      if (ahead) {
        const write = this.chain.compute(plan, inputs, acceptance, slots, read, work, base);
        const { outcomes } = write;
        await this.options.afterStep?.('computed');
        const durable = this.chain.run(this.writeAndCommit, this.scriptKeys(keys), write).then(async (answer) => {
          if (answer !== 'OK') throw Array.isArray(answer) ? this.conflictAhead(partition) : this.lostPartition(partition, answer);
          await this.options.afterStep?.('entities');
        });
        // A failed write leaves cached states holding this batch: the batches after must not compute from them.
        durable.catch(() => {
          for (const unit of units) plan.entities.drop(unit.index, unit.value);
          this.heads.forget(partition);
        });
        return { outcomes, durable };
      }
      if (this.singleNode) {
        const outcomes = await this.updateAndCommit(plan, keys, partition, inputs, acceptance, slots, read, work, base);
        await this.options.afterStep?.('entities');
        return outcomes;
      }
      await this.updateEntities(plan, partition, inputs, acceptance, slots, read, work, base);
      await this.options.afterStep?.('entities');
      const outcomes = plan.ledger.outcomes(inputs, acceptance, work);
      const answer = await commitPartition(this.commit, plan, keys, base, inputs, acceptance, outcomes);
      if (answer !== 'OK') throw this.lostPartition(partition, answer);
      return outcomes;
    } catch (error) {
      // Cached states may hold this batch's events while its partition is not committed: a retry must read Redis
      // (and its applied records) again.
      for (const unit of units) plan.entities.drop(unit.index, unit.value);
      this.heads.forget(partition);
      throw error;
    }
  }

  /**
   * Computes every touched entity from its cached or read state and writes it
   * under compare-and-set, slot by slot; a slot where another writer got
   * first is read again and recomputed, the others are done.
   */
  private async updateEntities(
    plan: FeatureSetPlan,
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
      const writes = pending.map((slot) => plan.entities.compute(inputs, isAccepted, slot, read, work)).filter((w) => w.units.length > 0);
      await this.options.afterStep?.('computed');
      const conflicted = await writeSlots(this.client, this.writeEntities, plan, writes, base, this.pendingTimeoutMs);
      if (conflicted.length === 0) return;
      await this.afterConflict(partition, attemptNo, conflicted.length);
      // The slots another writer got to first are read again and recomputed; the others are written.
      pending = conflicted;
      read = await readEntities(this.reader, plan, pending, base);
    }
  }

  /**
   * Counts refused writes, gives up (retriable) after MAX_ENTITY_ATTEMPTS, and
   * from the third attempt on waits a little (the project's backoff), so that
   * writers racing for the same entities drift apart.
   */
  private async afterConflict(partition: string, attemptNo: number, refused: number): Promise<void> {
    this.conflicts += refused;
    if (attemptNo >= MAX_ENTITY_ATTEMPTS) {
      throw new RiskEngineError('REDIS_CONFLICT', `entity state kept changing under ${partition}'s batch (${attemptNo} attempts)`, true);
    }
    if (attemptNo > 2) await sleep(backoffDelay(attemptNo - 2, { initialMs: 1, maxMs: 50, jitter: 1 }));
  }

  /**
   * A single node: computes the entities, then writes them and commits the
   * partition in one atomic script; when another writer changed an entity
   * first, nothing is written, and the batch's entities are read again and
   * recomputed.
   */
  private async updateAndCommit(
    plan: FeatureSetPlan,
    keys: PartitionKeys,
    partition: string,
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    slots: readonly SlotUnits[],
    read: EntityRead,
    work: ComputeState,
    base: number,
  ): Promise<StateOutcome[]> {
    for (let attemptNo = 1; ; attemptNo++) {
      const write = this.chain.compute(plan, inputs, acceptance, slots, read, work, base);
      await this.options.afterStep?.('computed');
      const answer = await this.chain.run(this.writeAndCommit, this.scriptKeys(keys), write);
      if (answer === 'OK') return write.outcomes;
      if (!Array.isArray(answer)) throw this.lostPartition(partition, answer);
      for (const unit of write.units) plan.entities.drop(unit.index, unit.value);
      await this.afterConflict(partition, attemptNo, 1);
      const again = slots.map((slot) => ({ ...slot, units: slot.units.map((unit) => ({ ...unit, entry: undefined })) }));
      read = await readEntities(this.reader, plan, again, base);
      slots = again;
    }
  }

  private scriptKeys(keys: PartitionKeys): string[] {
    return [keys.state, keys.dedup, keys.order, keys.lock, this.chain.key];
  }

  /** `applyAhead` does not recompute: outcomes computed from a state another writer changed are already out. */
  private conflictAhead(partition: string): RiskEngineError {
    this.conflicts++;
    return new RiskEngineError('REDIS_CONFLICT', `entity state changed under ${partition}'s batch by another writer`, false);
  }

  private lostPartition(partition: string, answer: unknown): RiskEngineError {
    return new RiskEngineError(
      'REDIS_PARTITION_LOST',
      `partition ${partition} was ${answer === 'LOST' ? 'claimed by another writer' : 'committed by another writer'} during the batch`,
      true,
    );
  }
}
