import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import { quietLogger, testConfig } from '@test/support/engine-process';
import { paymentsOf, postNdjson, type EventsAnswer } from '@test/support/ndjson-events';

const EDITOR_KEY = 'editor-key-0123456789abcdef';

/** The shipped rules plus a fields.json and a rule on two declared fields. */
function rulesWithDeclaredFields(): string {
  const dir = mkdtempSync(join(tmpdir(), 'risk-fields-rules-'));
  for (const name of readdirSync(join(process.cwd(), 'rules'))) copyFileSync(join(process.cwd(), 'rules', name), join(dir, name));
  writeFileSync(
    join(dir, 'fields.json'),
    JSON.stringify({
      fields: [
        { name: 'card_id', type: 'string', max_length: 16 },
        { name: 'channel', type: 'string', enum: ['web', 'app', 'pos'] },
        { name: 'risk_score', type: 'number', min: 0, max: 100 },
        { name: 'is_vip', type: 'boolean' },
      ],
    }),
  );
  writeFileSync(
    join(dir, 'risky-pos.json'),
    JSON.stringify({
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
    }),
  );
  return dir;
}

describe('declared event fields over HTTP (docs/fields.md)', () => {
  let engine: RunningEngine;
  const event = paymentsOf('u-fields', Date.now());
  const post = (events: Record<string, unknown>[]): Promise<EventsAnswer> => postNdjson(engine.url, events, { 'x-api-key': EDITOR_KEY });
  const admin = async (path: string, body: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${engine.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': EDITOR_KEY },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };

  before(async () => {
    engine = await startEngine(testConfig({ RULES_DIR: rulesWithDeclaredFields(), API_KEYS: `alice:editor:${EDITOR_KEY}` }), quietLogger());
  });
  after(async () => {
    await engine?.close();
  });

  it('answers 400 naming the line and the declared field, and applies nothing', async () => {
    const answer = await post([
      event('f-ok', { channel: 'web' }),
      event('f-bad', { channel: 'fax', risk_score: '12', card_id: 'c-1' }),
      event('f-bad-2', { is_vip: 'yes' }),
    ]);
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'INVALID_EVENTS');
    assert.deepEqual(answer.body.errors, [
      { path: 'line 2: channel', message: 'must be one of web, app, pos' },
      { path: 'line 2: risk_score', message: 'must be a finite number, got string' },
      { path: 'line 3: is_vip', message: 'must be true or false, got string' },
    ]);
    const verdict = await fetch(`${engine.url}/verdicts/f-ok`, { headers: { 'x-api-key': EDITOR_KEY } });
    assert.equal(verdict.status, 404, 'the valid line of a refused body was not applied');
    const rejects = (await (await fetch(`${engine.url}/rejects`, { headers: { 'x-api-key': EDITOR_KEY } })).json()) as any;
    const text = JSON.stringify(rejects);
    assert.match(text, /must be one of web, app, pos/, 'the reject is kept with its reason');
  });

  it('decides with a rule on declared facts; absent, empty and undeclared fields are fine', async () => {
    const answer = await post([
      event('f-1', { channel: 'pos', risk_score: 95, is_vip: false, colour: { any: 'thing' } }),
      event('f-2', { channel: 'pos', risk_score: 80 }),
      event('f-3', { channel: '', risk_score: null, card_id: '' }),
    ]);
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const fired = answer.body.results.map((r: any) => r.verdict.rules.map((rule: any) => rule.id));
    assert.deepEqual(fired, [['risky-pos'], [], []]);
    const explanation = answer.body.results[0].verdict.rules[0].explanation;
    assert.deepEqual(
      explanation.map((e: any) => [e.fact, e.fact_value, e.result]),
      [
        ['channel', 'pos', true],
        ['risk_score', 95, true],
      ],
    );
  });

  it('validates admin rules against the declared fields: declared facts accepted, undeclared ones still refused', async () => {
    const rule = (fact: string): Record<string, unknown> => ({
      id: `vip-${fact}`,
      name: 'vip',
      enabled: true,
      mode: 'shadow',
      priority: 1,
      conditions: { all: [{ fact, operator: 'equal', value: true }] },
      event: { type: 'risk', params: { risk_level: 'LOW', score: 0, reason: 'vip' } },
    });
    const declared = await admin('/rules/validate', rule('is_vip'));
    assert.equal(declared.status, 200);
    assert.deepEqual(declared.body, { valid: true, errors: [] });
    const undeclared = await admin('/rules/validate', rule('is_gold'));
    assert.deepEqual(undeclared.body.errors, [{ path: 'conditions.all[0].fact', message: 'unknown fact "is_gold"' }]);
    const dryRun = await admin('/rules/evaluate', { rule: rule('is_vip'), event: event('f-dry', { is_vip: true }) });
    assert.equal(dryRun.status, 200, JSON.stringify(dryRun.body));
    assert.equal(dryRun.body.evaluated[0].fired, true);
    assert.equal(dryRun.body.event.is_vip, true);
    const badDryRun = await admin('/rules/evaluate', { rule: rule('is_vip'), event: event('f-dry-2', { is_vip: 1 }) });
    assert.equal(badDryRun.status, 400);
    assert.deepEqual(badDryRun.body.errors, [{ path: 'event.is_vip', message: 'must be true or false, got number' }]);
  });
});
