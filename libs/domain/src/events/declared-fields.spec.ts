import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../shared/errors';
import { parseFeatureDefinitions } from '../features/feature-definition';
import { knownFacts, loadFieldFile, loadRuleFiles } from '../rules/rule-files';
import { CompiledRuleSet } from '../rules/rule-compiler';
import type { RuleDefinition } from '../rules/rule';
import { decideVerdict } from '../verdicts/decide-verdict';
import { decodeEvent } from './event-decoder';
import { eventField, eventFieldReader, parseFieldDeclarations, type DeclaredField } from './declared-fields';

const FIELDS = parseFieldDeclarations({
  fields: [
    { name: 'card_id', type: 'string', max_length: 8 },
    { name: 'channel', type: 'string', enum: ['web', 'app', 'pos'] },
    { name: 'bin', type: 'string', min_length: 6, pattern: '^[0-9]+$' },
    { name: 'risk_score', type: 'number', min: 0, max: 100 },
    { name: 'items', type: 'number', integer: true, min: 1 },
    { name: 'is_vip', type: 'boolean' },
  ],
});
const valid = { event_id: 'e-1', user_id: 'u-1', event_type: 'payment', event_time: '2026-11-20T10:00:00Z' };

function decode(extra: Record<string, unknown>, fields: readonly DeclaredField[] = FIELDS) {
  return decodeEvent(JSON.stringify({ ...valid, ...extra }), fields);
}
function errorsOf(extra: Record<string, unknown>): Record<string, string> {
  const result = decode(extra);
  assert.equal(result.ok, false, 'expected a rejection');
  return Object.fromEntries((result as { errors: readonly { path: string; message: string }[] }).errors.map((e) => [e.path, e.message]));
}
function pathsOf(json: unknown): Record<string, string> {
  try {
    parseFieldDeclarations(json);
  } catch (error) {
    assert.ok(error instanceof InvalidInputError);
    assert.equal(error.code, 'INVALID_FIELDS');
    for (const e of error.errors) assert.ok(error.message.includes(`${e.path}: ${e.message}`), 'the message lists every path');
    return Object.fromEntries(error.errors.map((e) => [e.path, e.message]));
  }
  assert.fail('expected the declarations to be refused');
}

function regexpError(source: string): string {
  try {
    new RegExp(source, 'u');
  } catch (error) {
    return (error as Error).message;
  }
  return 'none';
}

