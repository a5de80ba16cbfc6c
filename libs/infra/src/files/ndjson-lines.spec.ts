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
});
