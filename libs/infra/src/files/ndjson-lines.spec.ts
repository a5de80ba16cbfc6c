import { strict as assert } from 'node:assert';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { readLineBatches, type NdjsonLine } from './ndjson-lines';

async function readAll(chunks: readonly (Buffer | string)[], maxLineBytes?: number): Promise<NdjsonLine[]> {
  const lines: NdjsonLine[] = [];
  for await (const batch of readLineBatches(Readable.from(chunks), 3, maxLineBytes)) lines.push(...batch);
  return lines;
}

describe('readLineBatches', () => {
  it('splits lines across chunk boundaries, with \\r\\n and without a final newline', async () => {
    assert.deepEqual(await readAll(['a\r\nb', 'c\n', '\nd']), ['a', 'bc', '', 'd']);
  });

  it('rejects a line longer than the limit without holding it, and goes on after its newline', async () => {
    const chunk = Buffer.alloc(100, 'x');
    const chunks: (Buffer | string)[] = ['first\n', ...Array.from({ length: 50 }, () => chunk), 'tail of the long line\nlast\n'];
    const lines = await readAll(chunks, 1000);
    assert.equal(lines.length, 3);
    assert.equal(lines[0], 'first');
    const overlong = lines[1];
    assert.ok(typeof overlong !== 'string', 'the long line is a reject, not text');
    assert.match(overlong.reason, /line is more than 1000 bytes/);
    assert.ok(overlong.bytes.length <= 1024, 'only the head of the line is kept');
    assert.equal(lines[2], 'last');
  });

  it('rejects an over-long last line that has no newline at all', async () => {
    const lines = await readAll(['ok\n', ...Array.from({ length: 30 }, () => Buffer.alloc(100, 'y'))], 1000);
    assert.equal(lines[0], 'ok');
    assert.equal(lines.length, 2);
    assert.ok(typeof lines[1] !== 'string');
  });

  it('keeps a line just under the limit whole', async () => {
    const line = 'z'.repeat(999);
    assert.deepEqual(await readAll([line.slice(0, 500), line.slice(500), '\n'], 1000), [line]);
  });

  it('gives the same lines whatever the chunk boundaries (a line begun in an earlier chunk is joined on its own)', async () => {
    // A seeded LCG: the same 300 cases on every run.
    let seed = 7;
    const next = (n: number): number => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return seed % n;
    };
    const pieces = ['{"a":1}', 'plain', '', 'é€😀', '\r', 'x'.repeat(300)];
    for (let round = 0; round < 300; round++) {
      const parts: Buffer[] = [];
      if (next(4) === 0) parts.push(Buffer.from([0xef, 0xbb, 0xbf]));
      for (let line = next(12); line >= 0; line--) {
        parts.push(Buffer.from(pieces[next(pieces.length)], 'utf8'));
        if (next(8) === 0) parts.push(Buffer.from([0xff, 0xc3])); // not UTF-8: this line alone is undecodable
        parts.push(Buffer.from(next(3) === 0 ? '\r\n' : '\n'));
      }
      if (next(3) === 0) parts.push(Buffer.from('unterminated'));
      const whole = Buffer.concat(parts);
      const chunks: Buffer[] = [];
      for (let at = 0; at < whole.length;) {
        const size = 1 + next(40);
        chunks.push(whole.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(await readAll(chunks, 10_000), await readAll([whole], 10_000), `round ${round}`);
    }
  });
});
