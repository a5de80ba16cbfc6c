import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StateInput, StateSettings } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { sharedRedis } from '../support/redis-fixture';
import { chunk, defaultDefinitions } from '@test/support/state-stream';

// A batch's read asks for the first entry of the partition's order list only while this process knows it does not
// expire (redis-order-head.ts), and reads the full count when it does after all. The dedup decisions must be those
// of reading the full count every time: checked here against a model of that rule, on a stream whose bursts make
// the oldest event_ids expire at some batches and not at others.

const redis = sharedRedis();

const MIN = 60_000;
const T0 = Date.parse('2026-11-20T10:00:00Z');

function input(id: string, time: number): StateInput {
  return {
    event: {
      event_id: id,
      user_id: `u-${id.length % 7}`,
      event_type: 'login',
      event_time: time,
      ip_address: '10.0.0.1',
      device_id: undefined,
      location_city: undefined,
      amount: undefined,
    },
    messageId: undefined,
  };
}

/**
 * The ledger's rule with the full count read at every batch: the leading
 * order entries at or before `max − retention` (max before the batch) expire,
 * at most `batch size + 32`; an event_id still remembered, or seen earlier
 * in the batch, is a duplicate.
 */
function model(batches: readonly StateInput[][], retentionMs: number): { kinds: string[][]; remembered: number; expiring: number } {
  const order: { time: number; id: string }[] = [];
  const remembered = new Set<string>();
  let max: number | undefined;
  let expiring = 0;
  const kinds = batches.map((batch) => {
    let expire = 0;
    if (max !== undefined) {
      const limit = Math.min(order.length, batch.length + 32);
      while (expire < limit && order[expire].time <= max - retentionMs) expire++;
    }
    if (expire > 0) expiring++;
    const expired = new Set(order.slice(0, expire).map((e) => e.id));
    const seen = new Set<string>();
    const accepted: { time: number; id: string }[] = [];
    const out = batch.map(({ event }) => {
      if (seen.has(event.event_id) || (remembered.has(event.event_id) && !expired.has(event.event_id))) return 'duplicate';
      seen.add(event.event_id);
      accepted.push({ time: event.event_time, id: event.event_id });
      if (max === undefined || event.event_time > max) max = event.event_time;
      return 'accepted';
    });
    for (const { id } of order.splice(0, expire)) remembered.delete(id);
    for (const entry of accepted) {
      order.push(entry);
      remembered.add(entry.id);
    }
    return out;
  });
  return { kinds, remembered: remembered.size, expiring };
}

/** Five bursts of 100 events, one a second, 15 minutes apart; each resends ids of the previous burst and of its own. */
function bursts(): StateInput[] {
  const inputs: StateInput[] = [];
  for (let burst = 0; burst < 5; burst++) {
    const start = T0 + burst * (100_000 + 15 * MIN);
    for (let i = 0; i < 100; i++) {
      const time = start + i * 1_000;
      if (burst > 0 && i % 9 === 4) inputs.push(input(`b${burst - 1}-${(i * 7) % 100}`, time));
      else if (i % 13 === 12) inputs.push(input(`b${burst}-${i - 5}`, time));
      else inputs.push(input(`b${burst}-${i}`, time));
    }
  }
  return inputs;
}

/** LRANGE calls of the batches' reads: all LRANGEs less those of the commits that expired entries (COMMIT_APPLY). */
function readLranges(expiringCommits: number): number {
  const calls = Number(/^cmdstat_lrange:calls=(\d+)/m.exec(redis.cli('INFO', 'commandstats'))?.[1] ?? 0);
  return calls - expiringCommits;
}

describe('RedisFeatureStore order list head (single node)', () => {
  const settings: StateSettings = { ...TEST_STATE_SETTINGS, dedupRetentionMs: 10 * MIN };

  it('decides duplicates as reading the full head every batch would; one store alone never reads it twice', async () => {
    const inputs = bursts();
    const batches = chunk(inputs, 20);
    const expected = model(batches, settings.dedupRetentionMs);
    redis.cli('CONFIG', 'RESETSTAT');
    const store = new RedisFeatureStore(redis.client, defaultDefinitions(), settings, { keyPrefix: 'oh1:' });
    try {
      const actual: string[][] = [];
      for (const batch of batches) actual.push((await store.apply('p', batch)).map((o) => o.kind));
      assert.deepEqual(actual, expected.kinds);
    } finally {
      await store.close();
    }
    const flat = expected.kinds.flat();
    // The stream exercises both sides: ids accepted again after they expired (at most 52 a batch), and ids still remembered.
    const againAccepted = inputs.filter(
      (x, i) => flat[i] === 'accepted' && inputs.findIndex((y) => y.event.event_id === x.event.event_id) < i,
    );
    assert.ok(againAccepted.length > 5 && flat.filter((k) => k === 'duplicate').length > 20, String(againAccepted.length));
    assert.ok(expected.expiring > 3 && expected.expiring < batches.length - 3, `${expected.expiring} batches expire entries`);
    assert.equal(Number(redis.cli('HLEN', 'oh1:{p:p}:dd')), expected.remembered);
    assert.equal(Number(redis.cli('LLEN', 'oh1:{p:p}:ord')), expected.remembered);
    assert.equal(readLranges(expected.expiring), batches.length);
  });

  it('reads the full head after all when another store moved the partition on: the same decisions', async () => {
    const batches = chunk(bursts(), 20);
    const expected = model(batches, settings.dedupRetentionMs);
    redis.cli('CONFIG', 'RESETSTAT');
    // Two stores take turns batch by batch: after a pause in the stream, one finds the max the other moved, which its
    // own note did not foresee.
    const stores = [0, 1].map(() => new RedisFeatureStore(redis.client, defaultDefinitions(), settings, { keyPrefix: 'oh2:' }));
    try {
      const actual: string[][] = [];
      for (let b = 0; b < batches.length; b++) actual.push((await stores[b % 2].apply('p', batches[b])).map((o) => o.kind));
      assert.deepEqual(actual, expected.kinds);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
    assert.equal(Number(redis.cli('LLEN', 'oh2:{p:p}:ord')), expected.remembered);
    assert.ok(readLranges(expected.expiring) > batches.length, 'some reads found the first entry expiring and read the full head');
  });
});
