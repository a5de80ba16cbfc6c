import {
  expiredEntries,
  NO_VALUES,
  RiskEngineError,
  type EntityGroup,
  type EntityState,
  type LatestValue,
  type Series,
} from '@risk/domain';

/**
 * One entity's state as one Redis string, read and written whole by
 * RedisFeatureStore. The feature semantics live in the domain
 * (`applyEventToEntity`); this is only storage.
 *
 * Layout (little-endian):
 * - header, {@link HEADER_BYTES}: format byte (2), u32 write version (the compare-and-set token, random);
 * - f64 the entity's newest event_time; u8 number of sections;
 * - per feature that has state, a section: its 8-character feature id
 *   (`featureId`, a fingerprint of the definition), a kind byte, then
 *   - series: u32 n, n times (f64, or u32 ms back from the newest time when
 *     the kind has the 0x80 flag), then the values: none (count, first_seen_age,
 *     since_last), n f64 (sum, min, max, avg, numeric distinct) or n strings;
 *   - latest (`changed`): f64 time, then the value: f64 or a string.
 *   Strings are a u16 byte length and UTF-8.
 *
 * Sections are found by feature id, not by position: adding, removing or
 * redefining one feature leaves every other feature's state readable, and
 * a section nobody knows any more is dropped at the entity's next write.
 */
export const HEADER_BYTES = 5;
const FORMAT = 2;
/** The write version of a key that does not exist (its header reads as five zero bytes). */
export const ABSENT_VERSION = 0;

/** Aggregates whose series need only the times (stored as CountSeries: the values decode as NO_VALUES). */
function timesOnly(aggregate: string): boolean {
  return aggregate === 'count' || aggregate === 'first_seen_age' || aggregate === 'since_last';
}

/** Kind flag: the series' times are u32 milliseconds back from the entity's newest time, not f64. */
const OFFSET_TIMES = 0x80;

const enum Kind {
  CountSeries = 1,
  NumberSeries = 2,
  StringSeries = 3,
  NumberLatest = 4,
  StringLatest = 5,
}

export interface DecodedEntity {
  readonly state: EntityState;
  /** The stored write version (ABSENT_VERSION when the key did not exist): the write must find it unchanged. */
  readonly version: number;
}

/**
 * A fresh write version, different from the stored one. Random rather than
 * a counter: an entity that expired and was created again by another writer
 * must not come back with the version a stale cache remembers.
 */
export function nextVersion(current: number): number {
  for (;;) {
    const version = (Math.random() * 0x100000000) >>> 0;
    if (version !== current && version !== 0) return version;
  }
}

/** Appends the header a key holding `version` starts with (five zero bytes for an absent key). */
export function writeHeader(w: ByteWriter, version: number): void {
  w.u8(version === ABSENT_VERSION ? 0 : FORMAT);
  w.u32(version);
}

/** Encoder and decoder of one entity group's state. */
export class EntityCodec {
  private readonly sections = new Map<string, { readonly latest: boolean; readonly index: number }>();

  constructor(private readonly group: EntityGroup) {
    group.windowed.forEach((slot, index) => this.sections.set(slot.id, { latest: false, index }));
    group.changed.forEach((slot, index) => this.sections.set(slot.id, { latest: true, index }));
  }

  /** `blob` null: the entity has no state yet; `newest` is then the first event's time. */
  decode(blob: Buffer | null, newest: number): DecodedEntity {
    const state: EntityState = {
      series: this.group.windowed.map(() => undefined),
      latest: this.group.changed.map(() => undefined),
      newest,
    };
    if (blob === null) return { state, version: ABSENT_VERSION };
    if (blob.length < HEADER_BYTES + 9 || blob[0] !== FORMAT) {
      throw new RiskEngineError('REDIS_STATE_FORMAT', `entity state of unknown format ${blob[0]} (${blob.length} bytes)`, false);
    }
    const reader = new Reader(blob, HEADER_BYTES);
    state.newest = reader.f64();
    const count = reader.u8();
    for (let s = 0; s < count; s++) {
      const id = blob.toString('latin1', reader.at, reader.at + 8);
      reader.at += 8;
      const tag = reader.u8();
      const kind = (tag & ~OFFSET_TIMES) as Kind;
      const target = this.sections.get(id);
      if (kind === Kind.NumberLatest || kind === Kind.StringLatest) {
        const time = reader.f64();
        const value = kind === Kind.NumberLatest ? reader.f64() : reader.str();
        if (target?.latest === true) state.latest[target.index] = { value, time };
        continue;
      }
      const n = reader.u32();
      const times = new Array<number>(n);
      if ((tag & OFFSET_TIMES) !== 0) for (let i = 0; i < n; i++) times[i] = state.newest - reader.u32();
      else for (let i = 0; i < n; i++) times[i] = reader.f64();
      let values = NO_VALUES;
      if (kind !== Kind.CountSeries) {
        values = new Array<string | number>(n);
        if (kind === Kind.NumberSeries) for (let i = 0; i < n; i++) values[i] = reader.f64();
        else for (let i = 0; i < n; i++) values[i] = reader.str();
      }
      if (target?.latest === false) state.series[target.index] = { times, values, sliding: undefined };
    }
    return { state, version: blob.readUInt32LE(1) };
  }

  /** The blob to store; entries no window can reach any more are left out (results never see them). */
  encode(state: EntityState, version: number): Buffer {
    const w = new ByteWriter();
    this.encodeInto(w, state, version);
    return w.take();
  }

