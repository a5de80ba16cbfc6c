import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import type { RiskEvent } from '../events/risk-event';
import { parseFeatureDefinitions } from './feature-definition';
import type { StateOutcome } from './feature-store';
import { checkEntityValue } from './entity-read';
import { MemoryFeatureStore } from './memory-feature.store';

const T0 = Date.UTC(2026, 10, 20, 10);
const MIN = 60_000;

const definitions = parseFeatureDefinitions({
  features: [
    { name: 'logins_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' },
    { name: 'devices_1h', entity: 'user_id', aggregate: 'distinct', field: 'device_id', window: '1h' },
    { name: 'paid_1h', entity: 'user_id', aggregate: 'sum', field: 'amount', event_types: ['payment'], window: '1h' },
    { name: 'avg_paid_1h', entity: 'user_id', aggregate: 'avg', field: 'amount', window: '1h' },
    { name: 'since_last_1h', entity: 'user_id', aggregate: 'since_last', window: '1h' },
    { name: 'age_1h', entity: 'user_id', aggregate: 'first_seen_age', window: '1h' },
    { name: 'device_changed', entity: 'user_id', aggregate: 'changed', field: 'device_id' },
    { name: 'ip_users_10m', entity: 'ip_address', aggregate: 'distinct', field: 'user_id', window: '10m' },
    { name: 'pair_count_1h', entity: ['user_id', 'device_id'], aggregate: 'count', window: '1h' },
  ],
});

let seq = 0;
function ev(minutes: number, partial: Partial<RiskEvent> = {}): RiskEvent {
  return {
    event_id: `e-${seq++}`,
    user_id: 'alice',
    event_type: 'login',
    event_time: T0 + minutes * MIN,
    ip_address: undefined,
    device_id: undefined,
    location_city: undefined,
    amount: undefined,
    ...partial,
  };
}

function accepted(outcome: StateOutcome | undefined): Extract<StateOutcome, { kind: 'accepted' }> {
  assert.ok(outcome?.kind === 'accepted', JSON.stringify(outcome));
  return outcome;
}

function seeded(): { store: MemoryFeatureStore; last: Extract<StateOutcome, { kind: 'accepted' }> } {
  const store = new MemoryFeatureStore(definitions, TEST_STATE_SETTINGS);
  const events = [
    ev(0, { device_id: 'd-1', ip_address: '10.0.0.1' }),
    ev(5, { event_type: 'payment', amount: 30, device_id: 'd-1' }),
    ev(7, { user_id: 'bob', ip_address: '10.0.0.1' }),
    ev(20, { device_id: 'd-2', ip_address: '10.0.0.1' }),
  ];
  const outcomes = store.applySync(
    'p0',
    events.map((event) => ({ event, messageId: undefined })),
  );
  return { store, last: accepted(outcomes[3]) };
}

describe('FeatureStore investigation reads (memory store)', () => {
  it("an entity's windowed features are those its latest event got; changed features show the latest known value", async () => {
    const { store, last } = seeded();
    const read = await store.readEntity('user_id', 'alice');
    assert.equal(read.kind, 'found');
    if (read.kind !== 'found') return;
    assert.equal(read.entity.as_of, new Date(T0 + 20 * MIN).toISOString());
    const userFeatures = Object.fromEntries(
      Object.entries(last.features).filter(([name]) => !['device_changed', 'ip_users_10m', 'pair_count_1h'].includes(name)),
    );
    assert.deepEqual(read.entity.features, userFeatures);
    assert.deepEqual(read.entity.features, {
      logins_1h: 2,
      devices_1h: 2,
      paid_1h: 30,
      avg_paid_1h: 30,
      since_last_1h: 15 * MIN,
      age_1h: 20 * MIN,
    });
    assert.deepEqual(read.entity.latest_values, { device_changed: { value: 'd-2', event_time: new Date(T0 + 20 * MIN).toISOString() } });
    const ip = await store.readEntity('ip_address', '10.0.0.1');
    assert.deepEqual(ip.kind === 'found' && ip.entity.features, { ip_users_10m: 1 }, 'bob at 7 min is outside (10, 20]');
    const pair = await store.readEntity('user_id+device_id', '5:alice|d-1');
    assert.deepEqual(pair.kind === 'found' && pair.entity.features, { pair_count_1h: 2 });
  });

  it('names unknown keys, refuses malformed composite values, and reports entities it holds nothing for', async () => {
    const { store } = seeded();
    assert.deepEqual(await store.readEntity('card_id', 'c-1'), {
      kind: 'unknown-key',
      keys: ['user_id', 'ip_address', 'user_id+device_id'],
    });
    assert.deepEqual(await store.readEntity('user_id', 'nobody'), { kind: 'not-found' });
    assert.equal((await store.readEntity('user_id+device_id', 'alice|d-1')).kind, 'invalid-value');
    assert.deepEqual(checkEntityValue('user_id+device_id', '9:alice|d-1'), [
      { path: 'value', message: 'a value of user_id+device_id is <length of the first>:<first>|<second>, e.g. 5:alice|dev-1' },
    ]);
    assert.deepEqual(checkEntityValue('user_id+device_id', '5:alice|d-1'), []);
    assert.equal(checkEntityValue('user_id', '').length, 1);
  });

  it('preview gives the features the event would get, changes nothing, and leaves no trace for the real event', async () => {
    const { store } = seeded();
    const before = store.stateSize;
    const event = ev(30, { device_id: 'd-3', event_type: 'payment', amount: 50, ip_address: '10.0.0.1' });
    const first = await store.preview(event);
    const second = await store.preview(event);
    assert.deepEqual(second, first, 'a second identical preview gives the same answer');
    assert.deepEqual(store.stateSize, before, 'no entry, series, entity or event_id was added');
    const real = accepted(store.applySync('p0', [{ event, messageId: undefined }])[0]);
    assert.equal(real.late, false);
    assert.deepEqual(real.features, first, 'the real event is accepted (no dedup record) and sees the same state');
    assert.equal(first.device_changed, true);
    assert.equal(first.devices_1h, 3);
    assert.equal(first.since_last_1h, 10 * MIN);
  });

  it('preview of an event whose entities are unknown computes from empty state', async () => {
    const { store } = seeded();
    const features = await store.preview(ev(1, { user_id: 'carol', device_id: 'd-9' }));
    assert.equal(features.logins_1h, 1);
    assert.equal(features.since_last_1h, -1);
    assert.equal(features.ip_users_10m, 0, 'no ip_address: the empty value');
    assert.deepEqual(await store.readEntity('user_id', 'carol'), { kind: 'not-found' }, 'the preview did not create the entity');
  });
});
