/**
 * Arguments already encoded as RESP bulk strings, one after the other (see
 * RespWriter): copied into a command as they are.
 */
export class RespArgs {
  constructor(
    readonly bytes: Buffer,
    readonly count: number,
  ) {}

  /** Each argument's bytes (subarrays, not copies): for a client path that encodes commands itself (a cluster's). */
  split(): Buffer[] {
    const args: Buffer[] = [];
    const bytes = this.bytes;
    let at = 0;
    while (at < bytes.length) {
      let length = 0;
      at++; // '$'
      while (bytes[at] !== CR) length = length * 10 + (bytes[at++] - 48);
      at += 2;
      args.push(bytes.subarray(at, at + length));
      at += length + 2;
    }
    return args;
  }
}

/** A command argument as the Redis client takes it: numbers are sent as their decimal text. */
export type CommandArg = string | number | Buffer | RespArgs;

/** Strings up to this many characters are checked for ASCII and copied by hand: a Buffer.write call costs more for them. */
const SHORT_STRING = 64;
/** Bytes of a bulk string's header and trailer at most: `$`, up to 10 digits, CR LF, then CR LF after the payload. */
const BULK_OVERHEAD = 15;
const CR = 13;
const LF = 10;
const DOLLAR = 36;
const STAR = 42;

/**
 * One Redis command in RESP (an array of bulk strings), written in one pass
 * into one Buffer: the arguments are the concatenation of `lists` (e.g. the
 * command name and its first arguments, the keys, the other arguments), so
 * that no combined array is built. Why not the client's own encoding: for a
 * batch's write script (hundreds to thousands of arguments) it builds a
 * string per argument, a list of parts and a concatenation, and copies the
 * argument array several times on the way; this costs a fraction of that.
 * The Buffer is sized for the worst case (3 bytes per UTF-16 unit) and the
 * answer is the part written.
 */
export function encodeCommand(lists: readonly (readonly CommandArg[])[]): Buffer {
  let count = 0;
  let bound = 16;
  for (const list of lists) {
    count += list.length;
    for (const arg of list) {
      if (arg instanceof RespArgs) {
        count += arg.count - 1;
        bound += arg.bytes.length;
      } else bound += BULK_OVERHEAD + (typeof arg === 'string' ? arg.length * 3 : typeof arg === 'number' ? 32 : arg.length);
    }
  }
  const out = Buffer.allocUnsafe(bound);
  out[0] = STAR;
  let at = writeDecimal(out, 1, count);
  out[at++] = CR;
  out[at++] = LF;
  for (const list of lists) {
    for (const arg of list) {
      if (typeof arg === 'string') at = writeString(out, at, arg);
      else if (typeof arg === 'number') at = writeString(out, at, String(arg));
      else if (arg instanceof RespArgs) {
        out.set(arg.bytes, at);
        at += arg.bytes.length;
      } else {
        at = writeBulkHeader(out, at, arg.length);
        // TypedArray#set: a plain memory copy, without Buffer#copy's argument handling (~1,900 blobs a batch).
        out.set(arg, at);
        at += arg.length;
        out[at++] = CR;
        out[at++] = LF;
      }
    }
  }
  return out.subarray(0, at);
}

function writeString(out: Buffer, at: number, text: string): number {
  const length = text.length;
  if (length <= SHORT_STRING) {
    // Copied while checked (one pass): the header's length is the character count if every character is ASCII.
    const header = writeBulkHeader(out, at, length);
    let i = 0;
    for (; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) break;
      out[header + i] = code;
    }
    if (i === length) {
      at = header + length;
      out[at++] = CR;
      out[at++] = LF;
      return at;
    }
  }
  const bytes = Buffer.byteLength(text, 'utf8');
  at = writeBulkHeader(out, at, bytes);
  at += out.write(text, at, bytes, 'utf8');
  out[at++] = CR;
  out[at++] = LF;
  return at;
}

