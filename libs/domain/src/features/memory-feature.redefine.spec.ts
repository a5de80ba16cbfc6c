import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import type { RiskEvent } from '../events/risk-event';
import { parseFeatureDefinitions, type FeatureDefinition, type FeatureValues } from './feature-definition';
import { FeatureSetResolver, diffFeatureSets, featureDocuments, type FeatureDocument } from './feature-document';
import { featureId } from './entity-features';
import type { StateOutcome } from './feature-store';
import { MemoryFeatureStore } from './memory-feature.store';

const SHIPPED = JSON.parse(readFileSync(join(process.cwd(), 'rules', 'features.json'), 'utf8')) as { features: FeatureDocument[] };
const BEFORE = parseFeatureDefinitions(SHIPPED);
const ADDED: FeatureDocument = { name: 'ip_logins_1h', entity: 'ip_address', aggregate: 'count', event_types: ['login'], window: '1h' };
/** Shipped features minus login_count_1h, payment_amount_24h over 1 h instead of 24 h, plus an IP feature. */
const AFTER = parseFeatureDefinitions([
  ...SHIPPED.features.filter((f) => f.name !== 'login_count_1h').map((f) => (f.name === 'payment_amount_24h' ? { ...f, window: '1h' } : f)),
  ADDED,
]);
const UNTOUCHED = diffFeatureSets(BEFORE, AFTER).unchanged;
const T0 = Date.UTC(2026, 10, 20, 10);

/** A deterministic stream: 12 users over 5 devices, 4 cities and 6 IPs, slightly out of order. */
function stream(count: number, seed: number): RiskEvent[] {
  let x = seed;
  const next = (n: number): number => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % n;
  };
  const types = ['login', 'login', 'login_failed', 'payment', 'register'];
  return Array.from({ length: count }, (_, i) => ({
    event_id: `e-${seed}-${i}`,
    user_id: `u-${next(12)}`,
    event_type: types[next(types.length)],
    event_time: T0 + i * 20_000 - next(5) * 60_000,
    ip_address: next(4) === 0 ? undefined : `10.0.0.${next(6)}`,
    device_id: next(3) === 0 ? undefined : `d-${next(5)}`,
    location_city: `c-${next(4)}`,
    amount: next(2) === 0 ? undefined : next(500),
  }));
}

function features(outcome: StateOutcome): FeatureValues {
  assert.equal(outcome.kind, 'accepted');
  return outcome.features;
}

function run(store: MemoryFeatureStore, events: readonly RiskEvent[], definitions?: readonly FeatureDefinition[]): FeatureValues[] {
  return store
    .applySync(
      'p0',
      events.map((event) => ({ event, messageId: undefined })),
      definitions,
    )
    .map(features);
}

function pick(values: FeatureValues, names: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(names.map((name) => [name, values[name]]));
}

