import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryFeatureStore, parseFeatureDefinitions, type StateInput, type StateOutcome } from '@risk/domain';
import { RedisFeatureStore, type StoreStep } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { entityTtlMs } from '@risk/infra/redis/redis-entity-ttl';
import { sharedRedis } from '../support/redis-fixture';

// The single node's write as MULTI … EXEC under the read's WATCH (redis-single-node-write.ts, WriteChain.watch):
// used by a store writing alone; any write by someone else between the WATCH and the EXEC aborts it, and the batch is
// read again and written through the checking script.

const redis = sharedRedis();

const definitions = parseFeatureDefinitions({
  features: [
    { name: 'user_logins', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' },
    { name: 'ip_logins', entity: 'ip_address', aggregate: 'count', event_types: ['login'], window: '1h' },
  ],
});
const settings = { ...TEST_STATE_SETTINGS, allowedLatenessMs: 60_000 };
const at = Date.parse('2026-11-20T10:00:00Z');
let seq = 0;

function login(user: string, ip = '10.9.9.9'): StateInput {
  seq++;
  return {
    event: {
      event_id: `tx-${seq}`,
      user_id: user,
      event_type: 'login',
      event_time: at + seq * 1_000,
      ip_address: ip,
      device_id: undefined,
      location_city: undefined,
      amount: undefined,
    },
    messageId: `t/0/${seq}`,
  };
}

/** Calls of one command since the last call (INFO commandstats, then reset). */
function callsOf(command: string): number {
  const info = redis.cli('INFO', 'commandstats');
  redis.cli('CONFIG', 'RESETSTAT');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

/** A store whose next batch runs `between` after computing its write (after its read's WATCH, before its EXEC). */
function storeWithHook(prefix: string): { store: RedisFeatureStore; between: (run: () => Promise<void>) => void } {
  let hook: (() => Promise<void>) | undefined;
  const afterStep = async (step: StoreStep): Promise<void> => {
    if (step !== 'computed' || hook === undefined) return;
    const run = hook;
    hook = undefined;
    await run();
  };
  const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: prefix, afterStep });
  return { store, between: (run) => (hook = run) };
}

function count(outcome: StateOutcome | undefined, feature: string): unknown {
  return outcome?.kind === 'accepted' ? outcome.features[feature] : outcome?.kind;
}