describe('declared event fields: the fields.json parser', () => {
  it('reads every type with its limits and defaults (max_length 128, min_length 1)', () => {
    const [card, channel, , score, items, vip] = FIELDS;
    assert.deepEqual([card.name, card.type, card.maxLength, card.minLength], ['card_id', 'string', 8, 1]);
    assert.deepEqual(channel.enum, ['web', 'app', 'pos']);
    assert.equal(parseFieldDeclarations([{ name: 'merchant', type: 'string' }])[0].maxLength, 128);
    assert.deepEqual([score.min, score.max, score.integer], [0, 100, false]);
    assert.equal(items.integer, true);
    assert.equal(vip.type, 'boolean');
    assert.deepEqual(parseFieldDeclarations({ fields: [] }), []);
  });

  it('names each bad entry with its path', () => {
    assert.deepEqual(
      pathsOf({
        fields: [
          { name: 'card_id', type: 'string' },
          { name: 'amount', type: 'number' },
          { name: 'channel', type: 'text' },
          { name: 'card_id', type: 'string' },
          { name: '9lives', type: 'boolean' },
          { name: 'constructor', type: 'boolean' },
          'oops',
          { name: 'score', type: 'number', min: 10, max: 5, max_length: 3 },
          { name: 'bin', type: 'string', pattern: '([0-9]', enum: [], colour: 'red' },
          { name: 'tier', type: 'string', max_length: 3, enum: ['gold', 'ok', 'ok', 7] },
          { name: 'flag', type: 'boolean', enum: [true] },
          { name: 'event_time', type: 'string' },
        ],
      }),
      {
        'fields[1].name': '"amount" is a SPEC §1 field and cannot be redeclared',
        'fields[2].type': 'must be one of string, number, boolean',
        'fields[3].name': 'duplicate field "card_id"',
        'fields[4].name': 'must be an identifier matching ^[A-Za-z][A-Za-z0-9_]{0,63}$',
        'fields[5].name': '"constructor" is reserved',
        'fields[6]': 'must be an object',
        'fields[7].max_length': 'does not apply to type "number"',
        'fields[7].max': 'must be ≥ min (10)',
        'fields[8].colour': 'unknown property',
        'fields[8].pattern': `is not a valid regular expression: ${regexpError('([0-9]')}`,
        'fields[8].enum': 'must be a non-empty array of strings',
        'fields[9].enum[0]': 'must be at most 3 characters',
        'fields[9].enum[2]': 'duplicate value "ok"',
        'fields[9].enum[3]': 'must be a string, got number',
        'fields[10].enum': 'does not apply to type "boolean"',
        'fields[11].name': '"event_time" is a SPEC §1 field and cannot be redeclared',
      },
    );
    assert.deepEqual(pathsOf({ field: [] }), { fields: 'must be an array' });
  });

  it('refuses a declared field named like a feature, when loaded from a rules folder', () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-fields-'));
    writeFileSync(join(dir, 'fields.json'), JSON.stringify({ fields: [{ name: 'login_count_1h', type: 'number' }] }));
    const features = parseFeatureDefinitions([{ name: 'login_count_1h', entity: 'user_id', aggregate: 'count', window: '1h' }]);
    assert.throws(
      () => loadFieldFile(dir, features),
      (error: InvalidInputError) =>
        error.code === 'INVALID_FIELDS' && error.errors[0].path === 'fields[0].name' && /name of a feature/.test(error.message),
    );
    assert.deepEqual(loadFieldFile(mkdtempSync(join(tmpdir(), 'risk-fields-')), features), [], 'absent file: no declared fields');
  });

  it('refuses a pattern that could backtrack without bound, at fields[i].pattern, from a rules folder too', () => {
    const hostile = ['^(a+)+$', '^(a|a)*$', '^(\\w+\\s?)*$', '^(a)\\1$', '^(?=a)a$', '[0-9]+x'];
    const paths = pathsOf({ fields: hostile.map((pattern, i) => ({ name: `f${i}`, type: 'string', pattern })) });
    assert.deepEqual(
      Object.keys(paths),
      hostile.map((_, i) => `fields[${i}].pattern`),
    );
    for (const message of Object.values(paths)) assert.match(message, /^could backtrack without bound on a hostile value: /);
    assert.match(paths['fields[0].pattern'], /the repetition of a at offset 2 and what follows it can match the same character/);
    assert.match(paths['fields[3].pattern'], /backreferences/);
    assert.match(paths['fields[4].pattern'], /lookahead and lookbehind/);
    assert.match(paths['fields[5].pattern'], /must begin with \^/);

    const dir = mkdtempSync(join(tmpdir(), 'risk-fields-'));
    writeFileSync(join(dir, 'fields.json'), JSON.stringify({ fields: [{ name: 'card_bin', type: 'string', pattern: '^(\\d+)+$' }] }));
    assert.throws(
      () => loadFieldFile(dir, []),
      (error: InvalidInputError) =>
        error.code === 'INVALID_FIELDS' &&
        error.errors.length === 1 &&
        error.errors[0].path === 'fields[0].pattern' &&
        error.message.startsWith('invalid field declarations: fields[0].pattern: could backtrack without bound'),
    );
  });

  it('keeps ordinary patterns valid, matching as the u flag always did', () => {
    const cases: readonly [string, readonly string[], readonly string[]][] = [
      ['^[A-Z]{2}$', ['FR', 'DE'], ['F', 'FRA', 'fr', 'F1']],
      ['^\\d{6}$', ['497010', '000000'], ['49701', '4970101', '49701a', '٤٩٧٠١٠']],
      ['^[a-z0-9._-]+@[a-z0-9.-]+$', ['ann.lee_1@mail.example.com', 'x@y'], ['Ann@mail.com', '@mail.com', 'a@', 'a@b@c', 'a b@c']],
      ['^\\p{Lu}\\p{Ll}+$', ['Émile', 'Ögedei'], ['émile', 'E', 'EMILE']],
      ['^[😀-😏]{1,3}$', ['😀', '😏😀😃'], ['😐', '😀😀😀😀', 'a']],
    ];
    const fields = parseFieldDeclarations(cases.map(([pattern], i) => ({ name: `f${i}`, type: 'string', pattern })));
    cases.forEach(([source, matching, other], i) => {
      assert.deepEqual([fields[i].pattern?.source, fields[i].pattern?.flags], [source, 'u']);
      for (const value of matching) assert.ok(decode({ [`f${i}`]: value }, fields).ok, `${source} matches ${value}`);
      for (const value of other)
        assert.deepEqual(
          (decode({ [`f${i}`]: value }, fields) as { errors: unknown }).errors,
          [{ path: `f${i}`, message: `must match ${source}` }],
          `${source} refuses ${value}`,
        );
    });
  });

  it('keeps the example of docs/fields.md valid', () => {
    const doc = readFileSync(join(process.cwd(), 'docs', 'fields.md'), 'utf8');
    const block = /```json\n([\s\S]*?)```/.exec(doc);
    assert.ok(block, 'docs/fields.md holds a json example');
    const fields = parseFieldDeclarations(JSON.parse(block[1]));
    assert.deepEqual(
      fields.map((f) => f.name),
      ['card_id', 'card_bin', 'merchant_id', 'channel', 'risk_score', 'items', 'is_vip'],
    );
  });
});

