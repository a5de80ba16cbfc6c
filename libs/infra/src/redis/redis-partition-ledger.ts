import { createHash } from 'node:crypto';
import {
  decideAcceptance,
  type AcceptedRecord,
  type FeatureDefinition,
  type FeatureValue,
  type FeatureValues,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { RespWriter, type RespArgs } from './redis-command.encoding';

/** What the read step found of a partition: watermark, version, the batch's dedup records, the oldest order entries. */
export interface PartitionRead {
  readonly max: number | undefined;
  readonly version: number;
  readonly records: (string | null)[];
  readonly head: string[];
}

/** The read step's answers: HMGET of the state's max and ver, HMGET of the batch's dedup records, LRANGE of the order head. */
export function partitionReadFrom(state: readonly (string | null)[], records: (string | null)[], head: string[]): PartitionRead {
  const [max, stored] = state;
  return { max: max === null ? undefined : Number(max), version: stored === null ? 0 : Number(stored), records, head };
}

export type Decision =
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'redelivered'; readonly late: boolean; readonly features: FeatureValues }
  | { readonly kind: 'accepted'; readonly late: boolean }
  /** A repeat, within the batch, of the message accepted at `of`. */
  | { readonly kind: 'copy'; readonly of: number };

export interface Acceptance {
  readonly decisions: Decision[];
  /** Positions of the events accepted now, in order. */
  readonly accepted: number[];
  /** How many of the oldest dedup records expire. */
  readonly expire: number;
  /** The new watermark, when it moved. */
  readonly max: number | undefined;
}

/** Who commits, and how long an idle partition's dedup keys live: the parts of the commit that are not the batch's. */
export interface CommitIdentity {
  readonly owner: string;
  readonly dedupKeyTtlMs: number;
}

/**
 * A partition's acceptance bookkeeping over its Redis records: which events
 * of a batch are accepted (SPEC §2), the first outcomes kept in dedup
 * records, and the commit's arguments. Pure: the store does the I/O.
 */
export class PartitionLedger {
  /** Fingerprint of the feature names in order: dedup records name the set their values follow. */
  readonly featureSetId: string;
  readonly featureNames: string;

  constructor(
    private readonly definitions: readonly FeatureDefinition[],
    private readonly settings: StateSettings,
    private readonly makeFeatures: (values: readonly FeatureValue[]) => FeatureValues,
    private readonly empty: readonly FeatureValue[],
    private readonly identity: CommitIdentity,
  ) {
    this.featureNames = definitions.map((d) => d.name).join(',');
    this.featureSetId = createHash('sha1').update(this.featureNames).digest('hex').slice(0, 8);
  }

  /** The ids of the feature sets, other than the current one, whose names are needed to read these records. */
  otherFeatureSets(records: readonly (string | null)[]): string[] {
    const wanted = new Set<string>();
    for (const record of records) {
      if (record === null || record[0] !== 'F') continue;
      const id = recordFeatureSet(record);
      if (id !== undefined && id !== this.featureSetId) wanted.add(id);
    }
    return [...wanted];
  }

  /** SPEC §2 in batch order, with the same decisions as MemoryFeatureStore. */
  accept(inputs: readonly StateInput[], ids: readonly string[], read: PartitionRead, featureSets: Map<string, string[]>): Acceptance {
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
   * The batch's outcomes: accepted events from their computed values (by
   * batch position, in definition order), redelivered ones from their record.
   */
  outcomes(
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    { features, redelivered }: { readonly features: readonly (FeatureValue[] | undefined)[]; readonly redelivered: ReadonlySet<number> },
  ): StateOutcome[] {
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

  /** ARGV[1..8] of the commit (see COMMIT_SCRIPT). */
  commitArgs(base: number, acceptance: Acceptance, records: number): string[] {
    const max = acceptance.max === undefined ? '' : String(acceptance.max);
    return [
      this.identity.owner,
      String(base),
      max,
      String(this.identity.dedupKeyTtlMs),
      String(acceptance.expire),
      String(records),
      `fs:${this.featureSetId}`,
      this.featureNames,
    ];
  }

  /**
   * The accepted events' dedup records (event_id, record pairs) and order
   * entries, as script arguments (`count` records). Both are written as RESP
   * straight from the event's id and time (no string per part).
   */
  records(
    inputs: readonly StateInput[],
    acceptance: Acceptance,
    outcomes: readonly StateOutcome[],
  ): { records: RespArgs; order: RespArgs; count: number } {
    const accepted = acceptance.accepted;
    const records = new RespWriter(64 + 48 * accepted.length);
    const order = new RespWriter(64 + 40 * accepted.length);
    for (const i of accepted) {
      const { event, messageId } = inputs[i];
      const outcome = outcomes[i] as Extract<StateOutcome, { kind: 'accepted' }>;
      const time = event.event_time;
      const id = event.event_id;
      const late = outcome.late ? 49 : 48; // '1' : '0'
      records.string(id);
      // The first outcome is kept only for messages that can be redelivered.
      if (messageId !== undefined) {
        records.string(
          `F${outcome.late ? '1' : '0'}${time},${messageId}\u001f${this.featureSetId}\u001f${encodeValues(outcome.features, this.definitions)}`,
        );
      } else if (RespWriter.isWholeNumber(time)) {
        // `A<late><time>,`
        records.begin(3 + RespWriter.bytesOf(time));
        records.byte(65);
        records.byte(late);
        records.number(time);
        records.byte(44);
        records.end();
      } else records.string(`A${outcome.late ? '1' : '0'}${time},`);
      // `<time>,<event_id>`
      if (RespWriter.isWholeNumber(time)) {
        order.begin(RespWriter.bytesOf(time) + 1 + RespWriter.bytesOf(id));
        order.number(time);
        order.byte(44);
        order.text(id);
        order.end();
      } else order.string(`${time},${id}`);
    }
    return { records: records.take(), order: order.take(), count: accepted.length };
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
