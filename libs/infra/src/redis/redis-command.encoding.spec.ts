import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '@risk/generator';
import { encodeCommand, type CommandArg } from './redis-command.encoding';

/** RESP as the protocol spells it, built the slow obvious way. */
function reference(args: readonly CommandArg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), 'utf8');
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