describe('declared event fields: intake (decodeEvent)', () => {
  it('accepts each type within its limits and puts the values in event.fields', () => {
    const result = decode({ card_id: 'c-123', channel: 'app', bin: '4970101', risk_score: 0, items: 3, is_vip: false });
    assert.ok(result.ok);
    assert.deepEqual(result.event.fields, { card_id: 'c-123', channel: 'app', bin: '4970101', risk_score: 0, items: 3, is_vip: false });
    assert.equal(result.event.amount, undefined, 'SPEC fields unchanged');
    const edges = decode({ card_id: '😀'.repeat(8), risk_score: 100 });
    assert.ok(edges.ok, 'limits are inclusive and count characters');
  });

  it('treats absent, null and empty as absent, and ignores undeclared fields', () => {
    const result = decode({ card_id: '', channel: null, risk_score: '', is_vip: '', colour: 'red', nested: { a: 1 } });
    assert.ok(result.ok);
    assert.deepEqual(result.event.fields, {});
    assert.equal((result.event as unknown as Record<string, unknown>).colour, undefined);
  });

  it('leaves the event as it always was when no field is declared', () => {
    for (const fields of [undefined, []]) {
      const result = decodeEvent(JSON.stringify({ ...valid, card_id: 42 }), fields);
      assert.ok(result.ok, 'an undeclared field is ignored, whatever its type');
      assert.equal('fields' in result.event, false);
      assert.deepEqual(Object.keys(result.event), [
        'event_id',
        'user_id',
        'event_type',
        'event_time',
        'ip_address',
        'device_id',
        'location_city',
        'amount',
      ]);
    }
  });

  it('rejects a wrong type or a value out of its limits, one reason per field', () => {
    assert.deepEqual(errorsOf({ card_id: 42, channel: 'fax', bin: '49701', risk_score: '12', items: 1.5, is_vip: 'yes' }), {
      card_id: 'must be a string, got number',
      channel: 'must be one of web, app, pos',
      bin: 'must be at least 6 characters',
      risk_score: 'must be a finite number, got string',
      items: 'must be an integer',
      is_vip: 'must be true or false, got string',
    });
    assert.deepEqual(errorsOf({ card_id: 'c-123456789', bin: '49701a', risk_score: 101, items: 0 }), {
      card_id: 'must be at most 8 characters',
      bin: 'must match ^[0-9]+$',
      risk_score: 'must be ≤ 100',
      items: 'must be ≥ 1',
    });
    assert.deepEqual(errorsOf({ risk_score: -1, is_vip: 1, card_id: ['x'], channel: { web: true } }), {
      risk_score: 'must be ≥ 0',
      is_vip: 'must be true or false, got number',
      card_id: 'must be a string, got an array',
      channel: 'must be a string, got an object',
    });
    assert.match(errorsOf({ card_id: 'a\ud83d' }).card_id, /lone surrogate/);
  });

  it('reports declared fields after SPEC fields, with both kinds of problems together', () => {
    const result = decode({ amount: -1, risk_score: 500 });
    assert.equal(result.ok, false);
    assert.deepEqual(
      (result as { errors: readonly { path: string }[] }).errors.map((e) => e.path),
      ['amount', 'risk_score'],
    );
  });
});

