import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { RiskEvent } from '../events/risk-event';
import { parseFeatureDefinitions } from './feature-definition';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import type { StateInput, StateOutcome } from './feature-store';
import { MemoryFeatureStore, STATE_BYTES, type EvictionKind } from './memory-feature.store';

const definitions = parseFeatureDefinitions(JSON.parse(readFileSync(join(process.cwd(), 'rules', 'features.json'), 'utf8')));
const T0 = Date.UTC(2026, 10, 20, 10);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

/** A user's login on a new IP and device: three new entities per event. */
function login(i: number, t: number, user = `u-${i}`, device = `d-${i}`): StateInput {
  const event: RiskEvent = {
    event_id: `e-${i}`,
    user_id: user,
    event_type: 'login',
    event_time: t,
    ip_address: `10.0.${i >> 8}.${i & 255}`,
    device_id: device,
    location_city: 'Paris',
    amount: undefined,
  };
  return { event, messageId: undefined };
}

function counter(): { counts: Record<EvictionKind, number>; onEvict: (kind: EvictionKind, n: number) => void } {
  const counts: Record<EvictionKind, number> = { idle: 0, active: 0, dedup: 0 };
  return { counts, onEvict: (kind, n) => (counts[kind] += n) };
}

describe('MemoryFeatureStore memory budget', () => {
  it('under budget: no eviction, outcomes identical to an unbounded store', () => {
    const inputs = Array.from({ length: 20_000 }, (_, i) => login(i, T0 + i * 1000, `u-${i % 500}`, `d-${i % 300}`));
    const unbounded = new MemoryFeatureStore(definitions, TEST_STATE_SETTINGS);
    const { counts, onEvict } = counter();
    const bounded = new MemoryFeatureStore(definitions, TEST_STATE_SETTINGS, { bytes: 1 << 30, onEvict });
    for (let i = 0; i < inputs.length; i += 1000) {
      assert.deepStrictEqual(bounded.applySync('p', inputs.slice(i, i + 1000)), unbounded.applySync('p', inputs.slice(i, i + 1000)));
    }
    assert.deepStrictEqual(counts, { idle: 0, active: 0, dedup: 0 });
  });

  it('over budget: the state stays near the budget, idle entities (windows expired) go first, least recently seen first', () => {
    const budget = 10_000_000;
    const { counts, onEvict } = counter();
    const store = new MemoryFeatureStore(definitions, TEST_STATE_SETTINGS, { bytes: budget, onEvict });
    // A first cohort whose windows (longest 24 h + lateness) will all have expired, kept only for its latest device/city.
    for (let i = 0; i < 500; i++) store.applySync('p', [login(i, T0 + i)]);
    // Then an ever-growing key space two days later, within a few hours.
    let peak = 0;
    for (let i = 500; i < 40_000; i++) {
      store.applySync('p', [login(i, T0 + 2 * DAY + i * 200)]);
      peak = Math.max(peak, store.stateSize.estimatedBytes);
    }
    // At most one check interval (1,024 events, three new entities each) above the budget.
    const perEvent = 3 * (STATE_BYTES.entity + 3 * STATE_BYTES.series + 3 * STATE_BYTES.entry) + STATE_BYTES.eventId;
    assert.ok(peak <= budget + 1024 * perEvent, `peak ${peak}`);
    assert.equal(counts.idle, 500, `the idle users were evicted (their IPs and devices expired and were swept): ${JSON.stringify(counts)}`);
    assert.ok(counts.active > 0, JSON.stringify(counts));
    assert.equal(counts.dedup, 0, 'event_ids are forgotten only when they alone exceed the budget');
    // The most recently seen user is still known: its device change is reported.
    const newest = accepted(store.applySync('p', [login(99_999, T0 + 2 * DAY + 40_000 * 200, 'u-39999', 'd-other')])[0]);
    assert.equal(newest.features.device_changed, true);
    assert.equal(newest.features.login_count_1h, 2);
    // An evicted idle user lost only its latest device: its next event cannot report a change.
    const forgotten = accepted(store.applySync('p', [login(99_998, T0 + 2 * DAY + 40_000 * 200, 'u-1', 'd-other')])[0]);
    assert.equal(forgotten.features.device_changed, false);
  });

  it('event_ids alone over budget: the oldest are forgotten (counted) instead of growing without bound', () => {
    const { counts, onEvict } = counter();
    const store = new MemoryFeatureStore(definitions, TEST_STATE_SETTINGS, { bytes: 200 * STATE_BYTES.eventId, onEvict });
    for (let i = 0; i < 5000; i++) store.applySync('p', [login(i, T0 + i)]);
    assert.ok(counts.dedup > 0, JSON.stringify(counts));
    assert.ok(store.stateSize.dedup <= 1024 + 200, `dedup ${store.stateSize.dedup}`);
    // A forgotten id is accepted again; a remembered one is still a duplicate.
    assert.equal(store.applySync('p', [login(0, T0)])[0].kind, 'accepted');
    assert.equal(store.applySync('p', [login(4999, T0 + 4999)])[0].kind, 'duplicate');
  });
});

function accepted(outcome: StateOutcome | undefined): Extract<StateOutcome, { kind: 'accepted' }> {
  assert.ok(outcome !== undefined && outcome.kind === 'accepted', `expected accepted, got ${JSON.stringify(outcome)}`);
  return outcome;
}
