import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningEngine } from '@risk/engine/bootstrap';
import { rawRequest, type RawResponse } from '@test/support/raw-http';
import { API_KEYS, bigPaymentRule, EDITOR_KEY, startTestEngine, tempDir } from './admin-support';

const JSON_TYPE = { 'content-type': 'application/json' };
const EVENT = { event_id: 'dry-1', user_id: 'u-1', event_type: 'payment', event_time: '2026-11-20T10:00:00Z', amount: 5 };

/** `{"k":{"k":…1…}}` nested `levels` deep, as text (JSON.stringify would recurse). */
function nestedObject(levels: number, key = 'k'): string {
  return `{"${key}":`.repeat(levels) + '1' + '}'.repeat(levels);
}

/** A rule whose conditions nest `levels` `all` groups. */
function deepRule(levels: number): string {
  const leaf = '{"fact":"amount","operator":"greaterThan","value":1}';
  const conditions = '{"all":['.repeat(levels) + leaf + ']}'.repeat(levels);
  return JSON.stringify(bigPaymentRule({ id: 'deep', conditions: 'DEEP' })).replace('"DEEP"', conditions);
}

describe('admin API with hostile bodies and parameters', () => {
  const data = tempDir('risk-admin-hostile-');
  let engine: RunningEngine;
  const call = (method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<RawResponse> =>
    rawRequest(engine.url, method, path, body, { 'x-api-key': EDITOR_KEY, ...(body === undefined ? {} : JSON_TYPE), ...headers });
  const activeVersion = async (): Promise<number> => (await call('GET', '/rules')).body.version as number;
  const assert400 = (response: RawResponse, pattern: RegExp): void => {
    assert.equal(response.status, 400, response.text.slice(0, 400));
    assert.equal(response.body.retriable, false);
    assert.match(JSON.stringify(response.body.errors), pattern);
  };

  before(async () => {
    engine = await startTestEngine({ DATA_DIR: data.path, API_KEYS });
    // A second version, so that a misread "version 1" would be a visible rollback.
    assert.equal((await call('POST', '/rules', JSON.stringify(bigPaymentRule()))).status, 201);
  });
  after(async () => {
    await engine.close();
    data.remove();
  });

  it('answers 400 for a rule nested 5,000 levels deep on POST /rules and /rules/evaluate', async () => {
    const before = await activeVersion();
    assert400(await call('POST', '/rules', deepRule(5000)), /nesting is deeper than/);
    assert400(
      await call('POST', '/rules/evaluate', `{"event":${JSON.stringify(EVENT)},"rule":${deepRule(5000)}}`),
      /nesting is deeper than/,
    );
    assert400(await call('POST', '/rules/validate', deepRule(5000)), /nesting is deeper than/);
    assert.equal(await activeVersion(), before);
  });

  it('answers 400 for 20,000 levels inside event, features or a rule name, before class-transformer recurses', async () => {
    const deep = nestedObject(20_000);
    const event = JSON.stringify({ ...EVENT, location_city: 'x' }).replace('"x"', deep);
    assert400(await call('POST', '/rules/evaluate', `{"event":${event}}`), /nesting is deeper than/);
    assert400(await call('POST', '/rules/evaluate', `{"event":${JSON.stringify(EVENT)},"features":${deep}}`), /nesting is deeper than/);
    const named = JSON.stringify(bigPaymentRule({ id: 'deep-name', name: 'x' })).replace('"x"', deep);
    assert400(await call('POST', '/rules', named), /nesting is deeper than/);
    assert400(await call('PUT', '/rules/big-payment', named.replace('deep-name', 'big-payment')), /nesting is deeper than/);
    const health = await call('GET', '/health');
    assert.equal(health.status, 200);
  });

  it('refuses invalid UTF-8 and __proto__ keys in an admin body', async () => {
    const rule = Buffer.from(JSON.stringify(bigPaymentRule({ id: 'bad-bytes', name: 'PLACEHOLDER' })));
    const at = rule.indexOf('PLACEHOLDER');
    const badBytes = Buffer.concat([rule.subarray(0, at), Buffer.from([0xff, 0xfe]), rule.subarray(at + 'PLACEHOLDER'.length)]);
    const response = await call('POST', '/rules', badBytes);
    assert400(response, /not valid UTF-8/);
    assert.equal(response.body.error, 'INVALID_ENCODING');
    const polluted = JSON.stringify(bigPaymentRule({ id: 'proto' })).replace('"conditions":{', '"conditions":{"__proto__":{"all":[]},');
    assert400(await call('POST', '/rules', polluted), /__proto__/);
    assert.equal((await call('GET', '/rules/proto')).status, 404);
    assert.equal(({} as Record<string, unknown>).all, undefined, 'no prototype was polluted');
  });

  it('reads version parameters as plain decimal only: /rulesets/0x1/activate is a 400, not a rollback', async () => {
    const before = await activeVersion();
    assert.ok(before > 1);
    for (const version of ['0x1', '1e0', '01', '+1', '-1', '0', '1.0', '%201', '9007199254740993']) {
      assert400(await call('POST', `/rulesets/${version}/activate`, '{}'), /plain decimal/);
      assert.equal((await call('GET', `/rulesets/${version}`)).status, 400, version);
    }
    assert.equal(await activeVersion(), before, 'nothing was rolled back');
    assert.equal((await call('GET', '/rulesets/1')).status, 200);
  });

  it('answers 400, not 409, for a base version that is no safe positive integer', async () => {
    const before = await activeVersion();
    const huge = JSON.stringify(bigPaymentRule({ id: 'huge-base' })).replace(/}$/, ',"base_version":1e20}');
    assert400(await call('POST', '/rules', huge), /base_version/);
    assert400(await call('POST', '/rules/big-payment/disable', '{"base_version":1e20}'), /base_version/);
    assert400(await call('POST', '/rules/big-payment/disable', '{"base_version":0}'), /base_version/);
    assert400(await call('DELETE', '/rules/big-payment?base_version=1e20'), /base_version/);
    assert400(await call('DELETE', '/rules/big-payment?base_version=0x1'), /base_version/);
    assert.equal((await call('POST', '/rules/big-payment/disable', '{}', { 'if-match': '"0"' })).status, 400);
    assert.equal((await call('GET', '/audit?limit=0x10')).status, 400);
    assert.equal(await activeVersion(), before);
    // A stale but well-formed base version is still a 409.
    assert.equal((await call('POST', '/rules/big-payment/disable', `{"base_version":${before - 1}}`)).status, 409);
  });
});
