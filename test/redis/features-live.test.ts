/*
 * Issue 13 item 3: feature definitions changed live on two engine processes
 * sharing one real redis-server. A stream is fed to both instances in turn;
 * the feature set is changed through the admin API of one of them while the
 * stream goes on (add one, remove one, redefine one), then rolled back.
 * Every untouched feature's value on every verdict must be exactly what a
 * run without the change gives (MemoryFeatureStore over the same events in
 * the same order); the added and the redefined feature start empty.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryFeatureStore,
  decodeEvent,
  diffFeatureSets,
  parseFeatureDefinitions,
  type FeatureDefinition,
  type FeatureValues,
  type RiskEvent,
} from '@risk/domain';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import { waitForVersion } from '@test/support/engine-process';
import { redisEngineFleetForSuite } from '@test/support/redis-engine-fleet';
import { call, VIEWER_KEY } from '../admin/admin-support';
import { CHANGED, SHIPPED } from '@test/support/changed-feature-set';

const PREFIX = 'features-live-test:';
/** Generous: pub/sub is immediate, the reconciliation runs every 5 s. */
const CONVERGE_MS = 15_000;

const BEFORE = parseFeatureDefinitions(SHIPPED);
const AFTER = parseFeatureDefinitions(CHANGED);
const UNTOUCHED = diffFeatureSets(BEFORE, AFTER).unchanged;

type Json = Record<string, unknown>;