function writeBulkHeader(out: Buffer, at: number, length: number): number {
  out[at] = DOLLAR;
  at = writeDecimal(out, at + 1, length);
  out[at] = CR;
  out[at + 1] = LF;
  return at + 2;
}

/** A non-negative integer's decimal digits at `at`; returns the offset after them. */
function writeDecimal(out: Buffer, at: number, value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  let rest = value;
  for (let i = digits - 1; i >= 0; i--) {
    out[at + i] = 48 + (rest % 10);
    rest = Math.floor(rest / 10);
  }
  return at + digits;
}

/** Bytes of a string in UTF-8: its length when ASCII (the common case, checked by hand). */
function utf8Bytes(text: string): number {
  const length = text.length;
  for (let i = 0; i < length; i++) if (text.charCodeAt(i) >= 0x80) return Buffer.byteLength(text, 'utf8');
  return length;
}

/** Digits of a non-negative integer. */
function decimalDigits(value: number): number {
  let digits = 1;
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  return digits;
}

/**
 * Writes command arguments as RESP bulk strings into one growing Buffer, for
 * arguments made of several parts (a dedup record `A0<time>,`, an order
 * entry `<time>,<event_id>`): their bytes go straight into the command, with
 * no string built, flattened and encoded per part. An argument is either
 * `string` whole, or `begin(its byte length)`, its parts, `end()`.
 */
export class RespWriter {
  private buffer: Buffer;
  private at = 0;
  private count = 0;
  /** Where the argument begun last must end: a wrong byte count would corrupt the whole connection's protocol. */
  private argumentEnd = 0;

  constructor(initialBytes = 4096) {
    this.buffer = Buffer.allocUnsafe(initialBytes);
  }

  /** Whether `text` can be written as a part of `begin`/`end`: a non-negative whole number below 2^53. */
  static isWholeNumber(value: number): boolean {
    return Number.isSafeInteger(value) && value >= 0;
  }

  /** The bytes of a whole number (see isWholeNumber) and of a string, as `begin` counts them. */
  static bytesOf(value: number | string): number {
    return typeof value === 'number' ? decimalDigits(value) : utf8Bytes(value);
  }

  /** One whole argument. */
  string(text: string): void {
    this.begin(utf8Bytes(text));
    this.text(text);
    this.end();
  }

  /** Starts an argument of `bytes` bytes, written by the calls that follow (exactly that many), then `end()`. */
  begin(bytes: number): void {
    this.room(BULK_OVERHEAD + bytes);
    this.buffer[this.at] = DOLLAR;
    this.at = writeDecimal(this.buffer, this.at + 1, bytes);
    this.buffer[this.at++] = CR;
    this.buffer[this.at++] = LF;
    this.argumentEnd = this.at + bytes;
  }

  /** A part: one byte (an ASCII character code). */
  byte(code: number): void {
    this.buffer[this.at++] = code;
  }

  /** A part: a whole number's digits (see isWholeNumber). */
  number(value: number): void {
    this.at = writeDecimal(this.buffer, this.at, value);
  }

  /** A part: a string in UTF-8. */
  text(text: string): void {
    const length = text.length;
    const out = this.buffer;
    const start = this.at;
    for (let i = 0; i < length; i++) {
      const code = text.charCodeAt(i);
      if (code >= 0x80) {
        this.at += out.write(text, start, 'utf8');
        return;
      }
      out[start + i] = code;
    }
    this.at = start + length;
  }

  end(): void {
    if (this.at !== this.argumentEnd) throw new Error(`RESP argument of ${this.argumentEnd - this.at} bytes more than written`);
    this.buffer[this.at++] = CR;
    this.buffer[this.at++] = LF;
    this.count++;
  }

  /** The arguments written (not copied: write no more). */
  take(): RespArgs {
    return new RespArgs(this.buffer.subarray(0, this.at), this.count);
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
  }
}
