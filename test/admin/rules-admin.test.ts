import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { RunningEngine } from '@risk/engine/bootstrap';
import { bigPaymentRule, EDITOR_KEY, embeddedEngineForSuite, paymentEvent, startTestEngine, tempDir, VIEWER_KEY } from './admin-support';

type Server = Parameters<typeof request>[0];

describe('rule administration over HTTP (embedded file store)', () => {
  const suite = embeddedEngineForSuite('risk-admin-');
  const editor = { 'x-api-key': EDITOR_KEY };
  const viewer = { 'x-api-key': VIEWER_KEY };

  it('enforces the API-key matrix on admin and data routes', async () => {
    await request(suite.http).get('/rules').expect(401);
    await request(suite.http).get('/rules').set('x-api-key', 'not-a-configured-key-at-all').expect(401);
    await request(suite.http).get('/rules').set(viewer).expect(200);
    const forbidden = await request(suite.http)
      .post('/rules')
      .set(viewer)
      .send(bigPaymentRule({ id: 'viewer-try' }))
      .expect(403);
    assert.match(forbidden.body.message as string, /victor.*needs role editor/);
    await request(suite.http).post('/rules/validate').set(viewer).send(bigPaymentRule()).expect(200);
    await request(suite.http).get('/audit').expect(401);
    await request(suite.http).get('/rulesets').set(viewer).expect(200);
    // Data routes: reads need a viewer key, ingest an editor key.
    await request(suite.http).get('/verdicts').expect(401);
    await request(suite.http).get('/verdicts').set(viewer).expect(200);
    await request(suite.http).get('/alerts').expect(401);
    await request(suite.http).get('/rejects').set(viewer).expect(200);
    await request(suite.http).post('/events').send(paymentEvent(1)).expect(401);
    await request(suite.http).post('/events').set(viewer).send(paymentEvent(1)).expect(403);
    await request(suite.http).post('/events').set(editor).send(paymentEvent(1)).expect(200);
    // Operations stay open.
    await request(suite.http).get('/health').expect(200);
    await request(suite.http).get('/ready').expect(200);
    await request(suite.http).get('/metrics').expect(200);
    await request(suite.http).get('/docs').expect(200);
  });

  it('walks a rule through create, decide, update, stale write, disable, shadow, delete, rollback and audit', async () => {
    const list = await request(suite.http).get('/rules').set(viewer).expect(200);
    const v1 = list.body.version as number;
    assert.equal(list.headers.etag, `"${v1}"`);
    assert.deepEqual(
      (list.body.rules as { id: string }[]).map((r) => r.id),
      ['device-and-city-change', 'ip-registration-farm', 'login-burst'],
    );

    const created = await request(suite.http)
      .post('/rules')
      .set(editor)
      .send({ ...bigPaymentRule(), base_version: v1 })
      .expect(201);
    const v2 = created.body.version as number;
    assert.equal(v2, v1 + 1);
    assert.equal(created.headers.etag, `"${v2}"`);
    await request(suite.http).post('/rules').set(editor).send(bigPaymentRule()).expect(409);

    // The instance that took the write decides with it at once.
    const decided = await request(suite.http).post('/events').set(editor).send(paymentEvent(5000)).expect(200);
    const verdict = decided.body.results[0].verdict;
    assert.equal(verdict.rules_version, v2);
    assert.deepEqual(
      verdict.rules.map((r: { id: string }) => r.id),
      ['big-payment'],
    );
    assert.equal(verdict.risk_level, 'HIGH');

    const updated = await request(suite.http)
      .put('/rules/big-payment')
      .set(editor)
      .set('If-Match', `"${v2}"`)
      .send(bigPaymentRule({ id: undefined, conditions: { all: [{ fact: 'amount', operator: 'greaterThan', value: 10000 }] } }))
      .expect(200);
    const v3 = updated.body.version as number;
    assert.equal(v3, v2 + 1);

    const stale = await request(suite.http)
      .put('/rules/big-payment')
      .set(editor)
      .set('If-Match', `"${v2}"`)
      .send(bigPaymentRule())
      .expect(409);
    assert.equal(stale.body.error, 'STALE_WRITE');
    assert.equal(stale.body.active_version, v3);
    assert.match(stale.body.message as string, /stale write/);

    const notFired = await request(suite.http).post('/events').set(editor).send(paymentEvent(5000)).expect(200);
    assert.deepEqual(notFired.body.results[0].verdict.rules, []);
    assert.equal(notFired.body.results[0].verdict.rules_version, v3);

    const disabled = await request(suite.http).post('/rules/big-payment/disable').set(editor).send({ base_version: v3 }).expect(200);
    assert.equal(disabled.body.rule.enabled, false);
    const v4 = disabled.body.version as number;
    const again = await request(suite.http).post('/rules/big-payment/disable').set(editor).expect(200);
    assert.equal(again.body.changed, false);
    assert.equal(again.body.version, v4);
    await request(suite.http).post('/rules/big-payment/enable').set(editor).expect(200);
    const shadow = await request(suite.http).post('/rules/big-payment/mode').set(editor).send({ mode: 'shadow' }).expect(200);
    const shadowVerdict = (await request(suite.http).post('/events').set(editor).send(paymentEvent(50_000)).expect(200)).body.results[0]
      .verdict;
    assert.equal(shadowVerdict.rules_version, shadow.body.version);
    assert.deepEqual(shadowVerdict.rules, []);
    assert.deepEqual(
      shadowVerdict.shadow_rules.map((r: { id: string }) => r.id),
      ['big-payment'],
    );

    const deleted = await request(suite.http)
      .delete(`/rules/big-payment?base_version=${shadow.body.version as number}`)
      .set(editor)
      .expect(200);
    await request(suite.http).get('/rules/big-payment').set(viewer).expect(404);

    // Rollback: re-activate version 2, where the rule exists with its first conditions.
    const rolled = await request(suite.http).post(`/rulesets/${v2}/activate`).set(editor).send({}).expect(200);
    assert.equal(rolled.body.previous_version, deleted.body.version);
    assert.equal((await request(suite.http).get('/health').expect(200)).body.rules_version, v2);
    const back = await request(suite.http).post('/events').set(editor).send(paymentEvent(5000)).expect(200);
    assert.deepEqual(
      back.body.results[0].verdict.rules.map((r: { id: string }) => r.id),
      ['big-payment'],
    );

    const sets = await request(suite.http).get('/rulesets').set(viewer).expect(200);
    assert.equal(sets.body.active, v2);
    assert.equal(sets.body.running, v2);
    assert.equal(sets.body.items[0].version, deleted.body.version);
    const stored = await request(suite.http).get(`/rulesets/${v3}`).set(viewer).expect(200);
    assert.equal(stored.body.action, 'update');
    assert.equal(stored.body.created_by, 'alice');
    await request(suite.http).get('/rulesets/999').set(viewer).expect(404);
    await request(suite.http).get('/rulesets/abc').set(viewer).expect(400);

    const audit = await request(suite.http).get('/audit?limit=3').set(viewer).expect(200);
    assert.deepEqual(
      audit.body.items.map((e: { action: string }) => e.action),
      ['activate', 'delete', 'set-mode'],
    );
    assert.equal(audit.body.items[0].actor, 'alice');
    assert.equal(audit.body.items[0].version, v2);
    assert.equal(audit.body.items[1].before.id, 'big-payment');
  });

  it('names the path of every validation error', async () => {
    const bad = bigPaymentRule({
      id: 'typo',
      conditions: {
        all: [
          { fact: 'amount', operator: 'greaterThan', value: 1 },
          { fact: 'distinct_device_1h', operator: 'greaterThan', value: 1 },
        ],
      },
    });
    const rejected = await request(suite.http).post('/rules').set(editor).send(bad).expect(400);
    assert.deepEqual(rejected.body.errors, [{ path: 'conditions.all[1].fact', message: 'unknown fact "distinct_device_1h"' }]);
    assert.match(rejected.body.message as string, /conditions\.all\[1\]\.fact: unknown fact "distinct_device_1h"/);

    const checked = await request(suite.http)
      .post('/rules/validate')
      .set(viewer)
      .send(bigPaymentRule({ mode: 'loud', conditions: { any: [{ fact: 'amount', operator: 'between', value: 1 }] } }))
      .expect(200);
    assert.equal(checked.body.valid, false);
    assert.deepEqual(
      checked.body.errors.map((e: { path: string }) => e.path),
      ['mode', 'conditions.any[0].operator'],
    );
    assert.deepEqual((await request(suite.http).post('/rules/validate').set(viewer).send(bigPaymentRule()).expect(200)).body, {
      valid: true,
      errors: [],
    });

    const unknownTop = await request(suite.http)
      .post('/rules')
      .set(editor)
      .send(bigPaymentRule({ id: 'x', colour: 'red' }))
      .expect(400);
    assert.ok(unknownTop.body.errors.some((e: { path: string }) => e.path === 'colour'));
    const huge = await request(suite.http)
      .post('/rules')
      .set(editor)
      .send(bigPaymentRule({ id: 'huge', description: 'x'.repeat(70_000) }))
      .expect(400);
    assert.match(huge.body.errors[0].message as string, /bytes, more than/);
    const many = { all: Array.from({ length: 101 }, () => ({ fact: 'amount', operator: 'greaterThan', value: 1 })) };
    const tooMany = await request(suite.http)
      .post('/rules')
      .set(editor)
      .send(bigPaymentRule({ id: 'many', conditions: many }))
      .expect(400);
    assert.ok(tooMany.body.errors.some((e: { message: string }) => /more than the 100 allowed/.test(e.message)));
    await request(suite.http)
      .put('/rules/login-burst')
      .set(editor)
      .set('If-Match', 'yesterday')
      .send(bigPaymentRule({ id: undefined }))
      .expect(400);
  });

  it('dry-runs a draft rule and the active rule set without deciding anything', async () => {
    const event = { event_id: 'dry-1', user_id: 'dry-user', event_type: 'login', event_time: '2026-11-20T10:00:00Z', device_id: 'd-2' };
    const active = await request(suite.http)
      .post('/rules/evaluate')
      .set(viewer)
      .send({ event, features: { distinct_devices_1h: 2, distinct_cities_1h: 2 } })
      .expect(200);
    assert.deepEqual(
      active.body.rules.map((r: { id: string }) => r.id),
      ['device-and-city-change'],
    );
    assert.equal(active.body.risk_level, 'HIGH');
    assert.equal(active.body.features.login_count_1h, 0);
    const explained = active.body.evaluated.find((r: { id: string }) => r.id === 'device-and-city-change');
    assert.deepEqual(explained.explanation[0], {
      path: 'conditions.all[0]',
      fact: 'distinct_devices_1h',
      operator: 'greaterThan',
      value: 1,
      fact_value: 2,
      result: true,
    });

    const draft = await request(suite.http)
      .post('/rules/evaluate')
      .set(viewer)
      .send({ event, rule: bigPaymentRule({ conditions: { all: [{ fact: 'device_id', operator: 'equal', value: 'd-2' }] } }) })
      .expect(200);
    assert.equal(draft.body.rules_version, null);
    assert.deepEqual(
      draft.body.rules.map((r: { id: string }) => r.id),
      ['big-payment'],
    );

    const invalid = await request(suite.http)
      .post('/rules/evaluate')
      .set(viewer)
      .send({ event: { ...event, event_time: 'never' }, features: { nope: 1 } })
      .expect(400);
    assert.deepEqual(invalid.body.errors.map((e: { path: string }) => e.path).sort(), ['event.event_time', 'features.nope']);
    await request(suite.http).get('/verdicts/dry-1').set(viewer).expect(404);
  });

  it('keeps versions and the audit trail across a restart of the embedded engine', async () => {
    const before = await request(suite.http).get('/rulesets').set(viewer).expect(200);
    const auditBefore = await request(suite.http).get('/audit').set(viewer).expect(200);
    await suite.restart();
    const afterRestart = await request(suite.http).get('/rulesets').set(viewer).expect(200);
    assert.equal(afterRestart.body.active, before.body.active);
    assert.equal(afterRestart.body.running, before.body.active);
    assert.deepEqual(afterRestart.body.items, before.body.items);
    const auditAfter = await request(suite.http).get('/audit').set(viewer).expect(200);
    assert.deepEqual(auditAfter.body, auditBefore.body);
    assert.equal((await request(suite.http).get('/health').expect(200)).body.rules_version, before.body.active);
  });
});

describe('rule administration without API keys', () => {
  const data = tempDir('risk-admin-nokeys-');
  let engine: RunningEngine;
  before(async () => {
    engine = await startTestEngine({ DATA_DIR: data.path });
  });
  after(async () => {
    await engine.close();
    data.remove();
  });

  it('allows reads and ingest but refuses rule changes, saying how to configure a key', async () => {
    const http = engine.app.getHttpServer() as Server;
    await request(http).get('/rules').expect(200);
    await request(http).get('/audit').expect(200);
    await request(http).post('/rules/validate').send(bigPaymentRule()).expect(200);
    const refused = await request(http).post('/rules').send(bigPaymentRule()).expect(403);
    assert.match(refused.body.message as string, /API_KEYS=name:editor:<key>/);
    await request(http).post('/rulesets/1/activate').send({}).expect(403);
    await request(http).delete('/rules/login-burst').expect(403);
    await request(http).post('/events').send(paymentEvent(1)).expect(200);
    await request(http).get('/verdicts').expect(200);
  });
});
