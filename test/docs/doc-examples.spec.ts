import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { docSteps, lastJson, subsetMismatch } from './doc-examples';

describe('doc-examples: the harness that runs a document', () => {
  it('takes each sh block with the json or text block right after it, and leaves bash blocks to the reader', () => {
    const doc = [
      '# Title',
      '```bash',
      'export ENGINE=http://localhost:8080',
      '```',
      '```sh',
      'curl -s "$ENGINE/health"',
      '```',
      'Prose.',
      '```json',
      '{ "status": "ok" }',
      '```',
      '```sh',
      'echo done',
      '```',
      '```text',
      'done',
      '```',
      '```sh',
      'true',
      '```',
    ].join('\n');
    const steps = docSteps(doc);
    assert.deepEqual(
      steps.map((s) => [s.line, s.script, s.expected?.kind]),
      [
        [5, 'curl -s "$ENGINE/health"\n', 'json'],
        [12, 'echo done\n', 'text'],
        [18, 'true\n', undefined],
      ],
    );
  });

  it('matches a subset: objects may hold more keys, arrays more items anywhere, the order of the items kept', () => {
    const actual = { a: 1, items: [{ id: 'x', n: 1 }, { id: 'y' }, { id: 'z', n: 3 }] };
    assert.equal(subsetMismatch({ items: [{ id: 'x' }, { id: 'z', n: 3 }] }, actual, '$'), undefined);
    assert.match(subsetMismatch({ items: [{ id: 'z' }, { id: 'x' }] }, actual, '$') ?? '', /expected item 1 matches no item/);
    assert.match(subsetMismatch({ items: [{ id: 'z', n: 4 }] }, actual, '$') ?? '', /no item .*first difference: \$\.items\[0\]\.id/);
    assert.equal(subsetMismatch({ b: 1 }, actual, '$'), '$.b: missing');
    assert.equal(subsetMismatch({ a: '1' }, actual, '$'), '$.a: expected "1", got 1');
  });

  it("reads the last JSON value printed: whole output, last line, or the last of curl's unseparated answers", () => {
    assert.deepEqual(lastJson('{\n "a": 1\n}\n'), { a: 1 });
    assert.deepEqual(lastJson('creating…\n{"a": 1}\n'), { a: 1 });
    assert.deepEqual(lastJson('{"a": "}{"}{"b": [1, {"c": "\\"]"}]}'), { b: [1, { c: '"]' }] });
    assert.equal(lastJson('no json here\n'), undefined);
  });
});