describe('RedisFeatureStore transactions (single node)', () => {
  it('a store writing alone commits by MULTI/EXEC after its first write, with the outcomes of MemoryFeatureStore', async () => {
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'tx-alone:' });
    const reference = new MemoryFeatureStore(definitions, settings);
    callsOf('exec');
    for (let i = 0; i < 6; i++) {
      const batch = [login(`u-${i % 2}`), login('u-2', `10.0.0.${i % 3}`), login(`u-${i % 2}`)];
      assert.deepEqual(await store.apply('events/0', batch), reference.applySync('events/0', batch), `batch ${i}`);
    }
    // The first write knows no token yet (the script); the next five are transactions.
    assert.equal(callsOf('exec'), 5);
    assert.equal(store.aborted, 0);
    // A redelivered batch is answered from the dedup records the transactions wrote.
    const again = [login('u-0')];
    const first = await store.apply('events/0', again);
    assert.deepEqual(await store.apply('events/0', again), [{ ...first[0], redelivered: true }]);
    await store.close();
  });

  it("another store's write between the WATCH and the EXEC aborts the transaction: read again, written by the script, sequential outcomes", async () => {
    const { store, between } = storeWithHook('tx-foreign:');
    const otherClient = new RedisClient({ url: redis.server.url });
    await otherClient.waitReady();
    const other = new RedisFeatureStore(otherClient, definitions, settings, { keyPrefix: 'tx-foreign:' });
    const reference = new MemoryFeatureStore(definitions, settings);
    for (const batch of [[login('u-a')], [login('u-a')]]) {
      assert.deepEqual(await store.apply('events/0', batch), reference.applySync('events/0', batch));
    }
    try {
      // The third batch's write is a transaction computed with u-a's two logins; the other store's earlier login at u-a
      // lands after the WATCH. Without the WATCH, the EXEC would overwrite it (a lost update) and answer 3.
      const foreign = [login('u-a')];
      const mine = [login('u-a')];
      between(async () => {
        assert.deepEqual(await other.apply('events/1', foreign), reference.applySync('events/1', foreign));
      });
      callsOf('exec');
      const outcomes = await store.apply('events/0', mine);
      assert.deepEqual(outcomes, reference.applySync('events/0', mine));
      assert.equal(count(outcomes[0], 'user_logins'), 4);
      assert.equal(store.aborted, 1);
      assert.equal(callsOf('exec'), 1);
      // Both writers' logins are in Redis.
      const next = [login('u-a')];
      assert.deepEqual(await other.apply('events/1', next), reference.applySync('events/1', next));
      assert.equal(count((await store.apply('events/0', [login('u-a')]))[0], 'user_logins'), 6);
    } finally {
      await Promise.all([store.close(), other.close()]);
      await otherClient.quit();
    }
  });

  it('the write token changed by another client between the WATCH and the EXEC aborts the transaction; nothing is lost', async () => {
    const { store, between } = storeWithHook('tx-token:');
    const reference = new MemoryFeatureStore(definitions, settings);
    for (const batch of [[login('u-t')], [login('u-t')]]) {
      assert.deepEqual(await store.apply('events/0', batch), reference.applySync('events/0', batch));
    }
    between(async () => {
      redis.cli('SET', 'tx-token:write-token', 'someone-else');
    });
    const batch = [login('u-t'), login('u-t2')];
    assert.deepEqual(await store.apply('events/0', batch), reference.applySync('events/0', batch));
    assert.equal(store.aborted, 1);
    for (let i = 0; i < 3; i++) {
      const more = [login('u-t')];
      assert.deepEqual(await store.apply('events/0', more), reference.applySync('events/0', more));
    }
    assert.equal(store.aborted, 1);
    await store.close();
  });

  it('a connection closed and reopened between the WATCH and the EXEC: the transaction is not sent unwatched, the batch is read again', async () => {
    const { store, between } = storeWithHook('tx-reconnect:');
    const reference = new MemoryFeatureStore(definitions, settings);
    for (const batch of [[login('u-r')], [login('u-r')]]) {
      assert.deepEqual(await store.apply('events/0', batch), reference.applySync('events/0', batch));
    }
    const foreign = [login('u-r')];
    const mine = [login('u-r')];
    let otherClient: RedisClient | undefined;
    between(async () => {
      // The store's connection is killed (its WATCH with it) and reconnects; then another store writes u-r.
      redis.cli('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
      for (let waited = 0; waited < 5_000 && !(waited > 200 && redis.client.isReady); waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      otherClient = new RedisClient({ url: redis.server.url });
      await otherClient.waitReady();
      const other = new RedisFeatureStore(otherClient, definitions, settings, { keyPrefix: 'tx-reconnect:' });
      assert.deepEqual(await other.apply('events/1', foreign), reference.applySync('events/1', foreign));
      await other.close();
    });
    try {
      // Sent on the new connection, the EXEC would overwrite the other store's login (a lost update: 3).
      const outcomes = await store.apply('events/0', mine);
      assert.deepEqual(outcomes, reference.applySync('events/0', mine));
      assert.equal(count(outcomes[0], 'user_logins'), 4);
      assert.equal(store.aborted, 1);
    } finally {
      await store.close();
      await otherClient?.quit();
    }
  });

  it('a claim taken by another process between the WATCH and the EXEC aborts the transaction: REDIS_PARTITION_LOST, nothing written', async () => {
    const { store, between } = storeWithHook('tx-claim:');
    for (const batch of [[login('u-c')], [login('u-c')]]) await store.apply('events/0', batch);
    const keys = store.partitionKeys('events/0');
    const version = redis.cli('HGET', keys.state, 'ver');
    const userKey = store.entityKey('user_id', 'u-c');
    const blob = redis.cli('GET', userKey);
    // As if this store's claim had expired and another process had claimed the partition.
    between(async () => {
      redis.cli('SET', keys.lock, 'another-owner', 'PX', '60000');
    });
    const lost = login('u-c');
    await assert.rejects(store.apply('events/0', [lost]), (error: Error & { code?: string }) => error.code === 'REDIS_PARTITION_LOST');
    assert.equal(store.aborted, 1);
    assert.equal(redis.cli('HGET', keys.state, 'ver'), version);
    assert.equal(redis.cli('HEXISTS', keys.dedup, lost.event.event_id), '0');
    assert.equal(redis.cli('GET', keys.lock), 'another-owner');
    assert.equal(redis.cli('GET', userKey), blob);
    await store.close();
  });

  it('an entity key deleted by hand while trusted: the transaction keeping its TTL finds it gone and writes it again with a TTL', async () => {
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'tx-gone:' });
    const fullTtl = entityTtlMs(3_660_000);
    const key = store.entityKey('user_id', 'u-g');
    await store.apply('events/0', [login('u-g', '10.1.1.1')]);
    await store.apply('events/0', [login('u-g', '10.1.1.1')]);
    const kept = Number(redis.cli('PTTL', key));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await store.apply('events/0', [login('u-g', '10.1.1.1')]);
    assert.ok(Number(redis.cli('PTTL', key)) < kept, 'a transaction kept the TTL');
    redis.cli('DEL', key);
    callsOf('exec');
    const outcomes = await store.apply('events/0', [login('u-g', '10.1.1.1')]);
    assert.equal(callsOf('exec'), 1);
    // Written back from the cached state (as the script does: docs/redis.md "The write token"), with a full TTL.
    assert.equal(count(outcomes[0], 'user_logins'), 4);
    const left = Number(redis.cli('PTTL', key));
    assert.ok(left > fullTtl - 1_000 && left <= fullTtl, `${left} ms left of ${fullTtl}`);
    assert.equal(count((await store.apply('events/0', [login('u-g', '10.1.1.1')]))[0], 'user_logins'), 5);
    await store.close();
  });

  it('batches of several partitions at once in one process (one WATCH per connection at a time) give the counts of MemoryFeatureStore', async () => {
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'tx-parallel:' });
    const reference = new MemoryFeatureStore(definitions, settings);
    callsOf('exec');
    for (let round = 0; round < 12; round++) {
      // Disjoint users per partition, shared IPs: each partition's user counts do not depend on the interleaving.
      const batches = [0, 1, 2].map((p) => [login(`u-p${p}-${round % 3}`, `10.2.0.${round % 4}`), login(`u-p${p}-0`, '10.2.0.9')]);
      const outcomes = await Promise.all(batches.map((batch, p) => store.apply(`events/${p}`, batch)));
      batches.forEach((batch, p) => {
        const expected = reference.applySync(`events/${p}`, batch);
        expected.forEach((outcome, i) => assert.equal(count(outcomes[p][i], 'user_logins'), count(outcome, 'user_logins')));
      });
    }
    assert.ok(callsOf('exec') > 0, 'some batches were transactions');
    // Every login reached each shared IP once: the final counts equal the memory store's.
    for (let ip = 0; ip < 4; ip++) {
      const value = `10.2.0.${ip}`;
      assert.deepEqual(await store.readEntity('ip_address', value), await reference.readEntity('ip_address', value), value);
    }
    assert.deepEqual(await store.readEntity('ip_address', '10.2.0.9'), await reference.readEntity('ip_address', '10.2.0.9'));
    await store.close();
  });

  it('RedisClient.transaction: null when a watched key changed; a command refused while queued rejects and the next replies stay paired', async () => {
    const client = new RedisClient({ url: redis.server.url });
    await client.waitReady();
    try {
      await client.pipelined([{ command: 'watch', args: ['tx-w'] }]);
      redis.cli('SET', 'tx-w', 'changed');
      assert.equal(await client.transaction([['set', 'tx-x', '1']]), null);
      assert.equal(redis.cli('EXISTS', 'tx-x'), '0');
      const answers = await client.transaction([
        ['set', 'tx-x', '2'],
        ['get', 'tx-x'],
      ]);
      assert.deepEqual(answers?.map(String), ['OK', '2']);
      await assert.rejects(
        client.transaction([['set', 'tx-x', '3'], ['set'], ['set', 'tx-x', '4']]),
        (error: Error & { code?: string }) => error.code === 'REDIS_ERROR',
      );
      assert.equal(await client.get('tx-x'), '2');
      assert.deepEqual(
        await client.pipelined([
          { command: 'get', args: ['tx-x'] },
          { command: 'exists', args: ['tx-x', 'tx-w'] },
        ]),
        ['2', 2],
      );
    } finally {
      await client.quit();
    }
  });
});
