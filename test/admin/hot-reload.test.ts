import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { waitForVersion } from '@test/support/engine-process';
import { redisEngineFleetForSuite } from '@test/support/redis-engine-fleet';
import { bigPaymentRule, call, paymentEvent, VIEWER_KEY } from './admin-support';

const PREFIX = 'hot-reload-test:';
/** Generous: the reconciliation runs every 5 s; pub/sub is much faster. */
const CONVERGE_MS = 15_000;

describe('hot reload across engine processes sharing Redis', () => {
  // The first instance seeds version 1; the others find it and must not seed again.
  const cluster = redisEngineFleetForSuite({ dataPrefix: 'risk-hot-reload-', keyPrefix: PREFIX, instances: 3 });
  const fleet = cluster.engines;

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
    const client = new RedisClient({ url: cluster.redis.url });
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
