import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ListRegistry } from '@risk/domain/lists/list-registry';
import { ListSync } from '@risk/domain/lists/list-sync';
import type { ListEntry } from '@risk/domain/lists/list';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { RedisListStore } from '@risk/infra/redis/redis-list.store';
import { TestRedisCluster } from '../support/redis-server';

const NOW = Date.parse('2026-11-20T10:00:00Z');

async function* batches(...items: ListEntry[][]): AsyncIterable<readonly ListEntry[]> {
  for (const batch of items) yield batch;
}

function entry(value: string, expires_at: string | null = null, note: string | null = null): ListEntry {
  return { value, expires_at, note };
}

/** The Redis list store on a 3-master cluster: every key in the {lists} slot, pub/sub across masters. */
describe('RedisListStore on Redis Cluster', () => {
  let cluster: TestRedisCluster;
  let writer: RedisClient;
  let reader: RedisClient;

  before(async () => {
    cluster = await TestRedisCluster.start(3);
    writer = new RedisClient({ clusterNodes: cluster.nodes, commandTimeoutMs: 3_000 });
    reader = new RedisClient({ clusterNodes: cluster.nodes, commandTimeoutMs: 3_000 });
    await Promise.all([writer.waitReady(), reader.waitReady()]);
  });
  after(async () => {
    await writer.quit();
    await reader.quit();
    await cluster.dispose();
  });

  it('versions small and bulk changes, replays small ones in place on another instance, reloads after a bulk one', async () => {
    const one = new RedisListStore(writer, 'lc:', () => new Date(NOW));
    const other = new RedisListStore(reader, 'lc:');
    const registry = new ListRegistry(() => NOW);
    const sync = new ListSync(other, registry);
    const heard: (string | undefined)[] = [];
    const unsubscribe = await other.subscribe((name) => heard.push(name));

    await one.create({ name: 'ips', kind: 'ip', description: null }, 'alice');
    await assert.rejects(one.create({ name: 'ips', kind: 'ip', description: null }, 'bob'), { code: 'LIST_EXISTS' });
    await sync.sync();
    const first = registry.matcher('ips')!;
    assert.equal(first.version, 1);

    const small = await one.add(
      'ips',
      batches([entry('203.0.113.0/24', null, 'botnet')], [entry('2001:db8::1', '2026-11-20T11:00:00.000Z')]),
      'alice',
      'add',
    );
    assert.deepEqual([small.version, small.entry_count], [2, 2]);
    assert.deepEqual(
      (await other.changesSince('ips', 1))?.map((d) => [d.version, d.kind]),
      [[2, 'add']],
    );
    await sync.sync();
    assert.equal(registry.matcher('ips'), first, 'a small change is applied in place');
    assert.equal(first.contains('203.0.113.9', NOW), true);
    assert.equal(first.contains('2001:db8::1', NOW), true);

    const bulk = Array.from({ length: 3000 }, (_, i) => entry(`10.0.${i >> 8}.${i & 255}`));
    const uploaded = await one.add('ips', batches(bulk.slice(0, 1200), bulk.slice(1200)), 'alice', 'upload');
    assert.deepEqual([uploaded.version, uploaded.entry_count], [3, 3002]);
    assert.equal(await other.changesSince('ips', 2), undefined, 'a bulk change makes instances reload');
    await sync.sync();
    const reloaded = registry.matcher('ips')!;
    assert.notEqual(reloaded, first);
    assert.deepEqual([reloaded.version, reloaded.size], [3, 3002]);

    const removed = await one.remove('ips', ['10.0.0.0', '203.0.113.0/24', 'absent'], 'bob');
    assert.deepEqual([removed.version, removed.entry_count], [4, 3000]);
    await sync.sync();
    assert.equal(reloaded.contains('203.0.113.9', NOW), false);
    assert.equal(reloaded.contains('10.0.0.1', NOW), true);

    let exported = 0;
    for await (const batch of other.entries('ips')) exported += batch.length;
    assert.equal(exported, 3000);
    const audit = await other.audit('ips', 10, 0);
    assert.equal(audit.total, 4);
    assert.deepEqual(
      audit.items.map((e) => [e.version, e.action, e.actor, e.count]),
      [
        [4, 'remove', 'bob', 3],
        [3, 'upload', 'alice', 3000],
        [2, 'add', 'alice', 2],
        [1, 'create', 'alice', 0],
      ],
    );

    await one.delete('ips', 'carol');
    await sync.sync();
    assert.equal(registry.matcher('ips'), undefined);
    assert.equal((await other.audit('ips', 1, 0)).items[0].action, 'delete');
    // Created again: it starts empty, at version 1.
    const again = await one.create({ name: 'ips', kind: 'ip', description: null }, 'alice');
    assert.deepEqual([again.version, (await other.summary('ips'))?.entry_count], [1, 0]);

    // Pub/sub reached the subscriber connected through another client (messages may come from any master).
    const deadline = Date.now() + 10_000;
    while (heard.filter((n) => n === 'ips').length < 6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(heard.filter((n) => n === 'ips').length >= 6, `heard ${JSON.stringify(heard)}`);
    await unsubscribe();
  });
});
