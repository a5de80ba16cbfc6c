import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';

/**
 * `risk-engine replay --rules <dir>` with declared event fields
 * (docs/fields.md), and with a rules folder that has no features.json
 * (issue 13 item 4): the shipped default features apply, said on stderr.
 */
const cli = join(__dirname, '..', '..', 'apps', 'cli', 'src', 'main.js');
const shipped = join(process.cwd(), 'rules');

function run(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A rules folder with the shipped files, minus `leaveOut`, plus `extra` (name → JSON). */
function rulesFolder(leaveOut: string[], extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'risk-replay-rules-'));
  for (const name of readdirSync(shipped)) if (!leaveOut.includes(name)) copyFileSync(join(shipped, name), join(dir, name));
  for (const [name, json] of Object.entries(extra)) writeFileSync(join(dir, name), JSON.stringify(json));
  return dir;
}

const FIELDS = {
  fields: [
    { name: 'card_id', type: 'string', max_length: 16 },
    { name: 'channel', type: 'string', enum: ['web', 'app', 'pos'] },
    { name: 'risk_score', type: 'number', min: 0, max: 100 },
  ],
};
const RISKY_POS = {
  id: 'risky-pos',
  name: 'High upstream score at a point of sale',
  enabled: true,
  mode: 'active',
  priority: 2,
  conditions: {
    all: [
      { fact: 'channel', operator: 'equal', value: 'pos' },
      { fact: 'risk_score', operator: 'greaterThanInclusive', value: 90 },
    ],
  },
  event: { type: 'risk', params: { risk_level: 'HIGH', score: 70, reason: 'upstream score ≥ 90 at a POS' } },
};

describe('replay with declared event fields', () => {
  const dir = mkdtempSync(join(tmpdir(), 'risk-replay-fields-'));
  const base = { user_id: 'u-1', event_type: 'payment', amount: 5 };
  const lines = [
    { ...base, event_id: 'r-1', event_time: '2026-11-20T10:00:00Z', channel: 'pos', risk_score: 95, card_id: 'c-1' },
    { ...base, event_id: 'r-2', event_time: '2026-11-20T10:01:00Z', channel: 'pos', risk_score: 101 },
    { ...base, event_id: 'r-3', event_time: '2026-11-20T10:02:00Z', channel: 'web', risk_score: 99, card_id: 12 },
    { ...base, event_id: 'r-4', event_time: '2026-11-20T10:03:00Z', channel: '', risk_score: null, shoe_size: 'huge' },
  ].map((e) => JSON.stringify(e));

  it('writes the reason of a bad declared field to the rejects file, and fires a rule on declared facts', () => {
    const input = join(dir, 'events.ndjson');
    writeFileSync(input, lines.join('\n') + '\n');
    const output = join(dir, 'verdicts.ndjson');
    const rejects = join(dir, 'rejects.ndjson');
    const rules = rulesFolder([], { 'fields.json': FIELDS, 'risky-pos.json': RISKY_POS });
    const result = run([
      'replay',
      '--rules',
      rules,
      '--input',
      input,
      '--output',
      output,
      '--rejects',
      rejects,
      '--now',
      '2026-11-20T11:00:00Z',
    ]);
    assert.equal(result.status, 0, result.stderr);
    assert.doesNotMatch(result.stderr, /shipped default features/, 'the folder has its features.json');
    const verdicts = readFileSync(output, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      verdicts.map((v) => [v.event_id, v.rules.map((r: any) => r.id)]),
      [
        ['r-1', ['risky-pos']],
        ['r-4', []],
      ],
    );
    const rejected = readFileSync(rejects, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      rejected.map((r) => [r.line, r.errors]),
      [
        [2, [{ path: 'risk_score', message: 'must be ≤ 100' }]],
        [3, [{ path: 'card_id', message: 'must be a string, got number' }]],
      ],
    );
    assert.equal(rejected[0].raw, lines[1], 'the original line is kept');
  });

  it('refuses a bad fields.json with exit 2, naming each bad entry with its path', () => {
    const rules = rulesFolder([], {
      'fields.json': {
        fields: [
          { name: 'card_id', type: 'string' },
          { name: 'channel', type: 'text' },
          { name: 'amount', type: 'number' },
        ],
      },
    });
    const result = run(['replay', '--rules', rules, '--input', '-', '--output', '-'], lines[0] + '\n');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /fields\[1\]\.type: must be one of string, number, boolean/);
    assert.match(result.stderr, /fields\[2\]\.name: "amount" is a SPEC §1 field and cannot be redeclared/);
  });

  it('refuses a bad features.json with exit 2, naming each bad feature field with its path (issue 13 item 3)', () => {
    const rules = rulesFolder(['features.json'], {
      'features.json': {
        features: [
          { name: 'logins_1h', entity: 'user_id', aggregate: 'count', window: '1h' },
          { name: 'bad_entity', entity: 'card', aggregate: 'count', window: '1h' },
          { name: 'bad_window', entity: 'user_id', aggregate: 'sum', field: 'amount', window: 'soon' },
        ],
      },
    });
    const result = run(['replay', '--rules', rules, '--input', '-', '--output', '-'], lines[0] + '\n');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /features\[1\]\.entity: must be one of/);
    assert.match(result.stderr, /features\[2\]\.window: must be a positive duration/);
  });

  it('refuses a rule on an undeclared fact', () => {
    const rules = rulesFolder([], { 'risky-pos.json': RISKY_POS });
    const result = run(['replay', '--rules', rules, '--input', '-', '--output', '-'], lines[0] + '\n');
    assert.equal(result.status, 2);
    assert.match(result.stderr, /risky-pos\.json: conditions\.all\[0\]\.fact: unknown fact "channel"/);
  });
});

describe('replay --rules <dir> without features.json (issue 13 item 4)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'risk-replay-fallback-'));
  const input = join(dir, 'events.ndjson');
  before(() => {
    const generated = run(['generate', '--events', '5000', '--seed', '11']);
    assert.equal(generated.status, 0, generated.stderr);
    writeFileSync(input, generated.stdout);
  });

  it('falls back to the shipped default features, says so on stderr, and decides as the shipped rules folder does', () => {
    const strip = (text: string): string => text.replace(/"decided_at":"[^"]*"/g, '');
    const reference = run(['replay', '--rules', shipped, '--input', input, '--output', '-', '--now', '2030-01-01T00:00:00Z']);
    assert.equal(reference.status, 0, reference.stderr);
    const rules = rulesFolder(['features.json']);
    const fallback = run(['replay', '--rules', rules, '--input', input, '--output', '-', '--now', '2030-01-01T00:00:00Z']);
    assert.equal(fallback.status, 0, fallback.stderr);
    const names = (JSON.parse(readFileSync(join(shipped, 'features.json'), 'utf8')) as { features: { name: string }[] }).features.map(
      (f) => f.name,
    );
    assert.ok(
      fallback.stderr.includes(`replay: ${rules} has no features.json: using the shipped default features (${names.join(', ')})`),
      fallback.stderr,
    );
    assert.doesNotMatch(reference.stderr, /shipped default features/);
    assert.ok(reference.stdout.length > 0);
    assert.equal(strip(fallback.stdout), strip(reference.stdout), 'the same verdicts');
  });
});
