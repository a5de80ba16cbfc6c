import { strict as assert } from 'node:assert';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { appendDurably, readAuditTrail, readCompleteLines, readOptional, writeFileDurably } from './durable-files';

describe('durable files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'durable-files-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('replaces a file whole, from a string or from lines, and leaves no temporary file', async () => {
    const path = join(dir, 'state.json');
    await writeFileDurably(path, '{"version":1}\n');
    await writeFileDurably(
      path,
      (function* () {
        for (let i = 0; i < 25_001; i++) yield String(i);
      })(),
    );
    const lines = (await readFile(path, 'utf8')).split('\n');
    assert.equal(lines.length, 25_002);
    assert.equal(lines[25_000], '25000');
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.endsWith('.tmp')),
      [],
    );
  });

  it('reads an absent file as undefined or no lines, and drops a last line torn mid-append', async () => {
    assert.equal(await readOptional(join(dir, 'absent')), undefined);
    assert.deepEqual(await readCompleteLines(join(dir, 'absent')), []);
    const path = join(dir, 'log.ndjson');
    await appendDurably(path, '{"a":1}\n{"a":2}\n');
    await writeFile(path, '{"a":1}\n{"a":2}\n{"a":', { flag: 'w' });
    assert.deepEqual(await readCompleteLines(path), ['{"a":1}', '{"a":2}']);
  });

  it('keeps the audit entries around a torn line', async () => {
    const path = join(dir, 'audit.ndjson');
    await appendDurably(path, '{"n":1}\n{"n":');
    await appendDurably(path, '{"n":3}\n{"n":4}\n');
    assert.deepEqual(await readAuditTrail<{ n: number }>(path), [{ n: 1 }, { n: 4 }]);
  });
});
