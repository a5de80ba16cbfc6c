import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import { quietLogger, testConfig } from '@test/support/engine-process';
import { TestRedisServer } from '@test/support/redis-server';

/**
 * Investigation helpers over HTTP (docs/investigation.md) with the embedded
 * verdict store (SQLite): rule statistics, the shadow-rule filter, the
 * rule-hit metric, an entity's live features, and a dry run on live state
 * that leaves no trace; on the memory state and on a real redis-server.
 */

const T = (minute: number): string => new Date(Date.UTC(2026, 10, 20, 9, minute)).toISOString();

/** The shipped rules plus a shadow rule firing on every payment. */
function rulesWithShadowRule(): string {
  const dir = mkdtempSync(join(tmpdir(), 'risk-investigation-rules-'));
  for (const name of readdirSync(join(process.cwd(), 'rules'))) copyFileSync(join(process.cwd(), 'rules', name), join(dir, name));
  writeFileSync(
    join(dir, 'any-payment.json'),
    JSON.stringify({
      id: 'any-payment',
      name: 'Every payment (shadow)',
      enabled: true,
      mode: 'shadow',
      priority: 1,
      conditions: { all: [{ fact: 'event_type', operator: 'equal', value: 'payment' }] },
      event: { type: 'risk', params: { risk_level: 'HIGH', score: 50, reason: 'payment' } },
    }),
  );
  // With a cooldown (docs/suppression.md): the second hit within 30 minutes publishes no alert.
  writeFileSync(
    join(dir, 'ann-watch.json'),
    JSON.stringify({
      id: 'ann-watch',
      name: 'Watch list: ann',
      enabled: true,
      mode: 'active',
      priority: 1,
      conditions: { all: [{ fact: 'user_id', operator: 'equal', value: 'ann' }] },
      event: { type: 'risk', params: { risk_level: 'HIGH', score: 70, reason: 'watched user' } },
      cooldown: { key: 'user_id', duration: '30m' },
    }),
  );
  return dir;
}

const EVENTS = [
  { event_id: 'i-0', user_id: 'max', event_type: 'register', event_time: T(1), ip_address: '10.1.1.1' },
  {
    event_id: 'i-1',
    user_id: 'zoe',
    event_type: 'login',
    event_time: T(0),
    device_id: 'd1',
    location_city: 'Paris',
    ip_address: '10.1.1.1',
  },
  { event_id: 'i-2', user_id: 'zoe', event_type: 'payment', event_time: T(2), amount: 40, device_id: 'd1', location_city: 'Paris' },
  {
    event_id: 'i-3',
    user_id: 'zoe',
    event_type: 'login',
    event_time: T(5),
    device_id: 'd2',
    location_city: 'Rome',
    ip_address: '10.1.1.1',
  },
  { event_id: 'i-4', user_id: 'max', event_type: 'payment', event_time: T(6), amount: 10, ip_address: '10.1.1.1' },
  { event_id: 'i-6', user_id: 'ann', event_type: 'login', event_time: T(10) },
  { event_id: 'i-7', user_id: 'ann', event_type: 'login', event_time: T(12) },
];

