import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { startEngineProcess, waitForVersion, type EngineProcess } from '@test/support/engine-process';
import { TestRedisServer } from '../support/redis-server';
import { API_KEYS, bigPaymentRule, EDITOR_KEY, paymentEvent, tempDir, VIEWER_KEY } from './admin-support';

const MAIN = join(__dirname, '..', '..', 'apps', 'engine', 'src', 'main.js');
const PREFIX = 'hot-reload-test:';
/** Generous: the reconciliation runs every 5 s; pub/sub is much faster. */
const CONVERGE_MS = 15_000;

async function call(url: string, method: string, path: string, body?: unknown, key = EDITOR_KEY): Promise<{ status: number; body: any }> {
  const response = await fetch(url + path, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

describe('hot reload across engine processes sharing Redis', () => {
  const data = tempDir('risk-hot-reload-');
  let redis: TestRedisServer;
  let fleet: EngineProcess[] = [];

  before(async () => {
    redis = await TestRedisServer.start();
    const env = (i: number): Record<string, string> => ({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: PREFIX,
      DATA_DIR: join(data.path, `e${i}`),
      API_KEYS,
    });
    // The first instance seeds version 1; the others find it and must not seed again.
    fleet = [await startEngineProcess(MAIN, env(0))];
    fleet.push(...(await Promise.all([1, 2].map((i) => startEngineProcess(MAIN, env(i))))));
  });
  after(async () => {
    await Promise.all(fleet.map((engine) => engine.stop()));
    await redis.dispose();
    data.remove();
  });

  it('starts every instance on the one seeded version', async () => {
    for (const engine of fleet) assert.equal((await call(engine.url, 'GET', '/health')).body.rules_version, 1);
    const sets = await call(fleet[2].url, 'GET', '/rulesets', undefined, VIEWER_KEY);
    assert.deepEqual(
      sets.body.items.map((v: { version: number }) => v.version),
      [1],
    );
  });

  it('activates a change made on one instance on every instance, which then decide with it', async () => {
    const created = await call(fleet[0].url, 'POST', '/rules', { ...bigPaymentRule(), base_version: 1 });
    assert.equal(created.status, 201);
    const version = created.body.version as number;
    await Promise.all(fleet.map((engine) => waitForVersion(engine.url, version, CONVERGE_MS)));
    for (const engine of fleet) {
      const decided = await call(engine.url, 'POST', '/events', paymentEvent(5000));
      assert.equal(decided.status, 200);
      assert.equal(decided.body.results[0].verdict.rules_version, version);
      assert.deepEqual(
        decided.body.results[0].verdict.rules.map((r: { id: string }) => r.id),
        ['big-payment'],
      );
    }
    // A second editor still holding version 1 loses, whichever instance it talks to.
    const stale = await call(fleet[1].url, 'POST', '/rules/login-burst/disable', { base_version: 1 });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.active_version, version);
  });

  it('rolls every instance back when an older version is activated', async () => {
    const rolled = await call(fleet[2].url, 'POST', '/rulesets/1/activate', {});
    assert.equal(rolled.status, 200);
    await Promise.all(fleet.map((engine) => waitForVersion(engine.url, 1, CONVERGE_MS)));
    const decided = await call(fleet[0].url, 'POST', '/events', paymentEvent(5000));
    assert.equal(decided.body.results[0].verdict.rules_version, 1);
    assert.deepEqual(decided.body.results[0].verdict.rules, []);
    const audit = await call(fleet[0].url, 'GET', '/audit?limit=1', undefined, VIEWER_KEY);
    assert.equal(audit.body.items[0].action, 'activate');
    assert.equal(audit.body.items[0].actor, 'alice');
  });

  it('reconciles with the active pointer when a pub/sub message was missed', async () => {
    const client = new RedisClient({ url: redis.url });
    try {
      await client.waitReady();
      // Move the pointer behind the engines' backs: no PUBLISH, as if the message had been lost.
      await client.set(`${PREFIX}{rules}:active`, '2');
      await Promise.all(fleet.map((engine) => waitForVersion(engine.url, 2, CONVERGE_MS)));
    } finally {
      await client.quit();
    }
    const metrics = await (await fetch(`${fleet[1].url}/metrics`)).text();
    assert.match(metrics, /^risk_engine_rules_version 2$/m);
  });
});
