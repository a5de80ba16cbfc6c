import { RiskEngineError } from '@risk/domain';
import { ByteWriter } from './redis-entity.codec';

/**
 * The applied record of one slot and partition: the answers (feature values
 * of one entity group) of the events whose entity updates were written but
 * whose partition commit has not happened yet. A batch retried after a crash
 * finds here what it already applied, by event and message identity, and
 * applies it no second time.
 *
 * Layout: "<base>\n" (the partition's commit version the writes were
 * decided on), then per entry: u8 group, event_id (u16 byte length and
 * UTF-8), u32 FNV-1a hash of the messageId ('' without one), u8 value count,
 * the values (booleans as 0/1): u8 0 and a u16 for whole numbers up to
 * 65,535, else u8 1 and an f64.
 *
 * Cluster only: on a single node a batch's entity writes and its commit are
 * one atomic script, so there is nothing to recover. Entries are only needed
 * until the partition commits: a record under another base than the
 * partition's current version is ignored unread (a write under a new base
 * replaces it; it expires after the pending timeout).
 */
export function appliedRecordHeader(base: number): string {
  return `${base}\n`;
}

export class AppliedRecord {
  private readonly answers = new Map<string, number[]>();

  constructor(private readonly base: number) {}

  /** Adds the entries of one stored record (null: none) written under this base. */
  add(blob: Buffer | null): void {
    if (blob === null) return;
    const header = appliedRecordHeader(this.base);
    if (blob.length < header.length || blob.toString('latin1', 0, header.length) !== header) return;
    let at = header.length;
    try {
      while (at < blob.length) {
        const group = blob[at];
        const [eventId, afterId] = readString(blob, at + 1);
        const message = blob.readUInt32LE(afterId);
        const count = blob[afterId + 4];
        const values = new Array<number>(count);
        at = afterId + 5;
        for (let i = 0; i < count; i++) {
          if (blob[at] === 0) {
            values[i] = blob.readUInt16LE(at + 1);
            at += 3;
          } else {
            values[i] = blob.readDoubleLE(at + 1);
            at += 9;
          }
        }
        this.answers.set(entryKey(group, eventId, message), values);
      }
    } catch (error) {
      throw new RiskEngineError('REDIS_STATE_FORMAT', `unreadable applied record: ${(error as Error).message}`, false);
    }
  }

  get empty(): boolean {
    return this.answers.size === 0;
  }

  /** The stored values of an event this message already applied to the group, if any. */
  answer(group: number, eventId: string, messageId: string): readonly number[] | undefined {
    return this.answers.size === 0 ? undefined : this.answers.get(entryKey(group, eventId, fnv1a(messageId)));
  }
}

/** Appends one entry (see the layout above) to `w`. */
export function writeAppliedEntry(w: ByteWriter, group: number, eventId: string, messageId: string, values: readonly number[]): void {
  w.u8(group);
  w.str(eventId);
  w.u32(fnv1a(messageId));
  w.u8(values.length);
  for (const value of values) {
    if (value >= 0 && value <= 0xffff && Number.isInteger(value)) {
      w.u8(0);
      w.u16(value);
    } else {
      w.u8(1);
      w.f64(value);
    }
  }
}

function entryKey(group: number, eventId: string, message: number): string {
  return `${group}\u0000${eventId}\u0000${message}`;
}

/** 32-bit FNV-1a of a string's UTF-16 code units: tells redeliveries of one message from other messages of an event_id. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function readString(blob: Buffer, at: number): [string, number] {
  const length = blob.readUInt16LE(at);
  const start = at + 2;
  if (start + length > blob.length) throw new Error('truncated');
  return [blob.toString('utf8', start, start + length), start + length];
}
