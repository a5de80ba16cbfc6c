import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

/**
 * Issue 11, defects 6 and 7 (replay): the bytes of the input file. Events
 * are UTF-8 (SPEC §1): a line that is not is rejected with its line number,
 * not accepted with U+FFFD in its ids. A byte order mark at the start of the
 * file is not part of the first event.
 */
// The CLI compiled alongside this test (bin/risk-engine.js loads the same file from dist/).
const cli = join(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');
const dir = mkdtempSync(join(tmpdir(), 'risk-replay-bytes-'));

interface Replayed {
  status: number | null;
  stderr: string;
  verdicts: { event_id: string; user_id: string }[];
  rejects: { line: number; errors: { path: string; message: string }[]; raw: string; raw_base64?: string }[];
}

function replay(name: string, content: Buffer, extra: string[] = []): Replayed {
  const input = join(dir, `${name}.ndjson`);
  const output = join(dir, `${name}.verdicts.ndjson`);
  const rejects = join(dir, `${name}.rejects.ndjson`);
  writeFileSync(input, content);
  const result = spawnSync(process.execPath, [cli, 'replay', '--input', input, '--output', output, '--rejects', rejects, ...extra], {
    encoding: 'utf8',
  });
  const lines = (path: string): string[] =>
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0);
  return {
    status: result.status,
    stderr: result.stderr,
    verdicts: result.status === 0 ? lines(output).map((line) => JSON.parse(line)) : [],
    rejects: result.status === 0 ? lines(rejects).map((line) => JSON.parse(line)) : [],
  };
}

const event = (id: string, user: string, minute: number): string =>
  JSON.stringify({ event_id: id, user_id: user, event_type: 'login', event_time: `2026-11-20T10:${String(minute).padStart(2, '0')}:00Z` });

const bytes = (...parts: (string | number[] | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'utf8') : Buffer.from(part))));

describe('replay: the bytes of the input (issue 11, defects 6 and 7)', () => {
  it('rejects a line that is not valid UTF-8, with its line number, its reason and its exact bytes', () => {
    const badLine = bytes('{"event_id":"e-2","user_id":"u-', [0xff, 0xfe], '","event_type":"login","event_time":"2026-11-20T10:01:00Z"}');
    const content = bytes(event('e-1', 'u-1', 0), '\n', badLine, '\n', event('e-3', 'u-1', 2), '\n');
    const result = replay('invalid-utf8', content);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(
      result.verdicts.map((v) => v.event_id),
      ['e-1', 'e-3'],
    );
    for (const verdict of result.verdicts) assert.doesNotMatch(verdict.user_id, /\uFFFD/);
    assert.equal(result.rejects.length, 1);
    const [reject] = result.rejects;
    assert.equal(reject.line, 2);
    assert.match(reject.errors[0].message, /not valid UTF-8/);
    assert.deepEqual(Buffer.from(reject.raw_base64 ?? '', 'base64'), badLine, 'the exact bytes are kept');
    assert.match(result.stderr, /accepted 2 .*rejected 1/);
  });

  it('keeps the rejects file in line order around an invalid UTF-8 line, within and across batches', () => {
    const lines = [
      bytes('not json'),
      bytes(event('e-1', 'u-1', 0)),
      bytes('{"user_id":"', [0xc3, 0x28], '"}'), // an invalid two-byte sequence
      bytes('{"event_id":"e-4"}'),
      bytes(event('e-5', 'u-1', 1)),
      bytes([0xed, 0xa0, 0x80]), // an encoded UTF-16 surrogate: not UTF-8
      bytes(event('e-7', 'u-1', 2), '\r'),
    ];
    const content = Buffer.concat(lines.flatMap((line) => [line, Buffer.from('\n')]));
    for (const batchSize of ['1000', '2']) {
      const result = replay(`order-${batchSize}`, content, ['--batch-size', batchSize]);
      assert.equal(result.status, 0, result.stderr);
      assert.deepEqual(
        result.rejects.map((r) => r.line),
        [1, 3, 4, 6],
        `--batch-size ${batchSize}`,
      );
      for (const reject of result.rejects)
        assert.ok(reject.errors.length > 0 && typeof reject.line === 'number', 'each reject names its line');
      assert.deepEqual(
        result.verdicts.map((v) => v.event_id),
        ['e-1', 'e-5', 'e-7'],
      );
    }
  });

  it('does not lose the first event of a file that starts with a UTF-8 byte order mark', () => {
    const content = bytes([0xef, 0xbb, 0xbf], event('e-1', 'u-1', 0), '\n', event('e-2', 'u-1', 1), '\n');
    const result = replay('bom', content);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(
      result.verdicts.map((v) => v.event_id),
      ['e-1', 'e-2'],
    );
    assert.deepEqual(result.rejects, []);
  });

  it('treats a byte order mark anywhere but the start of the file as data, rejected with its line number', () => {
    const content = bytes(event('e-1', 'u-1', 0), '\n', [0xef, 0xbb, 0xbf], event('e-2', 'u-1', 1), '\n');
    const result = replay('bom-inside', content);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(
      result.verdicts.map((v) => v.event_id),
      ['e-1'],
    );
    assert.deepEqual(
      result.rejects.map((r) => r.line),
      [2],
    );
  });

  it('strips the byte order mark of stdin and of a file without a final newline', () => {
    const content = bytes([0xef, 0xbb, 0xbf], event('e-1', 'u-1', 0));
    const fromFile = replay('bom-one-line', content);
    assert.deepEqual(
      fromFile.verdicts.map((v) => v.event_id),
      ['e-1'],
    );
    const fromStdin = spawnSync(process.execPath, [cli, 'replay', '--input', '-', '--output', '-'], { input: content, encoding: 'utf8' });
    assert.equal(fromStdin.status, 0, fromStdin.stderr);
    assert.equal(JSON.parse(fromStdin.stdout).event_id, 'e-1');
  });
});
