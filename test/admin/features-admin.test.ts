import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import request from 'supertest';
import { loadConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { startEngine } from '@risk/engine/bootstrap';
import { CHANGED, IP_LOGINS, SHIPPED } from '@test/support/changed-feature-set';
import { API_KEYS, EDITOR_KEY, embeddedEngineForSuite, tempDir, VIEWER_KEY, type HttpServer } from './admin-support';

let seq = 0;
function login(user: string, ip: string, minutesAgo: number): Record<string, unknown> {
  const at = new Date(Date.now() - minutesAgo * 60_000).toISOString();
  return { event_id: `fa-${process.pid}-${seq++}`, user_id: user, event_type: 'login', event_time: at, ip_address: ip };
}

/** POSTs one event and answers its verdict. */
async function decide(
  http: HttpServer,
  event: Record<string, unknown>,
): Promise<{ rules_version: number; features: Record<string, unknown> }> {
  const response = await request(http).post('/events').set({ 'x-api-key': EDITOR_KEY }).send(event).expect(200);
  return response.body.results[0].verdict;
}

describe('feature definitions over HTTP (embedded, versions under DATA_DIR)', () => {
  const suite = embeddedEngineForSuite('risk-features-');
  const editor = { 'x-api-key': EDITOR_KEY };
  const viewer = { 'x-api-key': VIEWER_KEY };

  it('GET /features answers the shipped set pinned by the seed, with the version as ETag', async () => {
    const got = await request(suite.http).get('/features').set(viewer).expect(200);
    assert.equal(got.headers.etag, '"1"');
    assert.deepEqual(
      got.body.features.map((f: { name: string }) => f.name),
      SHIPPED.features.map((f) => f.name),
    );
    assert.equal(got.body.features.find((f: { name: string }) => f.name === 'payment_amount_24h').window, '24h');
  });

  it('refuses bad sets with paths (400), sets that drop a feature a rule names (409), viewers (403) and stale bases (409)', async () => {
    const bad = await request(suite.http)
      .put('/features')
      .set(editor)
      .send({
        features: [
          { ...IP_LOGINS, window: 'soon' },
          { ...IP_LOGINS, name: 'Bad Name' },
        ],
      })
      .expect(400);
    assert.deepEqual(
      bad.body.errors.map((e: { path: string }) => e.path),
      ['features[0].window', 'features[1].name'],
    );
    const inUse = await request(suite.http)
      .put('/features')
      .set(editor)
      .send({ features: SHIPPED.features.filter((f) => f.name !== 'login_count_1h') })
      .expect(409);
    assert.equal(inUse.body.error, 'FEATURE_IN_USE');
    assert.match(inUse.body.message as string, /rules\[\d+\]\.conditions\.all\[0\]\.fact: rule login-burst: unknown fact "login_count_1h"/);
    const validated = await request(suite.http)
      .post('/features/validate')
      .set(viewer)
      .send({ features: SHIPPED.features.filter((f) => f.name !== 'login_count_1h') })
      .expect(200);
    assert.equal(validated.body.valid, false);
    assert.match(validated.body.errors[0].path as string, /^rules\[\d+\]\.conditions\.all\[0\]\.fact$/);
    await request(suite.http).put('/features').set(viewer).send({ features: CHANGED }).expect(403);
    await request(suite.http).put('/features').set(editor).set('if-match', '"7"').send({ features: CHANGED }).expect(409);
    assert.equal((await request(suite.http).get('/features').set(viewer)).headers.etag, '"1"', 'nothing written');
  });

  it('PUT /features writes version 2 with the same rules; the verdicts then carry the new set; diff and audit tell what changed', async () => {
    const put = await request(suite.http).put('/features').set(editor).set('if-match', '"1"').send({ features: CHANGED }).expect(200);
    assert.equal(put.body.version, 2);
    assert.equal(put.body.changed, true);
    // The instance that took the write decides with it at once (read-your-writes).
    await decide(suite.http, login('u-f', '10.1.1.1', 3));
    const decided = await decide(suite.http, login('u-f', '10.1.1.1', 2));
    const features = decided.features;
    assert.equal(decided.rules_version, 2);
    assert.equal(features.ip_logins_1h, 2);
    assert.equal(features.login_count_1h, 2);
    assert.ok(!('failed_login_count_1h' in features));

    const diff = await request(suite.http).get('/rulesets/1/diff/2').set(viewer).expect(200);
    assert.deepEqual(diff.body.features.added, ['ip_logins_1h']);
    assert.deepEqual(diff.body.features.removed, ['failed_login_count_1h']);
    assert.deepEqual(diff.body.features.changed, ['payment_amount_24h']);
    assert.deepEqual(diff.body.rules, { added: [], removed: [], changed: [] });
    await request(suite.http).get('/rulesets/1/diff/0x2').set(viewer).expect(400);
    const openapi = (await request(suite.http).get('/docs-json')).body as { paths: Record<string, Record<string, unknown>> };
    assert.ok(openapi.paths['/features']?.get && openapi.paths['/features'].put && openapi.paths['/features/validate']?.post);
    assert.ok(openapi.paths['/rulesets/{from}/diff/{to}']?.get, 'OpenAPI lists the feature routes');

    const audit = await request(suite.http).get('/audit?limit=1').set(viewer).expect(200);
    assert.equal(audit.body.items[0].action, 'features');
    assert.equal(audit.body.items[0].actor, 'alice');
    assert.equal(audit.body.items[0].features_after.length, CHANGED.length);
    assert.equal(audit.body.items[0].features_before.length, SHIPPED.features.length);
  });

  it('a rule may name the added feature; rolling back to version 1 is refused while it does, and works once it is gone', async () => {
    const rule = {
      id: 'ip-logins',
      name: 'Many logins from one IP',
      enabled: true,
      mode: 'active',
      priority: 2,
      conditions: { all: [{ fact: 'ip_logins_1h', operator: 'greaterThan', value: 50 }] },
      event: { type: 'risk', params: { risk_level: 'MEDIUM', score: 50, reason: 'busy IP' } },
    };
    const created = await request(suite.http).post('/rules').set(editor).send(rule).expect(201);
    assert.equal(created.body.version, 3);
    // Version 1's rules were validated against version 1's features: activating it is safe, whatever version 3 holds.
    const rolled = await request(suite.http).post('/rulesets/1/activate').set(editor).send({}).expect(200);
    assert.equal(rolled.body.version, 1);
    const { features } = await decide(suite.http, login('u-g', '10.1.1.2', 1));
    assert.ok(!('ip_logins_1h' in features) && 'failed_login_count_1h' in features);
  });

  it('keeps the versions and their features across a restart on the same DATA_DIR', async () => {
    await request(suite.http).post('/rulesets/3/activate').set(editor).send({}).expect(200);
    await suite.restart();
    const got = await request(suite.http).get('/features').set(viewer).expect(200);
    assert.equal(got.body.version, 3);
    assert.equal(got.body.running, 3);
    assert.deepEqual(
      got.body.features.map((f: { name: string }) => f.name),
      CHANGED.map((f) => f.name),
    );
    const file = readdirSync(join(suite.dataDir, 'rulesets', 'versions')).find((name) => name.endsWith('2.json'))!;
    const stored = JSON.parse(readFileSync(join(suite.dataDir, 'rulesets', 'versions', file), 'utf8')) as {
      action: string;
      features: unknown[];
    };
    assert.equal(stored.action, 'features');
    assert.equal(stored.features.length, CHANGED.length);
  });
});

describe('a rules directory without features.json (issue 13 item 4)', () => {
  it('starts the service on the shipped default features, saying so in the log', async () => {
    const data = tempDir('risk-nofeatures-');
    const rulesDir = join(data.path, 'rules');
    mkdirSync(rulesDir);
    copyFileSync(join(process.cwd(), 'rules', 'login-burst.json'), join(rulesDir, 'login-burst.json'));
    const lines: string[] = [];
    const config = loadConfig({ PORT: '0', RULES_DIR: rulesDir, DATA_DIR: join(data.path, 'data'), API_KEYS, LOG_LEVEL: 'warn' });
    const engine = await startEngine(config, new JsonLogger('warn', 'test', (line) => lines.push(line)));
    try {
      assert.ok(
        lines.some((line) => line.includes('has no features.json: using the shipped default features (distinct_devices_1h,')),
        lines.join('\n'),
      );
      const got = await request(engine.app.getHttpServer()).get('/features').set({ 'x-api-key': VIEWER_KEY }).expect(200);
      assert.deepEqual(
        got.body.features.map((f: { name: string }) => f.name),
        SHIPPED.features.map((f) => f.name),
      );
    } finally {
      await engine.close();
      data.remove();
    }
  });
});