/** A deterministic stream in event-time order (nothing late): 8 users, 5 IPs, 4 devices, 3 cities. */
function stream(count: number, start: number, tag: string): Json[] {
  let x = 12345;
  // mulberry32: the low bits of a plain LCG cycle with a short period, which would pair users with devices.
  const next = (n: number): number => {
    x = (x + 0x6d2b79f5) | 0;
    let t = Math.imul(x ^ (x >>> 15), 1 | x);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
  const types = ['login', 'login', 'login_failed', 'payment', 'register'];
  return Array.from({ length: count }, (_, i) => {
    const event: Json = {
      event_id: `${tag}-${i}`,
      user_id: `u-${next(8)}`,
      event_type: types[next(types.length)],
      event_time: new Date(start + i * 2_000).toISOString(),
      location_city: `c-${next(3)}`,
    };
    if (next(4) > 0) event.ip_address = `10.9.0.${next(5)}`;
    if (next(3) > 0) event.device_id = `d-${next(4)}`;
    if (event.event_type === 'payment') event.amount = next(900);
    return event;
  });
}

function riskEvent(json: Json): RiskEvent {
  const decoded = decodeEvent(json);
  assert.ok(decoded.ok);
  return decoded.event;
}

/** What a store with `definitions` computes for `events`, one partition, in order. */
function reference(store: MemoryFeatureStore, events: readonly Json[]): FeatureValues[] {
  return store
    .applySync(
      'reference',
      events.map((event) => ({ event: riskEvent(event), messageId: undefined })),
    )
    .map((outcome) => {
      assert.equal(outcome.kind, 'accepted');
      return outcome.features;
    });
}

function pick(values: FeatureValues, definitions: readonly FeatureDefinition[] | readonly string[]): Json {
  return Object.fromEntries(definitions.map((d) => (typeof d === 'string' ? d : d.name)).map((name) => [name, values[name]]));
}

describe('feature definitions changed live on two engines sharing Redis', () => {
  const { engines: fleet } = redisEngineFleetForSuite({ dataPrefix: 'risk-features-live-', keyPrefix: PREFIX, instances: 2 });
  /** Started 40 minutes ago: the three phases stay behind the wall clock (MAX_EVENT_TIME_SKEW). */
  const start = Date.now() - 40 * 60_000;
  const events = stream(900, start, `live-${process.pid}`);
  const [phase1, phase2, phase3] = [events.slice(0, 300), events.slice(300, 600), events.slice(600)];
  /** The run without the change: every event, the shipped features throughout. */
  const unchanged = new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS);

  /** Feeds `batch` one event per request, instance `pick(i)` for the i-th; answers the verdicts in order. */
  async function feed(
    batch: readonly Json[],
    instance: (i: number) => number,
  ): Promise<{ rules_version: number; features: FeatureValues }[]> {
    const verdicts = [];
    for (let i = 0; i < batch.length; i++) {
      const answer = await call(fleet[instance(i)].url, 'POST', '/events', batch[i]);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.results[0].outcome, 'accepted', JSON.stringify(answer.body.results[0]));
      verdicts.push(answer.body.results[0].verdict as { rules_version: number; features: FeatureValues });
    }
    return verdicts;
  }

  it('before the change, both instances compute what the reference does', async () => {
    const verdicts = await feed(phase1, (i) => i % 2);
    const expected = reference(unchanged, phase1);
    verdicts.forEach((verdict, i) => assert.deepEqual(verdict.features, expected[i], `event ${i}`));
    assert.ok(expected.some((v) => (v.distinct_devices_1h as number) > 1) && expected.some((v) => v.device_changed === true));
  });

  it('refuses a set that drops a feature an active rule names (409 with the paths), on either instance', async () => {
    const refused = await call(fleet[1].url, 'PUT', '/features', { features: SHIPPED.features.filter((f) => f.name !== 'login_count_1h') });
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'FEATURE_IN_USE');
    assert.deepEqual(
      refused.body.errors.map((e: { message: string }) => e.message),
      ['rule login-burst: unknown fact "login_count_1h"'],
    );
    assert.match(refused.body.errors[0].path as string, /^rules\[\d+\]\.conditions\.all\[0\]\.fact$/);
  });

  it('a change on one instance reaches both; untouched features stay exact, the added and the redefined one start empty', async () => {
    const put = await call(fleet[0].url, 'PUT', '/features', { features: CHANGED, base_version: 1 });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    assert.equal(put.body.version, 2);
    // The stream goes on at once, on the instance that took the change, while the other one is told.
    const first = await feed(phase2.slice(0, 20), () => 0);
    await waitForVersion(fleet[1].url, 2, CONVERGE_MS);
    const rest = await feed(phase2.slice(20), (i) => (i + 1) % 2);
    const verdicts = [...first, ...rest];

    const expected = reference(unchanged, phase2);
    const fresh = reference(new MemoryFeatureStore(AFTER, TEST_STATE_SETTINGS), phase2);
    verdicts.forEach((verdict, i) => {
      assert.equal(verdict.rules_version, 2);
      assert.deepEqual(pick(verdict.features, UNTOUCHED), pick(expected[i], UNTOUCHED), `event ${i} (${String(phase2[i].event_id)})`);
      assert.deepEqual(
        pick(verdict.features, ['ip_logins_1h', 'payment_amount_24h']),
        pick(fresh[i], ['ip_logins_1h', 'payment_amount_24h']),
      );
      assert.deepEqual(
        Object.keys(verdict.features),
        AFTER.map((d) => d.name),
      );
    });
    assert.ok(
      fresh.some((v) => (v.ip_logins_1h as number) > 3),
      'the added feature counts',
    );
    for (const engine of fleet) {
      const features = await call(engine.url, 'GET', '/features', undefined, VIEWER_KEY);
      assert.equal(features.body.running, 2);
      assert.deepEqual(features.body.features, CHANGED, 'the documents as written, from the Redis store');
    }
    // Audited in Redis with the features before and after, whichever instance is asked.
    const audit = await call(fleet[1].url, 'GET', '/audit?limit=1', undefined, VIEWER_KEY);
    assert.equal(audit.body.items[0].action, 'features');
    assert.deepEqual(audit.body.items[0].features_after, CHANGED);
    assert.deepEqual(
      audit.body.items[0].features_before.map((f: { name: string }) => f.name),
      BEFORE.map((d) => d.name),
    );
  });

  it('a rollback to version 1 reaches both; untouched features are still exact', async () => {
    const rolled = await call(fleet[1].url, 'POST', '/rulesets/1/activate', {});
    assert.equal(rolled.status, 200);
    await Promise.all(fleet.map((engine) => waitForVersion(engine.url, 1, CONVERGE_MS)));
    const verdicts = await feed(phase3, (i) => i % 2);
    const expected = reference(unchanged, phase3);
    verdicts.forEach((verdict, i) => {
      assert.equal(verdict.rules_version, 1);
      assert.deepEqual(pick(verdict.features, UNTOUCHED), pick(expected[i], UNTOUCHED), `event ${i}`);
      assert.deepEqual(
        Object.keys(verdict.features),
        BEFORE.map((d) => d.name),
      );
    });
  });
});
