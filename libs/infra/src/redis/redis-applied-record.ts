import { ByteWriter } from './redis-entity.codec';

/**
 * The applied record of one slot and partition: the answers (feature values
 * of one entity group) of the events whose entity updates were written but
 * whose partition commit may not have happened yet. A batch retried after a
 * crash, or re-computed after a write conflict, finds here what it already
 * applied, by event and message identity, and applies it no second time.
 *
 * Layout: "<base>\n" (the partition's commit version the writes were
 * decided on; a write under another base replaces the record), then entries
 * of three strings (entry key `<group>:<event_id>`, message identity,
 * answer), each a u16 byte length and UTF-8.
 */
export function appliedRecordHeader(base: number): string {
  return `${base}\n`;
}

export class AppliedRecord {
  private readonly answers = new Map<string, string>();

  /** Adds the entries of one stored record (null: none). */
  add(blob: Buffer | null): void {
    if (blob === null) return;
    let at = blob.indexOf(10) + 1;
    if (at === 0) return;
    while (at + 6 <= blob.length) {
      const [entry, afterEntry] = readString(blob, at);
      const [identity, afterIdentity] = readString(blob, afterEntry);
      const [answer, next] = readString(blob, afterIdentity);
      this.answers.set(`${entry}\u0000${identity}`, answer);
      at = next;
    }
  }

  /** The stored answer of an event already applied by this message (or attempt), if any. */
  answer(entryKey: string, identity: string): string | undefined {
    return this.answers.size === 0 ? undefined : this.answers.get(`${entryKey}\u0000${identity}`);
  }
}

export class AppliedSegment {
  private readonly writer = new ByteWriter();

  add(entryKey: string, identity: string, answer: string): void {
    this.writer.str(entryKey);
    this.writer.str(identity);
    this.writer.str(answer);
  }

  take(): Buffer {
    return this.writer.take();
  }
}

function readString(blob: Buffer, at: number): [string, number] {
  const length = blob.readUInt16LE(at);
  const start = at + 2;
  return [blob.toString('utf8', start, start + length), start + length];
}
