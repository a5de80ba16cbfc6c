import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { BacktestReport } from '@risk/domain';
import type { RunningEngine } from '@risk/engine/bootstrap';
import { API_KEYS, EDITOR_KEY, startTestEngine, tempDir, VIEWER_KEY } from '../admin/admin-support';

type Server = Parameters<typeof request>[0];

const T0 = Date.UTC(2026, 10, 20, 10);
/** u-1 logs in 6 times in 50 minutes (login-burst: > 5; version 2: > 3); u-2 twice; one duplicate, one bad line. */
const EVENTS = [
  ...[0, 10, 20, 30, 40, 50].map((m, i) => ({ event_id: `a${i + 1}`, user_id: 'u-1', minute: m })),
  { event_id: 'b1', user_id: 'u-2', minute: 45 },
  { event_id: 'b2', user_id: 'u-2', minute: 55 },
  { event_id: 'a3', user_id: 'u-1', minute: 21 },
]
  .map((e) =>
    JSON.stringify({
      event_id: e.event_id,
      user_id: e.user_id,
      event_type: 'login',
      event_time: new Date(T0 + e.minute * 60_000).toISOString(),
    }),
  )
  .concat('{"event_id": 1}')
  .join('\n');

function burst(report: BacktestReport): number[] {
  const rule = report.rules.find((r) => r.id === 'login-burst')!;
  return [rule.baseline.hits, rule.candidate.hits, rule.gained, rule.lost];
}

describe('POST /backtests on the embedded engine', () => {
  const data = tempDir('risk-backtest-http-');
  let engine: RunningEngine;
  let http: Server;
  const viewer = { 'x-api-key': VIEWER_KEY };

  before(async () => {
    // A small HTTP_MAX_BODY so that an upload over it is cheap to send.
    engine = await startTestEngine({ DATA_DIR: data.path, API_KEYS, HTTP_MAX_BODY: '8kb' });
    http = engine.app.getHttpServer();
    // Version 2: login-burst fires above 3 logins instead of 5.
    const rule = JSON.parse(readFileSync(join(process.cwd(), 'rules', 'login-burst.json'), 'utf8')) as Record<string, unknown>;
    const changed = JSON.parse(JSON.stringify(rule).replace('"value":5', '"value":3')) as Record<string, unknown>;
    await request(http)
      .put('/rules/login-burst')
      .set('x-api-key', EDITOR_KEY)
      .send({ ...changed, base_version: 1 })
      .expect(200);
    mkdirSync(join(data.path, 'samples'));
    writeFileSync(join(data.path, 'samples', 'logins.ndjson'), EVENTS + '\n');
    writeFileSync(join(data.path, 'samples', 'logins.labels.ndjson'), '{"event_id":"a4","fraud":true}\n{"event_id":"a5","fraud":false}\n');
  });
  after(async () => {
    await engine.close();
    data.remove();
  });

  it('compares two stored versions over a stored sample, with its labels file', async () => {
    const answer = await request(http).post('/backtests').set(viewer).send({ baseline: 1, candidate: 2, sample: 'logins' }).expect(200);
    const report = answer.body as BacktestReport;
    assert.deepEqual(report.input, { accepted: 8, late: 0, duplicates: 1, rejected: 1 });
    assert.deepEqual(burst(report), [1, 3, 2, 0]);
    assert.deepEqual([report.alerts.added, report.alerts.removed], [2, 0]);
    assert.deepEqual(report.alerts.top_users_by_added, [{ user_id: 'u-1', added: 2 }]);
    assert.deepEqual([report.labels?.fraud_events, report.labels?.legit_events], [1, 1]);
    assert.equal(report.rules.find((r) => r.id === 'login-burst')!.candidate.precision, 0.5);
  });

  it('compares over an uploaded NDJSON body, and against a draft candidate with labels in the body', async () => {
    const uploaded = await request(http)
      .post('/backtests?baseline=1&candidate=2')
      .set(viewer)
      .set('content-type', 'application/x-ndjson')
      .send(EVENTS)
      .expect(200);
    assert.deepEqual(burst(uploaded.body as BacktestReport), [1, 3, 2, 0]);

    const rule = JSON.parse(readFileSync(join(process.cwd(), 'rules', 'login-burst.json'), 'utf8')) as Record<string, unknown>;
    const draft = JSON.parse(JSON.stringify(rule).replace('"value":5', '"value":4')) as Record<string, unknown>;
    const drafted = await request(http)
      .post('/backtests')
      .set(viewer)
      .send({ baseline: 1, candidate: { rules: [draft] }, sample: 'logins', labels: [{ event_id: 'a5', fraud: true }] })
      .expect(200);
    const report = drafted.body as BacktestReport;
    assert.equal(report.candidate.source, 'draft');
    // Above 4: a5 and a6; the draft holds only login-burst, so the other rules are absent from it.
    assert.deepEqual(burst(report), [1, 2, 1, 0]);
    assert.equal(report.rules.find((r) => r.id === 'device-and-city-change')!.candidate.status, 'absent');
    assert.deepEqual([report.labels?.fraud_events, report.labels?.legit_events], [1, 0]);
  });

  it('refuses a bad body with a 400 naming the field, an unknown sample with a 404, an upload over the limit with a 413', async () => {
    const bad = await request(http)
      .post('/backtests')
      .set(viewer)
      .send({ baseline: '1x', candidate: 2, sample: '../etc', labels: [{ event_id: 'a1', fraud: 'yes' }] })
      .expect(400);
    assert.deepEqual(
      (bad.body.errors as { path: string }[]).map((e) => e.path),
      ['baseline', 'sample', 'labels[0].fraud'],
    );
    const draft = await request(http)
      .post('/backtests')
      .set(viewer)
      .send({ baseline: 1, candidate: { rules: [{ id: 'x' }] }, sample: 'logins' })
      .expect(400);
    assert.match(draft.body.errors[0].path as string, /^candidate\.rules\[0\]\./);
    await request(http).post('/backtests').set(viewer).send({ baseline: 1, candidate: 9, sample: 'logins' }).expect(404);
    await request(http).post('/backtests').set(viewer).send({ baseline: 1, candidate: 2, sample: 'nothing-here' }).expect(404);
    await request(http).post('/backtests').send({ baseline: 1, candidate: 2, sample: 'logins' }).expect(401);
    const big = (EVENTS + '\n').repeat(20);
    const tooLarge = await request(http)
      .post('/backtests?baseline=1&candidate=2')
      .set(viewer)
      .set('content-type', 'application/x-ndjson')
      .send(big)
      .expect(413);
    assert.equal(tooLarge.body.error, 'BODY_TOO_LARGE');
    // A stored sample is bounded in events: 200,001 tiny lines (600 kB) are refused before any is decided.
    writeFileSync(join(data.path, 'samples', 'huge.ndjson'), '{}\n'.repeat(200_001));
    const tooMany = await request(http).post('/backtests').set(viewer).send({ baseline: 1, candidate: 2, sample: 'huge' }).expect(413);
    assert.match(tooMany.body.message as string, /sample huge holds more than 200000 events/);
  });
});
