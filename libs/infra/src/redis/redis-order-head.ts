import type { PartitionRead } from './redis-partition-ledger';

/** An order list entry `event_time,event_id`: its time. */
export function orderEntryTime(entry: string): number {
  return Number(entry.slice(0, entry.indexOf(',')));
}

/** Whether the partition's oldest remembered event_id (`read.head[0]`) expires in this batch (see PartitionLedger.accept). */
export function headExpires(read: PartitionRead, dedupRetentionMs: number): boolean {
  return read.max !== undefined && read.head.length > 0 && orderEntryTime(read.head[0]) <= read.max - dedupRetentionMs;
}

/**
 * How many entries of a partition's order list a batch's read asks for.
 *
 * A batch forgets the leading entries of the order list whose time is at or
 * before `max − dedup retention`, at most as many as it read (`batch size +
 * 32`): when the first entry does not expire, none does, and the other
 * entries read are not used. Reading them costs both sides on every batch
 * (a `replay --state` of 200,000 events read 206,000 entries of ~30 bytes,
 * each parsed into a Buffer and a string, to expire nothing). So after each
 * commit the process notes when the new first entry will expire (the
 * partition max from which it does), and while the partition's max as this
 * process left it is below that, the next read asks for the first entry
 * only. Exact whatever happened meanwhile: a first entry read that does
 * expire after all (another writer moved the max, or the note was wrong) is
 * followed by a read of the full count before anything is decided
 * (`headExpires`), under the same claim.
 */
export class OrderHeads {
  /** Per partition: its max after this process's last commit, and the max from which the first entry expires. */
  private readonly notes = new Map<string, { readonly max: number | undefined; readonly expiresAt: number }>();

  constructor(private readonly dedupRetentionMs: number) {}

  /** Entries to read for a batch: 1 when the first one is known not to expire, else `full`. */
  wanted(partition: string, full: number): number {
    const note = this.notes.get(partition);
    if (note === undefined) return full;
    return note.max === undefined || note.max < note.expiresAt ? 1 : full;
  }

  /**
   * After a batch computed on `read` (which asked for `asked` entries) and
   * expiring `expired` of them: the first entry once its commit is done, if
   * known; `max` the partition's max after it, `firstAccepted` the time of
   * the batch's first accepted event (appended last to the list), if any.
   */
  committed(
    partition: string,
    read: PartitionRead,
    asked: number,
    expired: number,
    max: number | undefined,
    firstAccepted: number | undefined,
  ): void {
    let first: number | undefined;
    if (expired < read.head.length) first = orderEntryTime(read.head[expired]);
    else if (read.head.length < asked) first = firstAccepted;
    else {
      // Every entry read expired, and the list may hold more: unknown.
      this.notes.delete(partition);
      return;
    }
    this.notes.set(partition, { max, expiresAt: first === undefined ? Infinity : first + this.dedupRetentionMs });
  }

  /** A failed batch: its commit may not have happened. */
  forget(partition: string): void {
    this.notes.delete(partition);
  }
}
