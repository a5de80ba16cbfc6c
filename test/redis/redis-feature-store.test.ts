import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DependencyUnavailableError, MemoryFeatureStore, isRetriable, type StateInput } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '../support/redis-server';
import { sharedRedis } from '../support/redis-fixture';
import { assertSameAsMemory, featureStoreConformance } from './feature-store.conformance';
import { chunk, defaultDefinitions, generateStream } from '@test/support/state-stream';

const redis = sharedRedis();
let stores = 0;

featureStoreConformance('RedisFeatureStore (single node)', async (definitions, settings) =>
  Promise.resolve(new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: `t${++stores}:` })),
);

describe('RedisFeatureStore', () => {
  const definitions = defaultDefinitions();
  const settings = TEST_STATE_SETTINGS;

  it('replays 50,000 generated events (out of order, late, duplicates, redeliveries) exactly like MemoryFeatureStore', async () => {
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'big:' });
    const inputs = generateStream({
      seed: 20261120,
      events: 50_000,
      spanMs: 30 * 3_600_000,
      users: 3_000,
      ips: 800,
      devices: 2_500,
      allowedLatenessMs: settings.allowedLatenessMs,
      late: 0.03,
      outOfOrder: 0.12,
      duplicates: 0.03,
    });
    const counts = await assertSameAsMemory(store, definitions, settings, [{ partition: 'events/0', inputs }], 100);
    assert.ok(
      counts.accepted > 45_000 && counts.late > 1_000 && counts.duplicates > 500 && counts.redelivered > 200,
      JSON.stringify(counts),
    );
  });

  for (const step of ['read', 'computed', 'entities'] as const) {
    it(`a crash after the ${step} step: the retried batch is applied once, with the outcomes of sequential processing`, async () => {
      let crash = false;
      const store = new RedisFeatureStore(redis.client, definitions, settings, {
        keyPrefix: `crash-${step}:`,
        afterStep: (at) => {
          if (crash && at === step) throw new Error(`simulated crash after ${at}`);
        },
      });
      const reference = new MemoryFeatureStore(definitions, settings);
      const inputs = generateStream({
        seed: 7,
        events: 900,
        spanMs: 3_600_000,
        users: 40,
        ips: 10,
        devices: 30,
        allowedLatenessMs: settings.allowedLatenessMs,
      });
      const batches = chunk(inputs, 100);
      for (const [i, batch] of batches.entries()) {
        const expected = reference.applySync('events/0', batch);
        if (i === 4) {
          crash = true;
          await assert.rejects(store.apply('events/0', batch), /simulated crash/);
          crash = false;
          const retried = await store.apply('events/0', batch);
          // Before the entity writes nothing was stored: the retry is a first delivery. After them, the accepted
          // events come back as redelivered, with the values sequential processing gives, counted once.
          const redelivered = step === 'entities' && batch.every((b) => b.messageId !== undefined);
          assert.deepEqual(
            retried,
            expected.map((o) => (o.kind === 'accepted' && redelivered ? { ...o, redelivered: true } : o)),
          );
        } else {
          assert.deepEqual(await store.apply('events/0', batch), expected, `batch ${i}`);
        }
      }
    });
  }

  it('applyAhead (replay --state): every batch asked for before the previous write is answered gets the sequential outcomes', async () => {
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'ahead:', answersWithoutMessageId: false });
    const reference = new MemoryFeatureStore(definitions, settings);
    const inputs = generateStream({
      seed: 11,
      events: 3_000,
      spanMs: 3_600_000,
      users: 60,
      ips: 12,
      devices: 40,
      allowedLatenessMs: settings.allowedLatenessMs,
      late: 0.03,
      outOfOrder: 0.12,
      duplicates: 0.03,
    });
    const batches = chunk(inputs, 100);
    // All queued at once: each batch's read goes out behind the previous batch's write, none waits for an answer.
    const ahead = batches.map((batch) => store.applyAhead('events/0', batch));
    for (const [i, batch] of batches.entries()) {
      const { outcomes, durable } = await ahead[i];
      assert.deepEqual(outcomes, reference.applySync('events/0', batch), `batch ${i}`);
      await durable;
    }
    await store.close();
  });

  it('applyAhead: a write another writer made stale fails its durable (REDIS_CONFLICT) instead of being recomputed', async () => {
    const event = (id: string, minute: number): StateInput => ({
      event: {
        event_id: id,
        user_id: 'u-shared',
        event_type: 'login',
        event_time: Date.parse('2026-11-20T10:00:00Z') + minute * 60_000,
        ip_address: '10.9.9.9',
        device_id: 'd-shared',
        location_city: 'Paris',
        amount: undefined,
      },
      messageId: undefined,
    });
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'ahead-conflict:' });
    const other = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'ahead-conflict:' });
    await (
      await store.applyAhead('events/0', [event('a-1', 0)])
    ).durable;
    // Another process (another partition) changes the shared user: this store's cached state is stale.
    await other.apply('events/1', [event('b-1', 1)]);
    const { durable } = await store.applyAhead('events/0', [event('a-2', 2)]);
    await assert.rejects(durable, (error: Error & { code?: string }) => error.code === 'REDIS_CONFLICT');
    // Nothing of that batch was stored: the plain path, reading again, counts the shared user's two events only.
    const [retried] = await store.apply('events/0', [event('a-2', 2)]);
    assert.equal(retried.kind, 'accepted');
    await store.close();
  });

  it('keys of one script call share a slot: partition keys by partition tag, entity keys by entity tag', () => {
    const store = new RedisFeatureStore(redis.client, definitions, settings, { keyPrefix: 'k:' });
    const keys = store.partitionKeys('events/3');
    assert.deepEqual(Object.values(keys), ['k:{p:events/3}:st', 'k:{p:events/3}:dd', 'k:{p:events/3}:ord', 'k:{p:events/3}:lk']);
    assert.equal(store.entityKey('ip_address', '10.0.0.1'), 'k:{ip:10.0.0.1}:s');
  });
});

