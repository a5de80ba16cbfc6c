import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import { TestElasticsearchNode } from '@test/support/elasticsearch-node';
import { quietLogger, testConfig } from '@test/support/engine-process';
import { TestRedisServer } from '@test/support/redis-server';

/**
 * The service with REDIS_URL and ELASTICSEARCH_NODE set: state in a real
 * redis-server, verdicts in a real Elasticsearch 8 node, all over real sockets.
 */
describe('engine with Redis state and the Elasticsearch verdict store', () => {
  let redis: TestRedisServer;
  let es: TestElasticsearchNode;
  let engine: RunningEngine;

  before(async () => {
    redis = await TestRedisServer.start();
    es = await TestElasticsearchNode.start();
    engine = await startEngine(
      testConfig({ REDIS_URL: redis.url, ELASTICSEARCH_NODE: es.url, ELASTICSEARCH_FLUSH_INTERVAL: '20ms' }),
      quietLogger(),
    );
  });
  after(async () => {
    await engine?.close();
    await es?.stop();
    await redis?.dispose();
  });

  const post = async (events: object[]): Promise<any> => {
    const response = await fetch(`${engine.url}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: events.map((e) => JSON.stringify(e)).join('\n'),
    });
    assert.equal(response.status, 200);
    return response.json();
  };

  it('reports both dependencies ready', async () => {
    const response = await fetch(`${engine.url}/ready`);
    const body = (await response.json()) as any;
    assert.equal(response.status, 200, JSON.stringify(body));
    assert.equal(body.checks.state.ok, true);
    assert.equal(body.checks.elasticsearch.ok, true);
    const health = (await (await fetch(`${engine.url}/health`)).json()) as any;
    assert.deepEqual(health.mode, { state: 'redis', ingest: 'http', verdicts: 'elasticsearch' });
  });

  it('decides with Redis state and serves verdicts back from Elasticsearch', async () => {
    const t = (m: number): string => new Date(Date.UTC(2026, 10, 20, 9, m)).toISOString();
    const body = await post([
      { event_id: 's-1', user_id: 'zoe', event_type: 'login', event_time: t(0), device_id: 'd1', location_city: 'Paris' },
      { event_id: 's-2', user_id: 'zoe', event_type: 'login', event_time: t(3), device_id: 'd2', location_city: 'Rome' },
      { event_id: 's-1', user_id: 'zoe', event_type: 'login', event_time: t(0) },
    ]);
    assert.deepEqual(
      body.results.map((r: any) => r.outcome),
      ['accepted', 'accepted', 'duplicate'],
    );
    assert.equal(body.results[1].verdict.risk_level, 'HIGH');
    assert.equal(body.results[1].verdict.features.distinct_devices_1h, 2);

    // The store is near-real-time (about 1 s): make the verdicts searchable now instead of waiting.
    assert.equal((await fetch(`${es.url}/risk-verdicts/_refresh`, { method: 'POST' })).status, 200);
    const stored = (await (await fetch(`${engine.url}/verdicts/s-2`)).json()) as any;
    assert.equal(stored.event_id, 's-2');
    assert.equal(stored.risk_level, 'HIGH');
    const page = (await (await fetch(`${engine.url}/verdicts?user_id=zoe&risk_level=HIGH`)).json()) as any;
    assert.deepEqual(
      page.items.map((v: any) => v.event_id),
      ['s-2'],
    );
    const profile = (await (await fetch(`${engine.url}/profiles/zoe`)).json()) as any;
    assert.equal(profile.latest.event_id, 's-2');
    assert.equal(profile.highest_risk_24h, 'HIGH');
  });

  it('keeps state in Redis: a second engine on the same Redis sees the first one’s events', async () => {
    const second = await startEngine(testConfig({ REDIS_URL: redis.url }), quietLogger());
    try {
      const response = await fetch(`${second.url}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          event_id: 's-3',
          user_id: 'zoe',
          event_type: 'login',
          event_time: new Date(Date.UTC(2026, 10, 20, 9, 5)).toISOString(),
        }),
      });
      const body = (await response.json()) as any;
      assert.equal(body.results[0].verdict.features.login_count_1h, 3);
    } finally {
      await second.close();
    }
  });

  it('an instance whose cached state another instance changed finds out at its write, re-reads, and counts the conflict', async () => {
    // The first engine cached zoe's state when it decided her first two logins; the second engine's login changed it.
    const body = await post([
      { event_id: 's-4', user_id: 'zoe', event_type: 'login', event_time: new Date(Date.UTC(2026, 10, 20, 9, 6)).toISOString() },
    ]);
    assert.equal(body.results[0].verdict.features.login_count_1h, 4);
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    const conflicts = /^risk_engine_state_write_conflicts_total (\d+)/m.exec(metrics);
    assert.ok(conflicts !== null && Number(conflicts[1]) >= 1, `conflicts metric: ${conflicts?.[0] ?? 'absent'}`);
  });
});