describe('declared event fields: eventField and rules', () => {
  it('reads SPEC and declared fields by name', () => {
    const result = decode({ device_id: 'd-1', amount: 12, card_id: 'c-1', is_vip: true });
    assert.ok(result.ok);
    const event = result.event;
    assert.equal(eventField(event, 'device_id'), 'd-1');
    assert.equal(eventField(event, 'amount'), 12);
    assert.equal(eventField(event, 'card_id'), 'c-1');
    assert.equal(eventField(event, 'is_vip'), true);
    assert.equal(eventField(event, 'channel'), undefined, 'declared, absent');
    assert.equal(eventField(event, 'toString'), undefined, 'never a prototype member');
    assert.equal(eventFieldReader('event_time')(event), Date.UTC(2026, 10, 20, 10));
  });

  const rule = (id: string, conditions: RuleDefinition['conditions']): RuleDefinition => ({
    id,
    name: id,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions,
    event: { type: 'risk', params: { risk_level: 'HIGH', score: 60, reason: id } },
  });

  it('lets rules name declared fields as facts, and explains them', () => {
    const rules = [
      rule('vip-pos', {
        all: [
          { fact: 'channel', operator: 'equal', value: 'pos' },
          { fact: 'risk_score', operator: 'greaterThan', value: 50 },
        ],
      }),
      rule('not-vip', { not: { fact: 'is_vip', operator: 'equal', value: true } }),
    ];
    const compiled = new CompiledRuleSet({ version: 3, rules }, FIELDS);
    const decided = (extra: Record<string, unknown>) => {
      const result = decode(extra);
      assert.ok(result.ok);
      return decideVerdict(result.event, {}, false, compiled, 'now');
    };
    const hit = decided({ channel: 'pos', risk_score: 80, is_vip: true });
    assert.deepEqual(
      hit.rules.map((r) => r.id),
      ['vip-pos'],
    );
    assert.deepEqual(
      hit.rules[0].explanation.map((e) => [e.fact, e.fact_value, e.result]),
      [
        ['channel', 'pos', true],
        ['risk_score', 80, true],
      ],
    );
    // An absent declared fact is false for every operator (SPEC §4), so `not` of it holds.
    assert.deepEqual(
      decided({ channel: 'pos' }).rules.map((r) => r.id),
      ['not-vip'],
    );
    // An event decoded without declarations (no `fields`) reads every declared fact as absent.
    const bare = decodeEvent(JSON.stringify({ ...valid, channel: 'pos', risk_score: 80 }));
    assert.ok(bare.ok);
    assert.deepEqual(
      decideVerdict(bare.event, {}, false, compiled, 'now').rules.map((r) => r.id),
      ['not-vip'],
    );
  });

  it('refuses a rule on an undeclared fact, and accepts it once declared', () => {
    const dir = mkdtempSync(join(tmpdir(), 'risk-fields-rules-'));
    writeFileSync(join(dir, 'pos.json'), JSON.stringify(rule('pos', { all: [{ fact: 'channel', operator: 'equal', value: 'pos' }] })));
    assert.throws(() => loadRuleFiles(dir, knownFacts([])), /unknown fact "channel"/);
    writeFileSync(join(dir, 'fields.json'), JSON.stringify({ fields: [{ name: 'channel', type: 'string' }] }));
    const fields = loadFieldFile(dir, []);
    assert.deepEqual(
      loadRuleFiles(dir, knownFacts([], fields)).map((r) => r.id),
      ['pos'],
      'fields.json is not read as a rule',
    );
  });
});