describe('MemoryFeatureStore given another feature set between batches', () => {
  const events = stream(1200, 7);
  const first = events.slice(0, 600);
  const second = events.slice(600);

  it('keeps every untouched feature exactly as a run without the change; added and redefined ones start empty', () => {
    const unchanged = new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS);
    const changed = new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS);
    run(unchanged, first);
    run(changed, first);
    const reference = run(unchanged, second);
    const live = run(changed, second, AFTER);
    // Started at the change: what "starting empty" means for the added and the redefined feature.
    const fresh = run(new MemoryFeatureStore(AFTER, TEST_STATE_SETTINGS), second);

    assert.ok(UNTOUCHED.length === BEFORE.length - 2, `untouched: ${UNTOUCHED.join(', ')}`);
    for (let i = 0; i < second.length; i++) {
      assert.deepEqual(pick(live[i], UNTOUCHED), pick(reference[i], UNTOUCHED), `event ${i} (${second[i].event_id})`);
      assert.deepEqual(pick(live[i], ['ip_logins_1h', 'payment_amount_24h']), pick(fresh[i], ['ip_logins_1h', 'payment_amount_24h']));
      assert.deepEqual(
        Object.keys(live[i]),
        AFTER.map((d) => d.name),
        'values in the new definition order',
      );
    }
    // The comparison would hold trivially on a stream where the untouched features stay empty.
    assert.ok(reference.some((v) => (v.distinct_devices_1h as number) > 1) && reference.some((v) => v.device_changed === true));
    assert.ok(
      live.some((v, i) => v.payment_amount_24h !== reference[i].payment_amount_24h),
      'the 1 h sum differs from the 24 h one',
    );
  });

  it('drops the state of removed features from the budget tally, and a set with no feature of an entity forgets that entity', () => {
    const store = new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS);
    run(store, first);
    const before = store.stateSize;
    const userOnly = BEFORE.filter((d) => d.entity === 'user_id');
    run(store, [], userOnly);
    const after = store.stateSize;
    assert.ok(after.series < before.series && after.entries < before.entries && after.entities < before.entities);
    // Exactly what a store that only ever had the user features holds.
    const reference = new MemoryFeatureStore(userOnly, TEST_STATE_SETTINGS);
    run(reference, first);
    assert.deepEqual(
      { series: after.series, entries: after.entries, entities: after.entities },
      {
        series: reference.stateSize.series,
        entries: reference.stateSize.entries,
        entities: reference.stateSize.entities,
      },
    );
    store.redefine([]);
    assert.deepEqual(
      { series: store.stateSize.series, entries: store.stateSize.entries, entities: store.stateSize.entities },
      { series: 0, entries: 0, entities: 0 },
    );
  });

  it('a rollback to the first set finds the untouched features still exact, the removed one restarted', () => {
    const unchanged = new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS);
    const changed = new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS);
    run(unchanged, first);
    run(changed, first);
    run(unchanged, second.slice(0, 300));
    run(changed, second.slice(0, 300), AFTER);
    const reference = run(unchanged, second.slice(300));
    const back = run(changed, second.slice(300), BEFORE);
    for (let i = 0; i < back.length; i++) assert.deepEqual(pick(back[i], UNTOUCHED), pick(reference[i], UNTOUCHED));
    const restarted = run(new MemoryFeatureStore(BEFORE, TEST_STATE_SETTINGS), second.slice(300));
    assert.deepEqual(
      back.map((v) => v.login_count_1h),
      restarted.map((v) => v.login_count_1h),
    );
  });
});

describe('feature documents', () => {
  it('round-trip through the parser with the same feature ids (what versions stored without documents rely on)', () => {
    const heavy = parseFeatureDefinitions([
      ...SHIPPED.features,
      { name: 'ud_count_90s', entity: ['user_id', 'device_id'], aggregate: 'count', window: '90s' },
      {
        name: 'web_sum_1500ms',
        entity: 'user_id',
        aggregate: 'sum',
        field: 'amount',
        where: [{ field: 'event_type', in: ['payment'] }],
        window: '1500ms',
      },
    ]);
    const again = parseFeatureDefinitions(featureDocuments(heavy));
    assert.deepEqual(again.map(featureId), heavy.map(featureId));
    assert.deepEqual(
      featureDocuments(heavy)
        .slice(-2)
        .map((d) => d.window),
      ['90s', '1500ms'],
    );
  });

  it('the resolver hands back the same array for the same set, the start-up one for a version without features', () => {
    const resolver = new FeatureSetResolver(BEFORE);
    assert.equal(resolver.definitionsOf(undefined), BEFORE);
    assert.equal(resolver.definitionsOf(featureDocuments(BEFORE)), BEFORE);
    const after = resolver.definitionsOf(featureDocuments(AFTER));
    assert.notEqual(after, BEFORE);
    assert.equal(resolver.definitionsOf(featureDocuments(AFTER)), after);
    assert.throws(
      () => resolver.definitionsOf([{ name: 'x', entity: 'user_id', aggregate: 'count', window: 'soon' }]),
      /features\[0\]\.window/,
    );
  });
});
