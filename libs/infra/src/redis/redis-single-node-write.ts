import { randomBytes } from 'node:crypto';
import type { StateInput, StateOutcome } from '@risk/domain';
import { type CachedEntity, type ComputeState, type EntityRead, type SlotUnits, type Unit } from './redis-entity-states';
import { entityTtlMs, keepTtlWindowMs } from './redis-entity-ttl';
import type { FeatureSetPlan } from './redis-feature-set.plan';
import { entityWriteArgs, isCheckOnly } from './redis-feature.scripts';
import type { Acceptance } from './redis-partition-ledger';
import type { CommandArg } from './redis-command.encoding';
import type { RedisScript } from './redis.client';

/**
 * A cached state is trusted only while its key surely has not expired: its
 * last write's TTL less this margin (at most half the TTL), for a write that
 * reaches Redis late.
 */
const EXPIRY_MARGIN_MS = 300_000;
/** WRITE_AND_COMMIT_SCRIPT's GROUPS argument (0-based position in the call's arguments; ARGV[10] in the script). */
const GROUPS_ARG = 9;

/** A read whose answers hold the state as of `anchor`, the write token this process expected then (see WriteChain.anchor). */
export interface AnchoredRead extends EntityRead {
  readonly anchor?: string;
}

/** One computed write-and-commit call, not yet answered. */
export interface ChainedWrite {
  readonly outcomes: StateOutcome[];
  readonly units: Unit[];
  readonly args: CommandArg[];
  /** Per unit: the state it was computed from. */
  readonly entities: readonly CachedEntity[];
  /** The token this write sets when it gets through without checking every entity. */
  readonly token: string;
}

/**
 * Which entities a single node's write need not check, and why that is
 * exact (issue 12: Redis CPU per event).
 *
 * Every write-and-commit call of every process sets the write token key
 * (WRITE_AND_COMMIT_SCRIPT): to the fresh token its client chose when the
 * key held the token of the client's own previous write, else to that token
 * and '!'. So when a call finds the token it expects, no other writer wrote
 * any entity since this process's previous write: every state this process
 * holds as Redis had it then still is Redis's, and its header need not be
 * read. Otherwise the call checks every entity, as the compare-and-set
 * always did, and a write chained on it (computed before its answer) finds
 * a token it does not expect and checks all its entities too.
 *
 * A state is trusted (not checked when the token holds) when it is valid
 * in the current epoch and its key surely exists:
 * - written or checked by a write of this epoch (the epoch ends at any
 *   answer other than 'OK': another writer may have changed anything), and
 *   for a key last written by this process, the write's TTL not yet near;
 * - or read in this batch by a read that found the token this process
 *   expected when it sent the read, with no write of this process computed
 *   since (so no write of its own ran between the read and this write).
 * A key only read (never written by this process) has an unknown TTL, so
 * after its batch it is checked again until this process writes it.
 * What the token cannot see: a key deleted outside the engine (a DEL by
 * hand, eviction under a maxmemory policy other than noeviction) while this
 * process keeps it cached is written back from the cache instead of being
 * found absent. A restart without persistence, an older snapshot loaded or a
 * FLUSHDB change the token, and everything is checked.
 *
 * The same proof lets a write keep a key's TTL (redis-entity-ttl.ts): a
 * written entity whose key this process itself refreshed in the current
 * epoch, within the keep window, is flagged (KEEP_TTL in its group byte);
 * the script honours the flags only when the token holds (no other writer
 * set any TTL since).
 */
export class WriteChain {
  /** The token Redis holds after this process's last computed write if it gets through unchecked; '' unknown. */
  private expected = '';
  private epoch = 0;
  private last: ChainedWrite | undefined;

  /** `key`: the write token's key (one per key prefix). */
  constructor(readonly key: string) {}

  /** Taken when a read is sent: the read is anchored when it finds this token (see AnchoredRead). */
  anchor(): string {
    return this.expected;
  }

