import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryFeatureStore, parseFeatureDefinitions, type StateInput } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { entityTtlMs } from '@risk/infra/redis/redis-entity-ttl';
import { sharedRedis } from '../support/redis-fixture';
import { chunk, defaultDefinitions, generateStream } from '@test/support/state-stream';

// The single node's write token (redis-single-node-write.ts): a store's writes skip the header checks of the
// entities it trusts only while no other writer wrote, and never trust a key that may have expired.

const redis = sharedRedis();

/** GETRANGE calls (the header checks) since the last call. */
function headerChecks(): number {
  const info = redis.cli('INFO', 'commandstats');
  redis.cli('CONFIG', 'RESETSTAT');
  return Number(/^cmdstat_getrange:calls=(\d+)/m.exec(info)?.[1] ?? 0);
}

describe('RedisFeatureStore write token (single node)', () => {
  it("skips the checks of a store's own entities while it writes alone; another store's writes make it check all, with sequential outcomes", async () => {
    const definitions = defaultDefinitions();
    const settings = TEST_STATE_SETTINGS;
    const inputs = generateStream({
      seed: 31,
      events: 3_000,
      spanMs: 3_600_000,
      users: 40,
      ips: 8,
      devices: 30,
      allowedLatenessMs: settings.allowedLatenessMs,
      duplicates: 0,
    });
    const batches = chunk(inputs, 100);
    const reference = new MemoryFeatureStore(definitions, settings);
    const one = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'wt:' });
    const two = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'wt:' });
    const entitiesOf = (batch: readonly StateInput[]): number => {
      const keys = new Set<string>();
      for (const { event } of batch) {
        for (const [code, value] of [
          ['u', event.user_id],
          ['ip', event.ip_address],
          ['dev', event.device_id],
        ]) {
          if (value !== undefined && value !== '') keys.add(`${code}:${value}`);
        }
      }
      return keys.size;
    };

    // Alone: the first write checks what it read (nothing was anchored yet), the next ones only what they may not trust.
    let touched = 0;
    headerChecks();
    for (const [i, batch] of batches.slice(0, 10).entries()) {
      assert.deepEqual(await one.apply('events/0', batch), reference.applySync('events/0', batch), `alone, batch ${i}`);
      if (i > 0) touched += entitiesOf(batch);
    }
    const alone = headerChecks();
    assert.ok(alone < touched / 4, `alone: ${alone} header checks for ${touched} entities after the first batch`);

    // Interleaved with another process's writes on the same entities: each write finds another token and checks all.
    touched = 0;
    for (const [i, batch] of batches.slice(10).entries()) {
      const [store, partition] = i % 2 === 0 ? [two, 'events/1'] : [one, 'events/0'];
      assert.deepEqual(await store.apply(partition, batch), reference.applySync(partition, batch), `interleaved, batch ${i}`);
      touched += entitiesOf(batch);
    }
    const interleaved = headerChecks();
    assert.ok(interleaved >= touched, `interleaved: ${interleaved} header checks for ${touched} entities`);
    await Promise.all([one.close(), two.close()]);
  });

  it('a cached entity whose key may have expired is checked, and found gone', async () => {
    // Retention 2 s (1 s window + 1 s lateness): the key expires 4 s after its write (retention + slack, at most the
    // retention: redis-entity-ttl.ts), and no write keeps its TTL (the keep window is empty).
    const definitions = parseFeatureDefinitions({
      features: [{ name: 'logins', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1s' }],
    });
    const settings = { ...TEST_STATE_SETTINGS, allowedLatenessMs: 1_000 };
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'wt-expiry:' });
    const at = Date.parse('2026-11-20T10:00:00Z');
    const login = (id: string, ms: number): StateInput => ({
      event: {
        event_id: id,
        user_id: 'u-expiring',
        event_type: 'login',
        event_time: at + ms,
        ip_address: undefined,
        device_id: undefined,
        location_city: undefined,
        amount: undefined,
      },
      messageId: undefined,
    });
    const [first] = await store.apply('events/0', [login('e-1', 0)]);
    assert.equal(first.kind === 'accepted' && first.features.logins, 1);
    await new Promise((resolve) => setTimeout(resolve, 4_500));
    assert.equal(await redis.client.get(store.entityKey('user_id', 'u-expiring')), null);
    // In event time the first login is still in the window; in Redis its key expired: the cached state is not written back.
    const [second] = await store.apply('events/0', [login('e-2', 500)]);
    assert.equal(second.kind === 'accepted' && second.features.logins, 1);
    await store.close();
  });

  it("keeps a key's TTL only while its own refresh holds: a key deleted by hand, or another writer's write, gets a full TTL again", async () => {
    // Retention 1 h + 1 min: TTL retention + 1 h when refreshed, kept by this store's writes for 30 min after.
    const definitions = parseFeatureDefinitions({
      features: [{ name: 'logins', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' }],
    });
    const settings = { ...TEST_STATE_SETTINGS, allowedLatenessMs: 60_000 };
    const fullTtl = entityTtlMs(3_660_000);
    const one = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'wt-ttl:' });
    const two = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'wt-ttl:' });
    const at = Date.parse('2026-11-20T10:00:00Z');
    let seq = 0;
    const login = (user: string): StateInput => ({
      event: {
        event_id: `ttl-${++seq}`,
        user_id: user,
        event_type: 'login',
        event_time: at + seq * 1_000,
        ip_address: undefined,
        device_id: undefined,
        location_city: undefined,
        amount: undefined,
      },
      messageId: undefined,
    });
    const key = one.entityKey('user_id', 'u-ttl');
    const pause = (): Promise<unknown> => new Promise((resolve) => setTimeout(resolve, 300));
    const pttl = async (): Promise<number> => Number(redis.cli('PTTL', key));
    const refreshed = async (): Promise<void> => {
      const left = await pttl();
      assert.ok(left > fullTtl - 250 && left <= fullTtl, `refreshed: ${left} ms left of ${fullTtl}`);
    };

    await one.apply('events/0', [login('u-ttl')]);
    await refreshed();
    await pause();
    await one.apply('events/0', [login('u-ttl')]);
    const kept = await pttl();
    assert.ok(kept <= fullTtl - 250, `kept: ${kept} ms left of ${fullTtl}`);

    // Deleted by hand while the store trusts its cached state: written back (as documented), with a TTL.
    redis.cli('DEL', key);
    await one.apply('events/0', [login('u-ttl')]);
    await refreshed();

    // Another writer's write (another entity) changes the token: the next write checks everything and refreshes.
    await pause();
    await two.apply('events/1', [login('u-other')]);
    await one.apply('events/0', [login('u-ttl')]);
    await refreshed();
    await Promise.all([one.close(), two.close()]);
  });
});
