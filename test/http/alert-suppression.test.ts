import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import request from 'supertest';
import { EDITOR_KEY, VIEWER_KEY, bigPaymentRule, embeddedEngineForSuite } from '@test/admin/admin-support';

/** Event times two hours back from now, a minute apart: never ahead of the engine's clock. */
const T0 = Date.now() - 2 * 3_600_000;
const at = (minute: number): string => new Date(T0 + minute * 60_000).toISOString();

function payment(id: string, user: string, minute: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { event_id: id, user_id: user, event_type: 'payment', event_time: at(minute), amount: 5000, ...extra };
}

describe('alert suppression on the embedded engine (docs/suppression.md)', () => {
  const suite = embeddedEngineForSuite('risk-suppression-');
  const editor = { 'x-api-key': EDITOR_KEY };
  const viewer = { 'x-api-key': VIEWER_KEY };
  const send = async (event: Record<string, unknown>): Promise<{ alerted: boolean; verdict: Record<string, any> }> => {
    const response = await request(suite.http).post('/events').set(editor).send(event).expect(200);
    return { alerted: response.body.results[0].alerted as boolean, verdict: response.body.results[0].verdict as Record<string, any> };
  };
  const alertIds = async (): Promise<string[]> =>
    ((await request(suite.http).get('/alerts').set(viewer).expect(200)).body.items as { alert_id: string }[]).map((a) => a.alert_id);

  it('refuses bad cooldowns with a 400 naming each path', async () => {
    const response = await request(suite.http)
      .post('/rules')
      .set(editor)
      .send(bigPaymentRule({ cooldown: { key: 'login_count_1h', duration: '45d', every: 1 } }))
      .expect(400);
    assert.equal(response.body.error, 'INVALID_RULE');
    assert.deepEqual((response.body.errors as { path: string }[]).map((e) => e.path).sort(), [
      'cooldown.duration',
      'cooldown.every',
      'cooldown.key',
    ]);
    const validated = await request(suite.http)
      .post('/rules/validate')
      .set(viewer)
      .send(bigPaymentRule({ cooldown: '30m' }))
      .expect(200);
    assert.deepEqual(validated.body.errors, [
      { path: 'cooldown', message: 'must be an object {"key": "<string event field>", "duration": "30m"}' },
    ]);
  });

  it('a cooldown rule alerts once per user per 30 minutes of event time; the suppressed verdict is stored, not alerted', async () => {
    const created = await request(suite.http)
      .post('/rules')
      .set(editor)
      .send(bigPaymentRule({ cooldown: { key: 'user_id', duration: '30m' } }))
      .expect(201);
    assert.deepEqual(created.body.rule.cooldown, { key: 'user_id', duration: '30m' });

    assert.equal((await send(payment('cd-1', 'u-cd', 0))).alerted, true);
    const answer = await request(suite.http)
      .post('/events')
      .set(editor)
      .send(payment('cd-2', 'u-cd', 10))
      .expect(200);
    // The answer counts the four outcomes only (no internal breakdown): suppression shows per item.
    assert.deepEqual(answer.body.counts, { accepted: 1, late: 0, duplicate: 0, rejected: 0 });
    const second = answer.body.results[0] as { alerted: boolean; verdict: Record<string, any> };
    assert.equal(second.alerted, false);
    assert.equal(second.verdict.risk_level, 'HIGH');
    assert.equal(second.verdict.suppressed, true);
    assert.deepEqual(Object.keys(second.verdict).slice(-4), ['rules_version', 'suppressed', 'suppression', 'decided_at']);
    assert.equal(second.verdict.suppression.kind, 'cooldown');
    assert.equal(second.verdict.suppression.rule_id, 'big-payment');
    assert.equal(second.verdict.suppression.entity, 'user_id:u-cd');
    assert.equal(second.verdict.suppression.until, at(30));
    assert.equal((await send(payment('cd-3', 'u-cd', 30))).alerted, true, 'the cooldown ends 30 minutes of event time later');

    const stored = await request(suite.http).get('/verdicts/cd-2').set(viewer).expect(200);
    assert.equal(stored.body.suppressed, true);
    assert.equal(stored.body.suppression.kind, 'cooldown');
    const ordinary = await request(suite.http).get('/verdicts/cd-1').set(viewer).expect(200);
    assert.equal('suppressed' in ordinary.body, false);
    const alerts = await alertIds();
    assert.ok(alerts.includes('cd-1') && alerts.includes('cd-3'));
    assert.ok(!alerts.includes('cd-2'), 'a suppressed verdict publishes no alert');
  });

  it('snoozes an entity for every rule with a reason, lists, deletes and audits it', async () => {
    const office = { ip_address: '203.0.113.7' };
    const bad = await request(suite.http)
      .post('/snoozes')
      .set(editor)
      .send({ key: 'amount', value: '', rule_id: 'no-such-rule', duration: '2y', reason: ' ', extra: true })
      .expect(400);
    assert.equal(bad.body.error, 'INVALID_SNOOZE');
    assert.deepEqual((bad.body.errors as { path: string }[]).map((e) => e.path).sort(), [
      'duration',
      'extra',
      'key',
      'reason',
      'rule_id',
      'value',
    ]);
    await request(suite.http)
      .post('/snoozes')
      .set(viewer)
      .send({ key: 'ip_address', value: '1.2.3.4', duration: '1h', reason: 'x' })
      .expect(403);

    const created = await request(suite.http)
      .post('/snoozes')
      .set(editor)
      .send({ key: 'ip_address', value: office.ip_address, duration: '2h', reason: 'office NAT, ticket 4711' })
      .expect(201);
    const snooze = created.body as { id: string; rule_id: null; created_by: string; expires_at: string };
    assert.equal(snooze.rule_id, null);
    assert.equal(snooze.created_by, 'alice');
    const listed = await request(suite.http).get('/snoozes').set(viewer).expect(200);
    assert.deepEqual(
      (listed.body.items as { id: string }[]).map((s) => s.id),
      [snooze.id],
    );

    const held = await send(payment('sz-1', 'u-sz', 0, office));
    assert.equal(held.alerted, false);
    assert.equal(held.verdict.suppression.kind, 'snooze');
    assert.equal(held.verdict.suppression.rule_id, null);
    assert.equal(held.verdict.suppression.entity, 'ip_address:203.0.113.7');
    assert.equal(held.verdict.suppression.until, snooze.expires_at);
    assert.match(held.verdict.suppression.reason as string, /office NAT, ticket 4711/);
    assert.equal((await send(payment('sz-2', 'u-other', 0, { ip_address: '203.0.113.8' }))).alerted, true, 'another IP is not snoozed');

    await request(suite.http)
      .delete(`/snoozes/${snooze.id}?reason=${'x'.repeat(1025)}`)
      .set(editor)
      .expect(400);
    await request(suite.http).delete(`/snoozes/${snooze.id}?reason=NAT%20moved`).set(editor).expect(200);
    await request(suite.http).delete(`/snoozes/${snooze.id}`).set(editor).expect(404);
    assert.deepEqual((await request(suite.http).get('/snoozes').set(viewer).expect(200)).body.items, []);
    // The snoozed alert started no cooldown: the next one goes out.
    assert.equal((await send(payment('sz-3', 'u-sz', 1, office))).alerted, true);

    const audit = await request(suite.http).get('/snoozes/audit').set(viewer).expect(200);
    assert.equal(audit.body.total, 2);
    assert.deepEqual(
      (audit.body.items as { action: string; actor: string; reason?: string; snooze: { id: string; reason: string } }[]).map((e) => [
        e.action,
        e.actor,
        e.snooze.id,
        e.snooze.reason,
        e.reason ?? null,
      ]),
      [
        ['delete', 'alice', snooze.id, 'office NAT, ticket 4711', 'NAT moved'],
        ['create', 'alice', snooze.id, 'office NAT, ticket 4711', null],
      ],
    );
    const alerts = await alertIds();
    assert.ok(!alerts.includes('sz-1') && alerts.includes('sz-3'));
  });

  it('answers hostile snooze requests with a 400 naming the problem, never a 5xx', async () => {
    const post = (body: string) => request(suite.http).post('/snoozes').set(editor).set('content-type', 'application/json').send(body);
    const cases: [string, RegExp][] = [
      ['[1, 2]', /"path":"\$"/],
      ['"snooze"', /"path":"\$"/],
      ['{"k":'.repeat(2000) + '1' + '}'.repeat(2000), /BODY_TOO_DEEP|nest/i],
      ['{"__proto__": {"key": "user_id"}}', /__proto__/],
      [JSON.stringify({ key: 'user_id', value: 'x'.repeat(129), duration: '1h', reason: 'r' }), /"path":"value"/],
      [JSON.stringify({ key: 'user_id', value: 'u', duration: 3_600_000, reason: 'r' }), /"path":"duration"/],
      [
        JSON.stringify({ key: { $ne: 1 }, value: ['u'], rule_id: 7, duration: '1h', reason: 'r' }),
        /"path":"key".*"path":"value".*"path":"rule_id"/,
      ],
    ];
    for (const [body, pattern] of cases) {
      const response = await post(body);
      assert.equal(response.status, 400, `${body.slice(0, 60)}: ${response.text.slice(0, 200)}`);
      assert.match(JSON.stringify(response.body), pattern);
    }
    await request(suite.http).delete('/snoozes/%00%2F..').set(editor).expect(404);
    assert.deepEqual((await request(suite.http).get('/snoozes').set(viewer).expect(200)).body.items, []);
  });

  it('counts suppressed alerts by kind in the metrics', async () => {
    const metrics = (await request(suite.http).get('/metrics').expect(200)).text;
    assert.ok(/risk_engine_alerts_suppressed_total\{kind="cooldown"\} 1\b/.test(metrics), 'cooldown counter');
    assert.ok(/risk_engine_alerts_suppressed_total\{kind="snooze"\} 1\b/.test(metrics), 'snooze counter');
  });
});