  /** Appends the blob to `w` (see `encode`). */
  encodeInto(w: ByteWriter, state: EntityState, version: number): void {
    w.u8(FORMAT);
    w.u32(version);
    w.f64(state.newest);
    const countAt = w.at;
    w.u8(0);
    let sections = 0;
    const { windowed, changed } = this.group;
    for (let i = 0; i < windowed.length; i++) {
      const series = state.series[i];
      if (series === undefined || series.times.length === 0) continue;
      const slot = windowed[i];
      sections++;
      w.latin1(slot.id);
      this.encodeSeries(w, series, expiredEntries(slot, series), timesOnly(slot.definition.aggregate), state.newest);
    }
    for (let i = 0; i < changed.length; i++) {
      const latest = state.latest[i];
      if (latest === undefined) continue;
      sections++;
      w.latin1(changed[i].id);
      encodeLatest(w, latest);
    }
    w.buffer[countAt] = sections;
  }

  private encodeSeries(w: ByteWriter, { times, values }: Series, from: number, count: boolean, newest: number): void {
    const numeric = typeof values[from] === 'number';
    // Event times are whole milliseconds within a window of the entity's newest: 4 bytes back from it instead of 8.
    let offsets = true;
    for (let i = from; i < times.length && offsets; i++) {
      const back = newest - times[i];
      offsets = back >= 0 && back <= 0xffffffff && Number.isInteger(back);
    }
    w.u8((count ? Kind.CountSeries : numeric ? Kind.NumberSeries : Kind.StringSeries) | (offsets ? OFFSET_TIMES : 0));
    w.u32(times.length - from);
    if (offsets) for (let i = from; i < times.length; i++) w.u32(newest - times[i]);
    else for (let i = from; i < times.length; i++) w.f64(times[i]);
    if (count) return;
    if (numeric) for (let i = from; i < values.length; i++) w.f64(values[i] as number);
    else for (let i = from; i < values.length; i++) w.str(values[i] as string);
  }
}

function encodeLatest(w: ByteWriter, { value, time }: LatestValue): void {
  const numeric = typeof value === 'number';
  w.u8(numeric ? Kind.NumberLatest : Kind.StringLatest);
  w.f64(time);
  if (numeric) w.f64(value);
  else w.str(value);
}

class Reader {
  constructor(
    private readonly blob: Buffer,
    public at: number,
  ) {}

  u8(): number {
    return this.blob[this.at++];
  }

  u32(): number {
    const v = this.blob.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  f64(): number {
    const v = this.blob.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  str(): string {
    const length = this.blob.readUInt16LE(this.at);
    const start = this.at + 2;
    this.at = start + length;
    return this.blob.toString('utf8', start, this.at);
  }
}

/** Strings up to this many characters are tried as ASCII first (longer ones go to Buffer.write at once). */
const SHORT_STRING = 64;

/** A growing buffer of little-endian values and strings; `take` copies what was written. */
export class ByteWriter {
  buffer: Buffer;
  at = 0;

  /** `initialBytes`: a first guess of the size; the buffer doubles as needed. */
  constructor(initialBytes = 4096) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  u16(v: number): void {
    this.room(2);
    this.buffer.writeUInt16LE(v, this.at);
    this.at += 2;
  }

  /** Reserves 4 bytes for a u32 written later with `patchU32`; returns their offset. */
  reserveU32(): number {
    this.room(4);
    this.at += 4;
    return this.at - 4;
  }

  patchU32(offset: number, v: number): void {
    this.buffer.writeUInt32LE(v, offset);
  }

  u8(v: number): void {
    this.room(1);
    this.buffer[this.at++] = v;
  }

  u32(v: number): void {
    this.room(4);
    // By hand: writeUInt32LE's argument checks cost more than the four stores (several per series entry).
    const b = this.buffer;
    const at = this.at;
    b[at] = v;
    b[at + 1] = v >>> 8;
    b[at + 2] = v >>> 16;
    b[at + 3] = v >>> 24;
    this.at = at + 4;
  }

  f64(v: number): void {
    this.room(8);
    this.buffer.writeDoubleLE(v, this.at);
    this.at += 8;
  }

  latin1(text: string): void {
    this.room(text.length);
    const b = this.buffer;
    let at = this.at;
    for (let i = 0; i < text.length; i++) b[at++] = text.charCodeAt(i);
    this.at = at;
  }

  str(text: string): void {
    const length = text.length;
    this.room(2 + length * 3);
    // Most values (ids, IPs, cities) are short ASCII: copied by hand, as a Buffer.write call costs more for them.
    const b = this.buffer;
    const start = this.at + 2;
    let i = 0;
    if (length <= SHORT_STRING) {
      for (; i < length; i++) {
        const c = text.charCodeAt(i);
        if (c >= 0x80) break;
        b[start + i] = c;
      }
    }
    const bytes = i === length ? length : this.buffer.write(text, start, 'utf8');
    if (bytes > 0xffff)
      throw new RiskEngineError('REDIS_PROTOCOL', `value of ${bytes} bytes is too long for Redis state (max 65,535)`, false);
    this.buffer.writeUInt16LE(bytes, this.at);
    this.at += 2 + bytes;
  }

  take(): Buffer {
    return Buffer.from(this.buffer.subarray(0, this.at));
  }

  /** What was written, without a copy: for a writer that is written no more (the Redis client copies it anyway). */
  view(): Buffer {
    return this.buffer.subarray(0, this.at);
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
  }
}
