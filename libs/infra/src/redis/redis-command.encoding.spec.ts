import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '@risk/generator';
import { encodeCommand, RespWriter, type CommandArg } from './redis-command.encoding';

/** RESP as the protocol spells it, built the slow obvious way. */
function reference(args: readonly CommandArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg as string | number), 'utf8');
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

const ALPHABET = ['a', 'Z', '0', ':', '{', ' ', '\r', '\n', '\u0000', 'é', '€', '😀', '\ud800'];

function randomArg(next: () => number): CommandArg {
  const kind = next();
  const length = next() < 0.9 ? Math.floor(next() * 20) : Math.floor(next() * 300);
  if (kind < 0.4) {
    let text = '';
    for (let i = 0; i < length; i++)
      text += next() < 0.8 ? String.fromCharCode(32 + Math.floor(next() * 95)) : ALPHABET[Math.floor(next() * ALPHABET.length)];
    return text;
  }
  if (kind < 0.55) return next() < 0.5 ? Math.floor(next() * 1e12) : -next() * 1e6;
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(next() * 256);
  return bytes;
}

describe('encodeCommand', () => {
  it('writes an EVALSHA call byte for byte as RESP spells it', () => {
    const encoded = encodeCommand([
      ['evalsha', 'abc', 2],
      ['k1', '{u:é}:s'],
      [Buffer.from([0, 13, 10]), '', 10_000],
    ]);
    assert.equal(
      encoded.toString('latin1'),
      Buffer.from(
        '*8\r\n$7\r\nevalsha\r\n$3\r\nabc\r\n$1\r\n2\r\n$2\r\nk1\r\n$8\r\n{u:é}:s\r\n$3\r\n\u0000\r\n\r\n$0\r\n\r\n$5\r\n10000\r\n',
      ).toString('latin1'),
    );
  });

  it('equals the reference encoding on 500 seeded commands (ASCII, multi-byte, lone surrogates, long strings, Buffers, numbers)', () => {
    const seeded = new SeededRandom(12);
    const next = (): number => seeded.next();
    for (let n = 0; n < 500; n++) {
      const lists: CommandArg[][] = [];
      const lengths = Math.floor(next() * 4);
      for (let l = 0; l < lengths; l++) lists.push(Array.from({ length: Math.floor(next() * 12) }, () => randomArg(next)));
      const encoded = encodeCommand(lists);
      assert.deepEqual(encoded, reference(lists.flat()), `case ${n}`);
    }
  });

  it('counts more than nine arguments and bulk lengths of several digits', () => {
    const args = Array.from({ length: 1234 }, (_, i) => 'x'.repeat(i % 200));
    assert.deepEqual(encodeCommand([args]), reference(args));
  });
});

describe('RespWriter', () => {
  it('writes whole strings and arguments in parts as RESP spells them, and a command carries them as they are', () => {
    const seeded = new SeededRandom(31);
    const next = (): number => seeded.next();
    for (let n = 0; n < 300; n++) {
      const writer = new RespWriter(next() < 0.5 ? 1 : 64);
      const expected: string[] = [];
      const count = Math.floor(next() * 40);
      for (let k = 0; k < count; k++) {
        const text = randomArg(next);
        const id = typeof text === 'string' ? text : 'evt-1';
        const time = Math.floor(next() * 2e12);
        if (next() < 0.5) {
          writer.string(id);
          expected.push(id);
        } else {
          // `<time>,<id>` in parts, as the order entries are written.
          writer.begin(RespWriter.bytesOf(time) + 1 + RespWriter.bytesOf(id));
          writer.number(time);
          writer.byte(44);
          writer.text(id);
          writer.end();
          expected.push(`${time},${id}`);
        }
      }
      const args = writer.take();
      assert.equal(args.count, expected.length);
      assert.deepEqual(
        args.split().map((b) => b.toString('utf8')),
        expected.map((e) => Buffer.from(e, 'utf8').toString('utf8')),
      );
      assert.deepEqual(encodeCommand([['evalsha', 'x'], [args], ['last']]), reference(['evalsha', 'x', ...expected, 'last']), `case ${n}`);
    }
  });

  it('refuses an argument whose parts do not fill the byte count it began with', () => {
    const writer = new RespWriter();
    writer.begin(5);
    writer.number(1234);
    assert.throws(() => writer.end(), /1 bytes more than written/);
  });

  it('takes only non-negative safe integers as number parts', () => {
    assert.equal(RespWriter.isWholeNumber(1_764_000_000_000), true);
    assert.equal(RespWriter.isWholeNumber(0), true);
    for (const value of [-1, 1.5, 2 ** 53, Number.NaN, Infinity]) assert.equal(RespWriter.isWholeNumber(value), false, String(value));
  });
});