describe('RedisFeatureStore while Redis is down', () => {
  it('fails fast with a retriable error, half-applies nothing, and works again once Redis is back', async () => {
    // Append-only so that the restarted server still holds the state.
    const outage = await TestRedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always']);
    const outageClient = new RedisClient({ url: outage.url, commandTimeoutMs: 1_000, maxReconnectDelayMs: 100 });
    try {
      await outageClient.waitReady();
      const definitions = defaultDefinitions();
      const store = new RedisFeatureStore(outageClient, definitions, TEST_STATE_SETTINGS, { keyPrefix: 'outage:' });
      const reference = new MemoryFeatureStore(definitions, TEST_STATE_SETTINGS);
      const inputs: StateInput[] = generateStream({
        seed: 3,
        events: 400,
        spanMs: 3_600_000,
        users: 20,
        ips: 5,
        devices: 15,
        allowedLatenessMs: 600_000,
      });
      const [b0, b1, b2, b3] = chunk(inputs, 100) as [StateInput[], StateInput[], StateInput[], StateInput[]];
      assert.deepEqual(await store.apply('events/0', b0), reference.applySync('events/0', b0));

      await outage.stop();
      const error = await store.apply('events/0', b1).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof DependencyUnavailableError, `got ${String(error)}`);
      assert.ok(isRetriable(error));

      await outage.resume();
      await outageClient.waitReady(10_000);
      // The failed batch was not half-applied: retrying it gives exactly sequential processing's outcomes.
      assert.deepEqual(await store.apply('events/0', b1), reference.applySync('events/0', b1));
      assert.deepEqual(await store.apply('events/0', b2), reference.applySync('events/0', b2));
      assert.deepEqual(await store.apply('events/0', b3), reference.applySync('events/0', b3));
    } finally {
      await outageClient.quit();
      await outage.dispose();
    }
  });
});