  /**
   * A single node: computes every entity of the batch (events in batch
   * order) and the arguments of the one script that compares-and-sets them
   * and commits the partition.
   */
  compute(
    plan: FeatureSetPlan,
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    slots: readonly SlotUnits[],
    read: AnchoredRead,
    work: ComputeState,
    base: number,
  ): ChainedWrite {
    const isAccepted = new Uint8Array(inputs.length);
    for (const position of acceptance.accepted) isAccepted[position] = 1;
    const writes = slots.map((slot) => plan.entities.compute(inputs, isAccepted, slot, read, work, false));
    const outcomes = plan.ledger.outcomes(inputs, acceptance, work);
    const { records, order, count } = plan.ledger.records(inputs, acceptance, outcomes);
    const units = writes.flatMap((w) => w.units);
    const entities = writes.length === 1 ? writes[0].entities : writes.flatMap((w) => w.entities);
    const trusted = this.trusted(units, entities, read);
    const now = Date.now();
    const keep = new Uint8Array(units.length);
    for (let i = 0; i < units.length; i++) if (trusted[i] === 1 && entities[i].keepTtlUntil > now) keep[i] = 1;
    const expect = this.expected;
    const token = randomBytes(8).toString('base64');
    // Not copied out of the writers: nothing writes to them any more, and the client copies them into its command.
    const expected = writes.length === 1 ? writes[0].expected.view() : Buffer.concat(writes.map((w) => w.expected.view()));
    const args: CommandArg[] = [
      ...plan.ledger.commitArgs(base, acceptance, count),
      expected,
      '',
      expect,
      token,
      String(plan.entities.groupTtls.length),
      ...plan.entities.groupTtls,
    ];
    // Each entity's key and blob go as their own arguments (subarrays of the pack, not copied): see WRITE_AND_COMMIT_SCRIPT.
    // It only appends keys (strings) and blobs (Buffers).
    const groups = entityWriteArgs(writes, args as (string | Buffer)[], trusted, keep).groups;
    args[GROUPS_ARG] = groups;
    args.push(records, order);
    // Optimistic: valid in this epoch once this write gets through; any other answer ends the epoch.
    for (let i = 0; i < units.length; i++) {
      const entity = entities[i];
      if (!isCheckOnly(groups[i])) {
        // A write that keeps the TTL extends neither window: they count from the write that refreshed it.
        if (keep[i] === 0) {
          const retention = units[i].plan.group.retentionMs;
          const ttl = entityTtlMs(retention);
          entity.trustUntil = now + ttl - Math.min(EXPIRY_MARGIN_MS, ttl / 2);
          entity.keepTtlUntil = now + keepTtlWindowMs(retention);
        }
      } else {
        // Trusted again after a check, not a refresh: another writer may have set the TTL since this process did.
        if (entity.trustEpoch !== this.epoch) entity.keepTtlUntil = 0;
        // Only read, in this batch: a key that does not exist cannot expire; an existing one's TTL is unknown.
        if (entity.trustEpoch < 0) entity.trustUntil = read.entities.get(units[i].key) === null ? Infinity : 0;
      }
      entity.trustEpoch = this.epoch;
    }
    const write: ChainedWrite = { outcomes, units, args, entities, token };
    this.expected = token;
    this.last = write;
    return write;
  }

  /** Runs the write's script and answers as it did, 'CHECKED' (every entity checked, all written) as 'OK'. */
  async run(script: RedisScript, keys: readonly string[], write: ChainedWrite): Promise<unknown> {
    let answer: unknown;
    try {
      answer = await script.run(keys, write.args);
    } catch (error) {
      this.broken(write, '');
      throw error;
    }
    if (answer === 'OK') return answer;
    if (answer !== 'CHECKED') {
      this.broken(write, '');
      return answer;
    }
    // Every entity of the write was checked and holds what it wrote: valid in the new epoch. The written ones had their
    // TTL refreshed (a checking call keeps none); another writer may have set the others' since this process did.
    this.broken(write, `${write.token}!`);
    const groups = write.args[GROUPS_ARG] as Buffer;
    for (let i = 0; i < write.entities.length; i++) {
      const entity = write.entities[i];
      entity.trustEpoch = this.epoch;
      if (isCheckOnly(groups[i])) entity.keepTtlUntil = 0;
    }
    return 'OK';
  }

  /** Another writer may have changed anything: a new epoch; the token is known only after the last write sent. */
  private broken(write: ChainedWrite, left: string): void {
    this.epoch++;
    if (this.last === write) this.expected = left;
  }

  /** Per unit, 1 when the entity need not be checked while the token holds (see the class comment). */
  private trusted(units: readonly Unit[], entities: readonly CachedEntity[], read: AnchoredRead): Uint8Array {
    const trusted = new Uint8Array(units.length);
    const anchored = read.anchor !== undefined && read.anchor !== '' && read.anchor === this.expected;
    const now = Date.now();
    for (let i = 0; i < units.length; i++) {
      const entity = entities[i];
      if (entity.trustEpoch < 0) {
        // Decoded in this batch: from this batch's read (not cached when the batch began), or (a cached state dropped
        // meanwhile) from "absent".
        if (anchored && units[i].entry === undefined) trusted[i] = 1;
      } else if (entity.trustEpoch === this.epoch && entity.trustUntil > now) {
        trusted[i] = 1;
      }
    }
    return trusted;
  }
}
