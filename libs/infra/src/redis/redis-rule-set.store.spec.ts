import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NotFoundError, type RuleDefinition } from '@risk/domain';
import { StaleWriteError } from '@risk/domain/rules/lifecycle';
import { TestRedisServer } from '@test/support/redis-server';
import { RedisClient } from './redis.client';
import { RedisRuleSetStore } from './redis-rule-set.store';

const RULE = {
  id: 'r',
  name: 'r',
  enabled: true,
  mode: 'active',
  priority: 1,
  conditions: { all: [] },
  event: { type: 'risk', params: {} },
} as unknown as RuleDefinition;

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('RedisRuleSetStore', () => {
  let server: TestRedisServer;
  let client: RedisClient;
  before(async () => {
    server = await TestRedisServer.start();
    client = new RedisClient({ url: server.url });
    await client.waitReady();
  });
  after(async () => {
    await client.quit();
    await server.dispose();
  });

  it('commits versions with compare-and-set, publishes activations and keeps an audit trail', async () => {
    const store = new RedisRuleSetStore(client, 'spec1:');
    const other = new RedisRuleSetStore(client, 'spec1:');
    const seen: Array<number | undefined> = [];
    const unsubscribe = await other.subscribe((v) => seen.push(v));
    assert.equal(await store.activeVersion(), undefined);
    const v1 = await store.commit({ basedOn: 0, rules: [], actor: 'system', action: 'seed', before: null, after: null });
    assert.equal(v1.version, 1);
    const v2 = await store.commit({ basedOn: 1, rules: [RULE], actor: 'alice', action: 'create', ruleId: 'r', before: null, after: RULE });
    assert.equal(v2.version, 2);
    await assert.rejects(
      store.commit({ basedOn: 1, rules: [], actor: 'bob', action: 'delete', before: RULE, after: null }),
      (e: unknown) => {
        assert.ok(e instanceof StaleWriteError);
        assert.deepEqual(e.details, { base_version: 1, active_version: 2 });
        return true;
      },
    );
    // Another instance (no cache) reads the same immutable documents; empty arrays stay arrays.
    assert.deepEqual((await other.getVersion(1))?.rules, []);
    assert.deepEqual((await other.getVersion(2))?.rules, [RULE]);
    const rollback = await store.activate(1, 'carol');
    assert.equal(rollback.previous_version, 2);
    await assert.rejects(store.activate(7, 'carol'), NotFoundError);
    await assert.rejects(store.activate(2, 'carol', 2), StaleWriteError);
    assert.equal(await other.activeVersion(), 1);
    assert.deepEqual(
      (await other.listVersions()).map((v) => [v.version, v.rule_count, v.active]),
      [
        [2, 1, false],
        [1, 0, true],
      ],
    );
    const audit = await other.audit(2, 0);
    assert.equal(audit.total, 3);
    assert.deepEqual(
      audit.items.map((e) => [e.action, e.actor, e.version, e.previous_version]),
      [
        ['activate', 'carol', 1, 2],
        ['create', 'alice', 2, 1],
      ],
    );
    assert.deepEqual(audit.items[1].after, RULE);
    assert.deepEqual(
      (await other.audit(5, 2)).items.map((e) => e.action),
      ['seed'],
    );
    await until(() => seen.length === 3, 'three activation messages');
    assert.deepEqual(seen, [1, 2, 1]);
    await unsubscribe();
  });

  it('tells the subscriber to re-read after Redis comes back, and keeps delivering', async () => {
    const store = new RedisRuleSetStore(client, 'spec3:');
    const seen: Array<number | undefined> = [];
    const unsubscribe = await store.subscribe((v) => seen.push(v));
    await server.stop();
    await server.resume();
    await until(() => seen.includes(undefined), 'the resubscribed signal');
    await until(() => client.isReady, 'the command connection');
    await store.commit({ basedOn: 0, rules: [], actor: 'system', action: 'seed', before: null, after: null });
    await until(() => seen.includes(1), 'a message after the reconnection');
    await unsubscribe();
  });

  it('lets exactly one of several concurrent writers on the same base win', async () => {
    const stores = [1, 2, 3, 4].map(() => new RedisRuleSetStore(client, 'spec2:'));
    await stores[0].commit({ basedOn: 0, rules: [], actor: 'system', action: 'seed', before: null, after: null });
    const results = await Promise.allSettled(
      stores.map((s, i) => s.commit({ basedOn: 1, rules: [], actor: `w${i}`, action: 'update', before: null, after: null })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.equal(results.filter((r) => r.status === 'rejected' && r.reason instanceof StaleWriteError).length, 3);
    assert.equal((await stores[1].listVersions()).length, 2);
  });
});
