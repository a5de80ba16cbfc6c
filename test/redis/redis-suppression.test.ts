import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryCooldownStore, type CooldownClaim } from '@risk/domain';
import { RedisCooldownStore } from '@risk/infra/redis/redis-cooldown.store';
import { RedisSnoozeStore } from '@risk/infra/redis/redis-snooze.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { waitForVersion } from '@test/support/engine-process';
import { redisEngineFleetForSuite } from '@test/support/redis-engine-fleet';
import { bigPaymentRule, call } from '../admin/admin-support';
import { TestRedisCluster, TestRedisServer } from '../support/redis-server';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 20, 10);

function claim(value: string, minute: number, eventId: string, ruleId = 'r:1', durationMs = 30 * MIN): CooldownClaim {
  return { ruleId, field: 'user_id', value, eventId, eventTime: T0 + minute * MIN, durationMs };
}

/** A small seeded generator (LCG): the same claim sequence on every run. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

describe('RedisCooldownStore against a real redis-server', () => {
  let redis: TestRedisServer;
  const clients: RedisClient[] = [];
  const open = async (prefix: string): Promise<RedisCooldownStore> => {
    const client = new RedisClient({ url: redis.url });
    await client.waitReady();
    clients.push(client);
    return new RedisCooldownStore(client, { keyPrefix: prefix, latenessMs: 10 * MIN });
  };

  before(async () => {
    redis = await TestRedisServer.start();
  });
  after(async () => {
    for (const client of clients) await client.quit();
    await redis.dispose();
  });

  it('answers every claim as the in-memory store does (the one semantic, judgeClaim), out of order and redelivered included', async () => {
    const store = await open('agree:');
    const memory = new MemoryCooldownStore({ latenessMs: 10 * MIN });
    const random = seeded(7);
    const claims: CooldownClaim[] = [];
    for (let i = 0; i < 400; i++) {
      // Three users, two rules (a rule's duration is fixed), event times mostly increasing, some out of order within the lateness.
      const minute = i * 2 - Math.floor(random() * 10);
      const rule = random() < 0.5 ? { id: 'r:1', duration: 30 * MIN } : { id: 'r-2', duration: 7 * MIN };
      claims.push(claim(`u-${Math.floor(random() * 3)}`, minute, `e-${i}`, rule.id, rule.duration));
    }
    // In batches of 25, each decided twice (a redelivery) on both stores.
    let running = 0;
    for (let i = 0; i < claims.length; i += 25) {
      const batch = claims.slice(i, i + 25);
      const expected = await memory.claim(batch);
      assert.deepEqual(await store.claim(batch), expected, `batch at ${i}`);
      assert.deepEqual(await store.claim(batch), expected, `batch at ${i} decided again`);
      assert.deepEqual(await memory.claim(batch), expected);
      running += expected.filter((a) => a.running).length;
    }
    assert.ok(running > 50 && running < 400, `a mix of running and not running claims (${running})`);
  });

  it('shares cooldowns between two instances, and serialises claims racing for one cooldown', async () => {
    const [a, b] = [await open('shared:'), await open('shared:')];
    assert.deepEqual(await a.claim([claim('u-1', 0, 'a-1')]), [{ running: false }]);
    assert.deepEqual(await b.claim([claim('u-1', 10, 'b-1')]), [{ running: true, startedAt: T0, startedBy: 'a-1' }]);
    // The same event time claimed on both at once: exactly one starts the cooldown, the other is held back by it.
    const [x, y] = await Promise.all([a.claim([claim('u-2', 0, 'a-2')]), b.claim([claim('u-2', 0, 'b-2')])]);
    assert.deepEqual([x[0].running, y[0].running].sort(), [false, true]);
  });

  it('gives every cooldown key an expiry (wall clock: cooldown + lateness + 1 h of slack)', async () => {
    const store = await open('ttl:');
    await store.claim([claim('u-1', 0, 'e-1', 'r', 30 * MIN), claim('u-2', 0, 'e-2', 'r', 30 * MIN)]);
    const keyspace = (await clients[clients.length - 1].info('keyspace')).db0 ?? '';
    const [, keys, expires] = /keys=(\d+),expires=(\d+)/.exec(keyspace) ?? [];
    assert.ok(Number(keys) >= 2, keyspace);
    assert.equal(expires, keys, 'every key written so far is a cooldown with an expiry');
  });
});

describe('two engine processes sharing cooldowns and snoozes through Redis', () => {
  const { engines: fleet } = redisEngineFleetForSuite({ dataPrefix: 'risk-suppression-fleet-', instances: 2 });
  const recent = Date.now() - 3_600_000;
  const payment = (id: string, user: string, minute: number, extra: Record<string, unknown> = {}) => ({
    event_id: id,
    user_id: user,
    event_type: 'payment',
    event_time: new Date(recent + minute * MIN).toISOString(),
    amount: 5000,
    ...extra,
  });
  const send = async (url: string, event: Record<string, unknown>) => (await call(url, 'POST', '/events', event)).body.results[0];

  it('an alert on one instance holds back the same rule and user on the other', async () => {
    const created = await call(fleet[0].url, 'POST', '/rules', bigPaymentRule({ cooldown: { key: 'user_id', duration: '30m' } }));
    assert.equal(created.status, 201);
    await Promise.all(fleet.map((engine) => waitForVersion(engine.url, created.body.version as number, 15_000)));
    assert.equal((await send(fleet[0].url, payment('f-1', 'u-fleet', 0))).alerted, true);
    const other = await send(fleet[1].url, payment('f-2', 'u-fleet', 5));
    assert.equal(other.alerted, false);
    assert.equal(other.verdict.suppression.kind, 'cooldown');
    assert.match(other.verdict.suppression.reason as string, /\(event f-1\)/);
  });

  it('a snooze made on one instance reaches the other (pub/sub), and its audit is shared', async () => {
    const snooze = await call(fleet[0].url, 'POST', '/snoozes', {
      key: 'device_id',
      value: 'dev-shared',
      rule_id: 'big-payment',
      duration: '1h',
      reason: 'QA device',
    });
    assert.equal(snooze.status, 201);
    // Each try is a new user (no cooldown running) from the snoozed device, until the other instance has reloaded.
    const deadline = Date.now() + 15_000;
    let outcome: any;
    for (let i = 0; ; i++) {
      outcome = await send(fleet[1].url, payment(`s-${i}`, `u-snoozed-${i}`, 0, { device_id: 'dev-shared' }));
      if (outcome.alerted === false || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(outcome.verdict.suppression?.kind, 'snooze');
    assert.equal(outcome.verdict.suppression?.rule_id, 'big-payment');
    const listed = await call(fleet[1].url, 'GET', '/snoozes');
    assert.deepEqual(
      listed.body.items.map((s: { id: string }) => s.id),
      [snooze.body.id],
    );
    const audit = await call(fleet[1].url, 'GET', '/snoozes/audit');
    assert.equal(audit.body.items[0].snooze.reason, 'QA device');
  });
});

describe('cooldowns and snoozes on a 3-master Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let client: RedisClient;

  before(async () => {
    cluster = await TestRedisCluster.start(3);
    client = new RedisClient({ clusterNodes: cluster.nodes, commandTimeoutMs: 3_000 });
    await client.waitReady();
  });
  after(async () => {
    await client?.quit();
    await cluster?.dispose();
  });

  it('claims spread over every master in one call give the in-memory answers', async () => {
    const store = new RedisCooldownStore(client, { keyPrefix: 'cluster:', latenessMs: 10 * MIN });
    const memory = new MemoryCooldownStore({ latenessMs: 10 * MIN });
    // 40 users: their keys land on all three masters; each user claims at 0, 10 and 40 minutes, in one batch.
    const claims = [0, 10, 40].flatMap((minute) => Array.from({ length: 40 }, (_, u) => claim(`u-${u}`, minute, `e-${u}-${minute}`)));
    const expected = await memory.claim(claims);
    assert.deepEqual(await store.claim(claims), expected);
    assert.deepEqual(await store.claim(claims), expected, 'decided again');
    assert.deepEqual(
      expected.map((a) => a.running),
      [...Array<boolean>(40).fill(false), ...Array<boolean>(40).fill(true), ...Array<boolean>(40).fill(false)],
    );
  });

  it('stores, lists, deletes and audits snoozes in one slot', async () => {
    const store = new RedisSnoozeStore(client, 'cluster:');
    const now = Date.now();
    const snooze = {
      id: 'sz-1',
      key: 'ip_address',
      value: '203.0.113.7',
      rule_id: null,
      reason: 'office',
      created_by: 'alice',
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 3_600_000).toISOString(),
    };
    const expired = { ...snooze, id: 'sz-0', expires_at: new Date(now - 1).toISOString() };
    assert.equal(await store.create(expired, 10, now - 10), true);
    assert.equal(await store.create(snooze, 10, now), true, 'the expired one is dropped first');
    assert.deepEqual(await store.list(), [snooze]);
    assert.equal(await store.create({ ...snooze, id: 'sz-2' }, 1, now), false, 'at the limit of active snoozes');
    assert.deepEqual(await store.remove('sz-1', 'bob', new Date(now).toISOString()), snooze);
    assert.equal(await store.remove('sz-1', 'bob', new Date(now).toISOString()), undefined);
    const audit = await store.audit(10, 0);
    assert.deepEqual(
      audit.items.map((e) => [e.action, e.actor, e.snooze.id]),
      [
        ['delete', 'bob', 'sz-1'],
        ['create', 'alice', 'sz-1'],
        ['create', 'alice', 'sz-0'],
      ],
    );
  });
});
