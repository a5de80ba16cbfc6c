import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import { quietLogger, testConfig } from '@test/support/engine-process';

const T = (minutes: number): string => new Date(Date.UTC(2026, 10, 20, 10) + minutes * 60_000).toISOString();

function event(id: string, user: string, minutes: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { event_id: id, user_id: user, event_type: 'login', event_time: T(minutes), ...extra };
}

const ndjson = (events: unknown[]): string => events.map((e) => JSON.stringify(e)).join('\n') + '\n';

describe('embedded default over HTTP', () => {
  let engine: RunningEngine;
  const post = (body: string, type = 'application/json'): Promise<Response> =>
    fetch(`${engine.url}/events`, { method: 'POST', headers: { 'content-type': type }, body });
  const getJson = async (path: string): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${engine.url}${path}`);
    return { status: response.status, body: await response.json() };
  };

  before(async () => {
    engine = await startEngine(testConfig(), quietLogger());
    assert.match(engine.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'binds to loopback by default');
  });
  after(async () => engine.close());

  it('decides one JSON event and answers with its verdict', async () => {
    const response = await post(JSON.stringify(event('h-1', 'alice', 0, { device_id: 'd1', location_city: 'Paris' })));
    assert.equal(response.status, 200);
    const body = (await response.json()) as any;
    assert.deepEqual(body.counts, { accepted: 1, late: 0, duplicate: 0, rejected: 0 });
    assert.equal(body.results[0].outcome, 'accepted');
    assert.equal(body.results[0].verdict.risk_level, 'LOW');
    assert.equal(body.results[0].verdict.features.distinct_devices_1h, 1);
    assert.equal(body.results[0].verdict.rules_version, 1);
  });

  it('decides an NDJSON batch in order, with duplicates and an alert', async () => {
    const response = await post(
      ndjson([event('h-2', 'alice', 5, { device_id: 'd2', location_city: 'Lyon' }), event('h-1', 'alice', 0, { device_id: 'other' })]),
      'application/x-ndjson',
    );
    assert.equal(response.status, 200);
    const body = (await response.json()) as any;
    assert.deepEqual(
      body.results.map((r: any) => r.outcome),
      ['accepted', 'duplicate'],
    );
    const verdict = body.results[0].verdict;
    assert.equal(verdict.risk_level, 'HIGH');
    assert.equal(verdict.score, 80);
    assert.deepEqual(
      verdict.rules.map((r: any) => r.id),
      ['device-and-city-change'],
    );
    assert.equal(body.results[0].alerted, true);
    const alerts = await getJson('/alerts');
    assert.equal(alerts.body.items[0].alert_id, 'h-2');
    assert.equal(alerts.body.items[0].risk_level, 'HIGH');
  });

  it('flags a late event', async () => {
    await post(JSON.stringify(event('h-late-1', 'bob', 60)));
    const body = (await (await post(JSON.stringify(event('h-late-2', 'bob', 45)))).json()) as any;
    assert.equal(body.results[0].outcome, 'late');
    assert.equal(body.results[0].verdict.late, true);
  });

  it('answers 400 naming each bad field, and applies nothing from that body', async () => {
    const response = await post(
      ndjson([
        event('h-ok', 'carol', 1),
        { event_id: 'h-bad', user_id: 'carol', event_type: 'login', event_time: 'yesterday', amount: -3 },
      ]),
      'application/x-ndjson',
    );
    assert.equal(response.status, 400);
    const body = (await response.json()) as any;
    assert.equal(body.error, 'INVALID_EVENTS');
    assert.deepEqual(
      body.errors.map((e: any) => e.path),
      ['line 2: event_time', 'line 2: amount'],
    );
    assert.equal((await getJson('/verdicts/h-ok')).status, 404, 'the valid event of a rejected body was not applied');
    const notJson = await post('{"event_id": ');
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as any).errors[0].path, '$');
  });

  it('refuses more than 10,000 events in one body', async () => {
    const lines = Array.from({ length: 10_001 }, (_, i) => JSON.stringify(event(`bulk-${i}`, 'dave', 0)));
    const response = await post(lines.join('\n'), 'application/x-ndjson');
    assert.equal(response.status, 400);
    assert.equal(((await response.json()) as any).error, 'TOO_MANY_EVENTS');
  });

  it('searches verdicts by user, risk level, rule and time, and pages with search_after', async () => {
    await post(ndjson(Array.from({ length: 5 }, (_, i) => event(`p-${i}`, 'erin', 100 + i))), 'application/x-ndjson');
    const byUser = await getJson('/verdicts?user_id=erin&size=2');
    assert.equal(byUser.status, 200);
    assert.deepEqual(
      byUser.body.items.map((v: any) => v.event_id),
      ['p-4', 'p-3'],
    );
    const next = await getJson(`/verdicts?user_id=erin&size=2&search_after=${byUser.body.next_search_after}`);
    assert.deepEqual(
      next.body.items.map((v: any) => v.event_id),
      ['p-2', 'p-1'],
    );
    const last = await getJson(`/verdicts?user_id=erin&size=2&search_after=${next.body.next_search_after}`);
    assert.deepEqual(
      last.body.items.map((v: any) => v.event_id),
      ['p-0'],
    );
    assert.equal(last.body.next_search_after, undefined);
    const window = await getJson(`/verdicts?user_id=erin&from=${encodeURIComponent(T(101))}&to=${encodeURIComponent(T(103))}`);
    assert.deepEqual(
      window.body.items.map((v: any) => v.event_id),
      ['p-2', 'p-1'],
    );
    const high = await getJson('/verdicts?risk_level=HIGH');
    assert.deepEqual(
      high.body.items.map((v: any) => v.event_id),
      ['h-2'],
    );
    const byRule = await getJson('/verdicts?rule_id=device-and-city-change');
    assert.deepEqual(
      byRule.body.items.map((v: any) => v.event_id),
      ['h-2'],
    );
    const one = await getJson('/verdicts/p-3');
    assert.equal(one.body.user_id, 'erin');
    const profile = await getJson('/profiles/erin');
    assert.equal(profile.body.latest.event_id, 'p-4');
    assert.equal(profile.body.counts.LOW, 5);
  });

  it('rejects a bad query with 400 naming the field', async () => {
    const response = await getJson('/verdicts?risk_level=SEVERE&size=0&unknown=1');
    assert.equal(response.status, 400);
    const paths = new Set(response.body.errors.map((e: any) => e.path));
    assert.ok(paths.has('risk_level') && paths.has('size') && paths.has('unknown'), JSON.stringify(response.body));
    assert.equal((await getJson('/verdicts?search_after=garbage')).status, 400);
  });

  it('serves health, readiness, metrics and the OpenAPI document', async () => {
    const health = await getJson('/health');
    assert.equal(health.body.status, 'ok');
    assert.equal(health.body.mode.state, 'memory');
    // The embedded default keeps verdicts in SQLite under DATA_DIR, not in memory.
    assert.equal(health.body.mode.verdicts, 'sqlite');
    assert.equal((await getJson('/ready')).status, 200);
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    assert.match(metrics, /risk_engine_events_total\{outcome="accepted",source="http"\} \d+/);
    assert.match(metrics, /risk_engine_events_total\{outcome="duplicate",source="http"\} 1/);
    assert.match(metrics, /risk_engine_rules_version 1/);
    const docs = await fetch(`${engine.url}/docs-json`);
    const openapi = (await docs.json()) as any;
    assert.ok(openapi.paths['/events'] && openapi.paths['/verdicts'], 'OpenAPI lists the endpoints');
  });
});
