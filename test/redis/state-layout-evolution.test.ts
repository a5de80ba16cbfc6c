/**
 * Issue 12 item 4, a state layout that can evolve: adding, removing or
 * redefining one feature must not reset the state of the other features of
 * its entity group. An engine applies the first half of a stream with the
 * definitions D1; an upgraded engine (a fresh store, empty cache) continues
 * on the same Redis prefix with D2 and applies the second half.
 */
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryFeatureStore, type FeatureDefinition, type StateOutcome } from '@risk/domain';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import { TestRedisServer } from '../support/redis-server';
import { chunk, defaultDefinitions, generateStream } from '@test/support/state-stream';

const settings = TEST_STATE_SETTINGS;
const PARTITION = 'events/0';
const D1 = defaultDefinitions();
const inputs = generateStream({
  seed: 412,
  events: 3_000,
  spanMs: 6 * 3_600_000,
  users: 40,
  ips: 15,
  devices: 30,
  allowedLatenessMs: settings.allowedLatenessMs,
});
const firstHalf = chunk(inputs.slice(0, 1_500), 100);
const secondHalf = chunk(inputs.slice(1_500), 100);

type Accepted = Extract<StateOutcome, { kind: 'accepted' }>;

function sameDefinition(a: FeatureDefinition, b: FeatureDefinition): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

let server: TestRedisServer;
let prefixes = 0;

before(async () => {
  server = await TestRedisServer.start();
});

after(async () => {
  await server.dispose();
});

/** The first half with D1, then (a fresh client and store: an upgraded engine) the second half with D2; the second half's outcomes. */
async function upgradeRun(d2: readonly FeatureDefinition[]): Promise<StateOutcome[]> {
  const prefix = `evolve${++prefixes}:`;
  const before = new RedisClient({ url: server.url, commandTimeoutMs: 2_000 });
  await before.waitReady();
  const old = new RedisFeatureStore(before, D1, settings, { keyPrefix: prefix });
  for (const batch of firstHalf) await old.apply(PARTITION, batch);
  await old.close();
  await before.quit();
  const upgraded = new RedisClient({ url: server.url, commandTimeoutMs: 2_000 });
  try {
    await upgraded.waitReady();
    const store = new RedisFeatureStore(upgraded, d2, settings, { keyPrefix: prefix });
    const outcomes: StateOutcome[] = [];
    for (const batch of secondHalf) outcomes.push(...(await store.apply(PARTITION, batch)));
    return outcomes;
  } finally {
    await upgraded.quit();
  }
}

/**
 * Checks the second half's outcomes under D2:
 * - acceptance (duplicate, late, redelivered) and every feature D1 and D2
 *   define alike are exactly those of D1 throughout (a memory store over
 *   the whole stream);
 * - each new or redefined feature starts empty: for the events applied
 *   now, its values are those of a memory store with D2 that saw only the
 *   second half's applied events. (Redeliveries of first-half messages
 *   return their first outcome, computed under D1: not checked for it.)
 */
function assertEvolved(
  d2: readonly FeatureDefinition[],
  got: readonly StateOutcome[],
): { untouched: string[]; fresh: string[]; redeliveredMismatches: string[] } {
  const whole = new MemoryFeatureStore(D1, settings);
  for (const batch of firstHalf) whole.applySync(PARTITION, batch);
  const expected = secondHalf.flatMap((batch) => whole.applySync(PARTITION, batch));
  const untouched = d2.filter((d) => D1.some((old) => sameDefinition(old, d))).map((d) => d.name);
  const fresh = d2.filter((d) => !untouched.includes(d.name)).map((d) => d.name);
  const applied = secondHalf.flat().filter((_, i) => expected[i].kind === 'accepted' && !expected[i].redelivered);
  const onlySecond = new MemoryFeatureStore(d2, settings).applySync(PARTITION, applied);
  let a = 0;
  const redeliveredMismatches: string[] = [];
  got.forEach((outcome, i) => {
    const want = expected[i];
    assert.equal(outcome.kind, want.kind, `event ${i} of the second half`);
    if (outcome.kind !== 'accepted' || want.kind !== 'accepted') return;
    assert.equal(outcome.late, want.late, `event ${i}: late`);
    assert.equal(outcome.redelivered, want.redelivered, `event ${i}: redelivered`);
    if (want.redelivered) {
      // A redelivered message gets its first outcome back: for the untouched features, D1's values.
      for (const name of untouched)
        if (outcome.features[name] !== want.features[name])
          redeliveredMismatches.push(`event ${i} (${String(want.features[name])} → ${String(outcome.features[name])}): ${name}`);
      return;
    }
    for (const name of untouched) assert.equal(outcome.features[name], want.features[name], `event ${i}: ${name}`);
    const first = onlySecond[a++] as Accepted;
    for (const name of fresh) assert.equal(outcome.features[name], first.features[name], `event ${i}: ${name} starts empty`);
  });
  assert.equal(a, onlySecond.length);
  // Not vacuous: for the untouched features, a reset (state only from the second half) gives other values.
  let differ = 0;
  a = 0;
  expected.forEach((want) => {
    if (want.kind !== 'accepted' || want.redelivered) return;
    const reset = onlySecond[a++] as Accepted;
    if (untouched.some((name) => reset.features[name] !== want.features[name])) differ++;
  });
  assert.ok(differ > 50, `only ${differ} events where a reset would change an untouched feature`);
  return { untouched, fresh, redeliveredMismatches };
}

describe('RedisFeatureStore: changing the feature definitions over existing state', () => {
  /** The removal case's redelivered events whose untouched features differ from their first outcome. */
  let removalRedeliveries: string[] | undefined;

  it('adding a feature to the user group keeps every other feature’s state, and the new one starts empty', async () => {
    const d2: FeatureDefinition[] = [
      ...D1,
      { name: 'user_events_1h', entity: 'user_id', aggregate: 'count', field: undefined, eventTypes: undefined, windowMs: 3_600_000 },
    ];
    const { untouched, fresh, redeliveredMismatches } = assertEvolved(d2, await upgradeRun(d2));
    assert.deepEqual(fresh, ['user_events_1h']);
    assert.equal(untouched.length, D1.length);
    assert.deepEqual(redeliveredMismatches, []);
  });

  it('removing one feature and redefining another (other window) keeps the state of the rest of the group', async () => {
    const d2: FeatureDefinition[] = D1.filter((d) => d.name !== 'distinct_cities_1h').map((d) =>
      d.name === 'login_count_1h' ? { ...d, windowMs: 30 * 60_000 } : d,
    );
    const evolved = assertEvolved(d2, await upgradeRun(d2));
    assert.deepEqual(evolved.fresh, ['login_count_1h']);
    assert.equal(evolved.untouched.length, D1.length - 2);
    removalRedeliveries = evolved.redeliveredMismatches;
  });

  it('after a feature was removed, a redelivered first-half message still gets its first values for the other features', () => {
    assert.ok(removalRedeliveries !== undefined, 'the removal case ran');
    assert.deepEqual(removalRedeliveries, []);
  });
});
