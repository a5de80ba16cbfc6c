import { RiskEngineError } from '@risk/domain';

/**
 * Builds one binary script argument holding many values, read in Lua with
 * `struct.unpack` (one call per record). Each separate argument costs Redis
 * ~1,000 instructions (RESP parsing, an object, a Lua string) and the client
 * a length computation and a string concatenation: a batch of 100 events used
 * to send ~1,500 of them.
 *
 * Not reentrant across `take()`: pack one argument synchronously, then take it.
 */
export class Packer {
  private buffer = Buffer.allocUnsafe(1 << 16);
  private at = 0;

  u8(value: number): void {
    this.room(1);
    this.buffer[this.at++] = value;
  }

  u16(value: number): void {
    this.room(2);
    this.buffer.writeUInt16LE(value, this.at);
    this.at += 2;
  }

  f64(value: number): void {
    this.room(8);
    this.buffer.writeDoubleLE(value, this.at);
    this.at += 8;
  }

  /** UTF-8 bytes after their length as 2 bytes: struct's `Hc0`. */
  str16(text: string): void {
    const bytes = this.text(text, 2);
    if (bytes > 0xffff)
      throw new RiskEngineError('REDIS_PROTOCOL', `value of ${bytes} bytes is too long for Redis state (max 65,535)`, false);
    this.buffer.writeUInt16LE(bytes, this.at);
    this.at += 2 + bytes;
  }

  /** UTF-8 bytes after their length as 4 bytes: struct's `I4c0`. */
  str32(text: string): void {
    const bytes = this.text(text, 4);
    this.buffer.writeUInt32LE(bytes, this.at);
    this.at += 4 + bytes;
  }

  /** A copy of what was packed since the last take (the scratch buffer is reused). */
  take(): Buffer {
    const out = Buffer.allocUnsafe(this.at);
    this.buffer.copy(out, 0, 0, this.at);
    this.at = 0;
    return out;
  }

  /** Writes `text` after a `header`-byte gap left for its length; returns its byte length. */
  private text(text: string, header: number): number {
    const length = text.length;
    this.room(header + length * 3);
    const buffer = this.buffer;
    const start = this.at + header;
    // Ids and field values are nearly always ASCII: a byte loop beats a call into C++ for short strings.
    let i = 0;
    for (; i < length; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) break;
      buffer[start + i] = c;
    }
    if (i === length) return length;
    return i + buffer.write(text.slice(i), start + i, 'utf8');
  }

  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buffer.length * 2, this.at + bytes));
    this.buffer.copy(next, 0, 0, this.at);
    this.buffer = next;
  }
}