function scenario(name: string, env: () => Record<string, string>): void {
  describe(`investigation helpers, ${name}`, () => {
    let engine: RunningEngine;
    const get = async (path: string): Promise<{ status: number; body: any }> => {
      const response = await fetch(`${engine.url}${path}`);
      const text = await response.text();
      return { status: response.status, body: response.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
    };
    const post = async (path: string, body: unknown, type = 'application/json'): Promise<{ status: number; body: any }> => {
      const response = await fetch(`${engine.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': type },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: response.status, body: await response.json() };
    };
    const ingest = (events: readonly object[]) =>
      post('/events', events.map((e) => JSON.stringify(e)).join('\n') + '\n', 'application/x-ndjson');

    before(async () => {
      engine = await startEngine(testConfig({ RULES_DIR: rulesWithShadowRule(), ...env() }), quietLogger());
      const answer = await ingest(EVENTS);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.results[3].verdict.risk_level, 'HIGH');
      assert.equal(answer.body.results[6].verdict.suppressed, true, JSON.stringify(answer.body.results[6]));
    });
    after(async () => {
      await engine?.close();
    });

    it('GET /rules/stats: per rule and mode from the verdict store; a bad range is a 400 naming the parameter', async () => {
      const stats = await get(`/rules/stats?from=${T(0)}&to=${T(60)}`);
      assert.equal(stats.status, 200, JSON.stringify(stats.body));
      assert.deepEqual(stats.body, {
        from: T(0),
        to: T(60),
        rules: [
          { rule_id: 'ann-watch', mode: 'active', hits: 2, alerts_raised: 1, suppressed: 1, last_hit: T(12) },
          { rule_id: 'any-payment', mode: 'shadow', hits: 2, alerts_raised: 0, suppressed: 0, last_hit: T(6) },
          { rule_id: 'device-and-city-change', mode: 'active', hits: 1, alerts_raised: 1, suppressed: 0, last_hit: T(5) },
        ],
      });
      assert.deepEqual((await get(`/rules/stats?from=${T(3)}&to=${T(5)}`)).body.rules, [], '[from, to) excludes T(5)');
      const bad = await get('/rules/stats?from=yesterday');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.errors[0].path, 'from');
      const reversed = await get(`/rules/stats?from=${T(5)}&to=${T(0)}`);
      assert.equal(reversed.status, 400);
      assert.deepEqual(reversed.body.errors, [{ path: 'from', message: 'must be before to' }]);
      const tooLong = await get(`/rules/stats?from=2026-01-01T00:00:00Z&to=${T(0)}`);
      assert.equal(tooLong.status, 400);
    });

    it('GET /verdicts?shadow_rule_id= and the rule-hit counters in /metrics', async () => {
      const page = await get('/verdicts?shadow_rule_id=any-payment');
      assert.deepEqual(
        page.body.items.map((v: any) => v.event_id),
        ['i-4', 'i-2'],
      );
      assert.deepEqual((await get('/verdicts?shadow_rule_id=device-and-city-change')).body.items, [], 'an active rule is no shadow hit');
      const metrics = (await get('/metrics')).body as string;
      assert.match(metrics, /risk_engine_rule_hits_total\{rule_id="any-payment",mode="shadow",rules_version="1"\} 2\n/);
      assert.match(metrics, /risk_engine_rule_hits_total\{rule_id="device-and-city-change",mode="active",rules_version="1"\} 1\n/);
    });

    it("GET /entities/:key/:value/features: the entity's features as of its latest event", async () => {
      const zoe = await get('/entities/user_id/zoe/features');
      assert.equal(zoe.status, 200, JSON.stringify(zoe.body));
      assert.equal(zoe.body.as_of, T(5));
      assert.equal(zoe.body.features.distinct_devices_1h, 2);
      assert.equal(zoe.body.features.distinct_cities_1h, 2);
      assert.equal(zoe.body.features.login_count_1h, 2);
      assert.equal(zoe.body.features.payment_amount_24h, 40);
      assert.deepEqual(zoe.body.latest_values.device_changed, { value: 'd2', event_time: T(5) });
      const ip = await get('/entities/ip_address/10.1.1.1/features');
      assert.deepEqual(ip.body, {
        entity: 'ip_address',
        value: '10.1.1.1',
        as_of: T(1),
        features: { ip_registrations_10m: 1 },
        latest_values: {},
      });
      const device = await get('/entities/device_id/d1/features');
      assert.equal(device.body.as_of, T(2));
      assert.equal(device.body.features.device_distinct_users_24h, 1);
      // Its events took part in no feature keyed on it (no registration from this IP): nothing is stored.
      assert.equal((await get('/entities/ip_address/10.9.9.9/features')).status, 404);
      assert.equal((await get('/entities/user_id/nobody/features')).status, 404);
      const unknownKey = await get('/entities/card_id/c-1/features');
      assert.equal(unknownKey.status, 400);
      assert.equal(unknownKey.body.errors[0].path, 'key');
      const tooLong = await get(`/entities/user_id/${'x'.repeat(300)}/features`);
      assert.equal(tooLong.status, 400);
      assert.equal(tooLong.body.errors[0].path, 'value');
      const composite = await get('/entities/user_id+device_id/zoe|d1/features');
      assert.equal(composite.status, 400, 'no feature is keyed on the pair in the shipped rules: the key is named first');
      assert.equal((await get('/entities/user_id/%E0%A4%A/features')).status, 400, 'a malformed escape is a 400, not a 500');
    });

    it('POST /rules/evaluate with an event alone uses the live state and leaves no trace', async () => {
      const event = { event_id: 'i-5', user_id: 'zoe', event_type: 'login', event_time: T(8), device_id: 'd3', location_city: 'Oslo' };
      const first = await post('/rules/evaluate', { event });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assert.equal(first.body.features_from, 'live_state');
      assert.equal(first.body.features.distinct_devices_1h, 3);
      assert.equal(first.body.features.device_changed, true);
      assert.equal(first.body.risk_level, 'HIGH');
      const second = await post('/rules/evaluate', { event });
      assert.deepEqual(second.body, first.body, 'a second identical evaluate gives the same answer');
      const typed = await post('/rules/evaluate', { event, features: {} });
      assert.equal(typed.body.features_from, 'request');
      assert.equal(typed.body.features.distinct_devices_1h, 0);
      const zoe = await get('/entities/user_id/zoe/features');
      assert.equal(zoe.body.as_of, T(5), 'the dry run moved nothing');
      const real = await ingest([event]);
      assert.equal(real.body.results[0].outcome, 'accepted', 'no dedup record was left');
      assert.deepEqual(real.body.results[0].verdict.features, first.body.features);
    });
  });
}

scenario('memory state', () => ({}));

describe('with a real redis-server', () => {
  let redis: TestRedisServer;
  before(async () => {
    redis = await TestRedisServer.start();
  });
  after(async () => {
    await redis?.dispose();
  });
  scenario('Redis state', () => ({ REDIS_URL: redis.url }));
});
