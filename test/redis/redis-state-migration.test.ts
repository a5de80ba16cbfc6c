import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, it } from 'node:test';
import {
  MemoryFeatureStore,
  RiskEngineError,
  type FeatureDefinition,
  type FeatureStore,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { legacyEntityGroups, parseLegacyEntityKey } from '@risk/infra/redis/legacy-redis-layout';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { stateLayoutMarker } from '@risk/infra/redis/redis-state-layout';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { openFeatureStore } from '@risk/infra/wiring/open-feature-store';
import { runCli } from '@test/support/cli';
import { spawnEngine } from '@test/support/engine-process';
import { TestRedisServer } from '@test/support/redis-server';
import { chunk, defaultDefinitions, generateStream, type StreamOptions } from '@test/support/state-stream';

/** test/fixtures/redis-layout-v1.json: every key the old (generated-Lua) store left after 3,000 events (see its generator). */
interface Fixture {
  readonly keyPrefix: string;
  readonly settings: StateSettings;
  readonly stream: { readonly options: StreamOptions; readonly sha1: string; readonly partitions: number; readonly batchSize: number };
  readonly stores: readonly {
    readonly partitionPrefix: string;
    readonly applied: readonly { readonly partition: string; readonly inputs: readonly number[] }[];
  }[];
  readonly keys: Record<
    string,
    { readonly type: string; readonly pttl: number; readonly value: string | string[] | Record<string, string> }
  >;
}

const fixture = JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'redis-layout-v1.json'), 'utf8')) as Fixture;
const { settings } = fixture;
const definitions: FeatureDefinition[] = defaultDefinitions();

/** Writes a key of the dump (bytes from base64) with its remaining TTL. */
const LOAD_SCRIPT = `
local kind, ttl = ARGV[1], tonumber(ARGV[2])
redis.call('DEL', KEYS[1])
if kind == 'string' then redis.call('SET', KEYS[1], ARGV[3])
elseif kind == 'hash' then for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
else for i = 3, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end end
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
`;

/** Loads the fixture's keys under `prefix` (instead of its own), all but those `skip` names. */
async function loadFixture(client: RedisClient, prefix: string, skip: (key: string) => boolean = () => false): Promise<number> {
  const script = client.defineScript('load_fixture', LOAD_SCRIPT);
  const b64 = (text: string): Buffer => Buffer.from(text, 'base64');
  let loaded = 0;
  for (const [key, dumped] of Object.entries(fixture.keys)) {
    if (skip(key)) continue;
    const values =
      dumped.type === 'string'
        ? [b64(dumped.value as string)]
        : dumped.type === 'hash'
          ? Object.entries(dumped.value as Record<string, string>).flatMap(([field, value]) => [Buffer.from(field), b64(value)])
          : (dumped.value as string[]).map(b64);
    await script.run([prefix + key.slice(fixture.keyPrefix.length)], [dumped.type, String(dumped.pttl), ...values]);
    loaded++;
  }
  return loaded;
}

const isOldEntity = (key: string): boolean => parseLegacyEntityKey(key, fixture.keyPrefix) !== undefined;

/**
 * The fixture's stream and what comes after it: the same generator with the
 * same seed and step gives the same first 3,000 inputs, then 1,000 more (some
 * of them repeat event_ids of the first 3,000: the dedup records carry over
 * too). The continuation is scheduled as the fixture's batches were: per
 * partition (user id mod 2), batches of 100, round robin.
 */
function streamAndContinuation(): { inputs: StateInput[]; rest: { partition: string; inputs: StateInput[] }[] } {
  const { options, partitions, batchSize } = fixture.stream;
  const total = options.events + 1000;
  const inputs = generateStream({ ...options, events: total, spanMs: (options.spanMs / options.events) * total });
  assert.equal(
    createHash('sha1')
      .update(JSON.stringify(inputs.slice(0, options.events)))
      .digest('hex'),
    fixture.stream.sha1,
  );
  const perPartition = Array.from({ length: partitions }, () => [] as StateInput[]);
  for (const input of inputs.slice(options.events)) perPartition[Number(input.event.user_id.slice(2)) % partitions].push(input);
  const batches = perPartition.map((list) => chunk(list, batchSize));
  const rest: { partition: string; inputs: StateInput[] }[] = [];
  for (let b = 0; b < Math.max(...batches.map((list) => list.length)); b++) {
    batches.forEach((list, p) => {
      if (list[b] !== undefined) rest.push({ partition: `${fixture.stores[0].partitionPrefix}${p}`, inputs: list[b] });
    });
  }
  return { inputs, rest };
}

