import type { InboundMessage, RiskEvent, SourcePosition } from '@risk/domain';
import type { NdjsonLine } from '@risk/infra/files/ndjson-lines';

/**
 * A batch of input lines as the decoding worker (replay-decode.worker.ts)
 * sends it to the replay's main thread: one kind per line, in line order,
 * and the valid events in columns. Columns, not an array of event objects:
 * a structured clone of 1,000 decoded events costs the receiving thread
 * about as much as `JSON.parse` of their lines (~75 %), while one array of
 * strings, two numbers per event and one string of the batch's text cost
 * it little, and the main thread builds each event with the decoder's own
 * shape.
 */
export interface WireBatch {
  /** One of LINE_* per line. */
  readonly kinds: Uint8Array;
  /** Per valid event: event_id, user_id, event_type, ip_address, device_id, location_city ('' when absent). */
  readonly strings: readonly string[];
  /** Per valid event: event_time (epoch ms) and amount (NaN when absent). */
  readonly numbers: Float64Array;
  /** The text of every valid or invalid line, one after the other; `bounds` holds each one's end. */
  readonly text: string;
  /** Per valid or invalid line: where its text ends in `text` (it starts where the previous one ended). */
  readonly bounds: Uint32Array;
  /** The undecodable lines' bytes and reasons, in line order. */
  readonly undecodable: readonly { readonly bytes: Uint8Array; readonly reason: string }[];
}

/** A line with no event (empty or only white space): skipped, not rejected. */
export const LINE_BLANK = 0;
/** A line the decoder accepted: its event travels in the columns. */
export const LINE_VALID = 1;
/** A line the decoder refused: its text travels; the pipeline decodes it again and rejects it with the same errors. */
export const LINE_INVALID = 2;
/** Bytes that are not UTF-8, or an over-long line (see readLineBatches). */
export const LINE_UNDECODABLE = 3;

export const STRINGS_PER_EVENT = 6;
export const NUMBERS_PER_EVENT = 2;

/**
 * A line the worker decoded: the pipeline skips decoding it (`event` is
 * set). Its text is cut from the batch's only when asked for, which happens
 * only when the pipeline rejects it after all (an event dated too far
 * ahead): the rejects file then carries the line exactly as read.
 */
export class DecodedLine implements InboundMessage {
  constructor(
    readonly event: RiskEvent,
    readonly source: SourcePosition,
    private readonly text: string,
    private readonly start: number,
    private readonly end: number,
  ) {}

  get value(): string {
    return this.text.slice(this.start, this.end);
  }
}

/** A line as `decideLines` in replay.command.ts takes it: text (blank or to decode), undecodable bytes, or decoded. */
export type ReplayLine = NdjsonLine | DecodedLine;

/** The lines of a batch, numbered from `firstLine`; the kinds say which of them the columns and `text` hold. */
export function linesOf(batch: WireBatch, firstLine: number): ReplayLine[] {
  const lines: ReplayLine[] = new Array<ReplayLine>(batch.kinds.length);
  let valid = 0;
  let texts = 0;
  let undecodable = 0;
  let start = 0;
  for (let i = 0; i < lines.length; i++) {
    const kind = batch.kinds[i];
    if (kind === LINE_BLANK) {
      lines[i] = '';
      continue;
    }
    if (kind === LINE_UNDECODABLE) {
      const { bytes, reason } = batch.undecodable[undecodable++];
      lines[i] = { bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), reason };
      continue;
    }
    const end = batch.bounds[texts++];
    lines[i] =
      kind === LINE_VALID
        ? new DecodedLine(eventAt(batch, valid++), { line: firstLine + i }, batch.text, start, end)
        : batch.text.slice(start, end);
    start = end;
  }
  return lines;
}

/** The event of the `index`th valid line of a batch, built with the same properties in the same order as `decodeEvent`'s. */
function eventAt(batch: WireBatch, index: number): RiskEvent {
  const s = index * STRINGS_PER_EVENT;
  const n = index * NUMBERS_PER_EVENT;
  const strings = batch.strings;
  const amount = batch.numbers[n + 1];
  return {
    event_id: strings[s],
    user_id: strings[s + 1],
    event_type: strings[s + 2],
    event_time: batch.numbers[n],
    ip_address: absentIfEmpty(strings[s + 3]),
    device_id: absentIfEmpty(strings[s + 4]),
    location_city: absentIfEmpty(strings[s + 5]),
    amount: Number.isNaN(amount) ? undefined : amount,
  };
}

/** The decoder turns '' into undefined for optional strings, so '' can stand for "absent" on the wire. */
function absentIfEmpty(value: string): string | undefined {
  return value === '' ? undefined : value;
}
