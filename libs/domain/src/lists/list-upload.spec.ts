import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { csvLine, isCsvHeader, parseUploadLine, splitCsvLine } from './list-upload';
import { listReferences, missingListErrors, rulesUsing } from './list-references';
import type { RuleDefinition } from '../rules/rule';

describe('upload lines', () => {
  it('splits RFC 4180 CSV fields and refuses broken quoting', () => {
    assert.deepEqual(splitCsvLine('a,b,c'), ['a', 'b', 'c']);
    assert.deepEqual(splitCsvLine('"a,1","say ""hi""",'), ['a,1', 'say "hi"', '']);
    assert.deepEqual(splitCsvLine(''), ['']);
    assert.equal(splitCsvLine('"open'), 'has an unterminated quoted field');
    assert.equal(splitCsvLine('"a"b'), 'has characters after a closing quote');
    assert.equal(splitCsvLine('a"b'), 'has a quote inside an unquoted field');
    assert.equal(isCsvHeader('value,expires_at,note\r'), true);
    assert.equal(isCsvHeader('203.0.113.7'), false);
  });

  it('writes CSV that reads back to the same entry', () => {
    const entries = [
      { value: 'd,1', expires_at: '2026-12-01T00:00:00.000Z', note: 'say "hi"' },
      { value: ' padded ', expires_at: null, note: null },
      { value: 'plain', expires_at: null, note: 'n' },
    ];
    for (const entry of entries) {
      const parsed = parseUploadLine('string', 'csv', { line: 1, text: csvLine(entry) });
      assert.deepEqual(parsed, entry, csvLine(entry));
    }
  });

  it('names the line and field of each problem; blank lines and CRLF are fine', () => {
    assert.equal(parseUploadLine('ip', 'ndjson', { line: 3, text: '  \r' }), undefined);
    assert.deepEqual(parseUploadLine('ip', 'ndjson', { line: 4, text: '"10.0.0.0/8"\r' }), {
      value: '10.0.0.0/8',
      expires_at: null,
      note: null,
    });
    assert.deepEqual(parseUploadLine('ip', 'ndjson', { line: 5, text: undefined }), [{ path: 'line 5', message: 'is not valid UTF-8' }]);
    const bad = parseUploadLine('ip', 'csv', { line: 6, text: '10.0.0.1/8,2026-13-01T00:00:00Z' });
    assert.deepEqual(
      (bad as { path: string }[]).map((e) => e.path),
      ['line 6.value', 'line 6.expires_at'],
    );
  });
});

describe('list references in rules', () => {
  const rule: RuleDefinition = {
    id: 'r',
    name: 'r',
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: {
      any: [
        { fact: 'ip_address', operator: 'inList', value: 'a' },
        {
          not: {
            all: [
              { fact: 'device_id', operator: 'notInList', value: 'b' },
              { fact: 'amount', operator: 'greaterThan', value: 1 },
            ],
          },
        },
      ],
    },
    event: { type: 'risk', params: { risk_level: 'LOW', score: 1, reason: 'r' } },
  };

  it('finds every list a rule names, with the path of its value', () => {
    assert.deepEqual(listReferences(rule), [
      { list: 'a', path: 'conditions.any[0].value' },
      { list: 'b', path: 'conditions.any[1].not.all[0].value' },
    ]);
    assert.deepEqual(
      missingListErrors(rule, new Set(['a'])).map((e) => e.path),
      ['conditions.any[1].not.all[0].value'],
    );
    assert.deepEqual(rulesUsing([rule], 'b'), ['r']);
    assert.deepEqual(rulesUsing([rule], 'c'), []);
  });
});