async function applyAll(store: FeatureStore, batches: readonly { partition: string; inputs: StateInput[] }[]): Promise<StateOutcome[][]> {
  const out: StateOutcome[][] = [];
  for (const batch of batches) out.push(await store.apply(batch.partition, batch.inputs));
  return out;
}

describe('upgrading a Redis that holds the old (generated-Lua) layout: refuse, migrate-state, carry the state over', () => {
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

  const open = (keyPrefix: string): ReturnType<typeof openFeatureStore> =>
    openFeatureStore(definitions, {
      settings,
      redis: { url: server.url, clusterNodes: undefined, keyPrefix, stateCache: 100_000 },
      redisReadyTimeoutMs: 5_000,
    });
  const oldKeysUnder = (prefix: string): Promise<string[]> =>
    client.findMatching(`${prefix}{*}:e*`, 100_000, (key) => parseLegacyEntityKey(key, prefix) !== undefined);

  it('refuses with the command, migrates through the CLI, and then gives exactly the outcomes of a store that never stopped', async () => {
    const prefix = fixture.keyPrefix;
    await loadFixture(client, prefix);
    const oldKeys = Object.keys(fixture.keys).filter(isOldEntity);
    const ours = new Set(legacyEntityGroups(definitions).map((g) => `${g.code}:${g.layout}`));
    const owned = oldKeys.filter((key) => {
      const parsed = parseLegacyEntityKey(key, prefix)!;
      return ours.has(`${parsed.code}:${parsed.layout}`);
    });
    assert.ok(owned.length > 100 && owned.length < oldKeys.length, `${owned.length} of ${oldKeys.length} old entity keys are the rules'`);

    // 1. The service's factory refuses: non-retriable, what was found, the exact command.
    const command = `npx risk-engine migrate-state --redis ${server.url} --key-prefix ${prefix}`;
    await assert.rejects(open(prefix), (error: unknown) => {
      assert.ok(error instanceof RiskEngineError);
      assert.equal(error.code, 'STATE_LAYOUT_OUTDATED');
      assert.equal(error.retriable, false);
      assert.match(error.message, new RegExp(`\\(${oldKeys.length} old entity keys under the prefix "risk:", e\\.g\\. risk:\\{`));
      assert.ok(error.message.includes(command), error.message);
      assert.ok(error.message.includes('--discard'), error.message);
      return true;
    });
    assert.equal(await client.get(stateLayoutMarker(prefix)), null);

    // ...and so does the service process: the message on stderr, a non-zero exit.
    const engine = spawnEngine({
      REDIS_URL: server.url,
      REDIS_KEY_PREFIX: prefix,
      KAFKA_BROKERS: undefined,
      ELASTICSEARCH_NODE: undefined,
    });
    await assert.rejects(engine.url);
    await engine.stop();
    assert.notEqual(engine.child.exitCode, 0);
    assert.ok(engine.output().includes('risk-engine failed to start') && engine.output().includes(command), engine.output());

    // 2. The command: every old entity key of the rules converted, the others (other definitions) deleted, the old applied
    // records deleted, the prefix marked.
    const run = await runCli(['migrate-state', '--redis', server.url, '--key-prefix', prefix]);
    assert.equal(run.status, 0, run.stderr);
    const migrated = Number(/migrated (\d+)/.exec(run.stdout)?.[1]);
    const empty = Number(/empty (\d+)/.exec(run.stdout)?.[1]);
    assert.equal(migrated + empty, owned.length, run.stdout);
    assert.ok(migrated > 100, run.stdout);
    assert.ok(run.stdout.includes(`foreign layout ${oldKeys.length - owned.length} (deleted), failed 0`), run.stdout);
    assert.ok(run.stdout.includes('old applied records deleted 4'), run.stdout);
    assert.deepEqual(await oldKeysUnder(prefix), []);
    assert.equal(await client.get(stateLayoutMarker(prefix)), '2');
    // Each new key holds a blob of the current format and keeps the old key's remaining TTL.
    const probe = new RedisFeatureStore(client, definitions, settings, { keyPrefix: prefix });
    const pttl = client.defineScript('pttl', `return redis.call('PTTL', KEYS[1])`);
    let checked = 0;
    for (const key of owned) {
      const parsed = parseLegacyEntityKey(key, prefix)!;
      const entity = legacyEntityGroups(definitions).find((g) => g.code === parsed.code)!.entity;
      const newKey = probe.entityKey(entity, parsed.value);
      const [blob, left] = await client.pipelined([
        { command: 'get', args: [newKey], buffers: true },
        { script: pttl, keys: [newKey], args: [] },
      ]);
      if (blob === null) continue; // an old key without state left (counted as empty)
      assert.ok(blob instanceof Buffer && blob[0] === 2, newKey);
      const old = fixture.keys[key].pttl;
      assert.ok(Number(left) <= old && Number(left) > old - 120_000, `${newKey}: PTTL ${String(left)}, old ${old}`);
      checked++;
    }
    assert.equal(checked, migrated);

    // Safe to re-run: nothing left to convert.
    const again = await runCli(['migrate-state', '--redis', server.url, '--key-prefix', prefix]);
    assert.equal(again.status, 0, again.stderr);
    assert.ok(again.stdout.includes('migrated 0, already migrated 0, empty 0, foreign layout 0 (deleted), failed 0'), again.stdout);

    // 3. The store opens, and the rest of the stream gives exactly what a store fed the whole stream gives.
    const { inputs, rest } = streamAndContinuation();
    const reference = new MemoryFeatureStore(definitions, settings);
    for (const batch of fixture.stores[0].applied)
      reference.applySync(
        batch.partition,
        batch.inputs.map((i) => inputs[i]),
      );
    const expected = await applyAll(reference, rest);
    const opened = await open(prefix);
    try {
      const outcomes = await applyAll(opened.store, rest);
      rest.forEach((batch, b) => assert.deepStrictEqual(outcomes[b], expected[b], `batch ${b} of ${batch.partition}`));
    } finally {
      await opened.close();
    }

    // Control: the same dump without its entity state (what an engine ignoring the old keys would start from, partition
    // keys and all) gives other outcomes for the same events. Without this, the equality above would prove nothing.
    await loadFixture(client, 'ctl:', (key) => isOldEntity(key) || key.endsWith(':ap'));
    const control = new RedisFeatureStore(client, definitions, settings, { keyPrefix: 'ctl:' });
    const fromEmpty = await applyAll(control, rest);
    await control.close();
    let differing = 0;
    let accepted = 0;
    rest.forEach((_, b) =>
      expected[b].forEach((outcome, i) => {
        if (outcome.kind === 'accepted' && !outcome.redelivered) accepted++;
        if (!isDeepStrictEqual(outcome, fromEmpty[b][i])) differing++;
      }),
    );
    assert.ok(accepted > 800, `${accepted} accepted`);
    assert.ok(differing > 500, `only ${differing} outcomes differ from a store without the old entity state`);
  });

  it('--discard drops the old entity state, keeps the partition keys and marks the prefix', async () => {
    const prefix = 'dis:';
    await loadFixture(client, prefix);
    await assert.rejects(open(prefix), (error: unknown) => error instanceof RiskEngineError && error.code === 'STATE_LAYOUT_OUTDATED');
    const run = await runCli(['migrate-state', '--redis', server.url, '--key-prefix', prefix, '--discard']);
    assert.equal(run.status, 0, run.stderr);
    assert.ok(run.stdout.includes(`discarded ${Object.keys(fixture.keys).filter(isOldEntity).length};`), run.stdout);
    assert.deepEqual(await oldKeysUnder(prefix), []);
    assert.equal(await client.get(stateLayoutMarker(prefix)), '2');
    assert.notEqual(await client.hget(`${prefix}{p:events/0}:st`, 'max'), null);
    const opened = await open(prefix);
    await opened.close();
  });

  it('an empty prefix is marked at the first start, without refusal; wrong rules and arguments are refused', async () => {
    const opened = await open('fresh:');
    await opened.close();
    assert.equal(await client.get(stateLayoutMarker('fresh:')), '2');

    // Old state none of which is of the given rules: most likely the wrong --rules; nothing is changed.
    await loadFixture(client, 'wrong:', (key) => {
      const parsed = parseLegacyEntityKey(key, fixture.keyPrefix);
      return parsed === undefined || legacyEntityGroups(definitions).some((g) => g.code === parsed.code && g.layout === parsed.layout);
    });
    const before = (await oldKeysUnder('wrong:')).length;
    assert.ok(before > 0);
    const wrong = await runCli(['migrate-state', '--redis', server.url, '--key-prefix', 'wrong:']);
    assert.equal(wrong.status, 1, wrong.stdout);
    assert.match(wrong.stderr, /other feature definitions .* wrong --rules\? Nothing was changed/);
    assert.equal((await oldKeysUnder('wrong:')).length, before);
    assert.equal(await client.get(stateLayoutMarker('wrong:')), null);

    assert.equal((await runCli(['migrate-state', '--key-prefix', 'x:'])).status, 2);
    assert.equal((await runCli(['migrate-state', '--redis', 'http://x'])).status, 2);
  });
});
