import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { EncodingBuffers, writeJsonLines } from './ndjson-file.sinks';

describe('writeJsonLines', () => {
  it('writes one JSON line per value in order, across buffers smaller than a batch and than one value', async () => {
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    const values = Array.from({ length: 60 }, (_, i) => ({ id: `e-${i}`, text: 'é😀"\\\n\ud800'.repeat(i % 7), n: i / 3 }));
    const big = { id: 'big', text: 'x'.repeat(2000) };
    const buffers = new EncodingBuffers(2, 300);
    await writeJsonLines(out, [...values, big], buffers);
    await writeJsonLines(out, values, buffers);
    const lines = (list: readonly unknown[]): string => list.map((v) => JSON.stringify(v) + '\n').join('');
    assert.equal(Buffer.concat(chunks).toString('utf8'), lines([...values, big]) + lines(values));
  });
});
