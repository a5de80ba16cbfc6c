import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { RiskEvent } from '../events/risk-event';
import { parseFeatureDefinitions } from './feature-definition';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import type { StateOutcome } from './feature-store';
import { MemoryFeatureStore } from './memory-feature.store';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const definitions = parseFeatureDefinitions(JSON.parse(readFileSync(join(process.cwd(), 'rules', 'features.json'), 'utf8')));
const T0 = Date.UTC(2026, 10, 20, 10);
const MIN = 60_000;
const HOUR = 60 * MIN;

let seq = 0;
function ev(partial: Partial<RiskEvent> & { t: number }): RiskEvent {
  const { t, ...rest } = partial;
  return {
    event_id: `e-${seq++}`,
    user_id: 'u-1',
    event_type: 'login',
    event_time: t,
    ip_address: undefined,
    device_id: undefined,
    location_city: undefined,
    amount: undefined,
    ...rest,
  };
}

function store(settings = TEST_STATE_SETTINGS): MemoryFeatureStore {
  return new MemoryFeatureStore(definitions, settings);
}

function apply(s: MemoryFeatureStore, ...events: RiskEvent[]): StateOutcome[] {
  return s.applySync(
    'p0',
    events.map((event) => ({ event, messageId: undefined })),
  );
}

function accepted(outcome: StateOutcome | undefined): Extract<StateOutcome, { kind: 'accepted' }> {
  assert.ok(outcome !== undefined && outcome.kind === 'accepted', `expected accepted, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('MemoryFeatureStore windows (SPEC §3)', () => {
  it('window start is exclusive, end inclusive: exactly W old is out, W − 1 ms is in', () => {
    const s = store();
    apply(s, ev({ t: T0 }));
    const exactlyOld = accepted(apply(s, ev({ t: T0 + HOUR }))[0]);
    assert.equal(exactlyOld.features.login_count_1h, 1, 'the event exactly 1 h older is outside (t − W, t]');
    const s2 = store();
    apply(s2, ev({ t: T0 }));
    const justInside = accepted(apply(s2, ev({ t: T0 + HOUR - 1 }))[0]);
    assert.equal(justInside.features.login_count_1h, 2, 'the event at t − W + 1 ms is inside');
  });

  it('counts only the filtered event types and includes the event itself', () => {
    const s = store();
    const [a, b, c] = apply(s, ev({ t: T0 }), ev({ t: T0 + 1, event_type: 'login_failed' }), ev({ t: T0 + 2, event_type: 'login_failed' }));
    assert.equal(accepted(a).features.login_count_1h, 1);
    assert.equal(accepted(b).features.login_count_1h, 1);
    assert.equal(accepted(c).features.failed_login_count_1h, 2);
  });

  it('is exact for out-of-order events within the allowed lateness', () => {
    const s = store();
    const results = apply(
      s,
      ev({ t: T0 + 5 * MIN, device_id: 'd1', location_city: 'Paris' }),
      ev({ t: T0 + 1 * MIN, device_id: 'd2', location_city: 'Lyon' }),
      ev({ t: T0 + 3 * MIN, device_id: 'd3', location_city: 'Paris' }),
    );
    // Event at +1 min sees only itself: the one at +5 min is in its future.
    assert.equal(accepted(results[1]).features.distinct_devices_1h, 1);
    assert.equal(accepted(results[1]).late, false);
    // Event at +3 min sees +1 and itself.
    assert.equal(accepted(results[2]).features.distinct_devices_1h, 2);
    assert.equal(accepted(results[2]).features.distinct_cities_1h, 2);
    assert.equal(accepted(results[2]).features.login_count_1h, 2);
    // A later event sees all three.
    const last = accepted(apply(s, ev({ t: T0 + 6 * MIN, device_id: 'd1' }))[0]);
    assert.equal(last.features.distinct_devices_1h, 3);
    assert.equal(last.features.login_count_1h, 4);
  });

  it('flags late events below the watermark, and only those', () => {
    const s = store();
    apply(s, ev({ t: T0 + 30 * MIN }));
    const atWatermark = accepted(apply(s, ev({ t: T0 + 20 * MIN }))[0]);
    assert.equal(atWatermark.late, false, 'exactly at the watermark is not late');
    const late = accepted(apply(s, ev({ t: T0 + 20 * MIN - 1 }))[0]);
    assert.equal(late.late, true);
    const other = s.applySync('p1', [{ event: ev({ t: T0 }), messageId: undefined }]);
    assert.equal(accepted(other[0]).late, false, 'watermarks are per partition');
  });

  it('drops duplicates (first one wins even with a different payload) and returns the first outcome on redelivery', () => {
    const s = store();
    const first = ev({ t: T0, device_id: 'd1' });
    const [a] = s.applySync('p0', [{ event: first, messageId: 'topic/0/1' }]);
    const [dup] = s.applySync('p0', [{ event: { ...first, device_id: 'other', event_type: 'payment' }, messageId: 'topic/0/2' }]);
    assert.equal(dup.kind, 'duplicate');
    const [again] = s.applySync('p0', [{ event: first, messageId: 'topic/0/1' }]);
    assert.deepEqual(again, { ...accepted(a), redelivered: true });
    const next = accepted(apply(s, ev({ t: T0 + 1, device_id: 'd1' }))[0]);
    assert.equal(next.features.login_count_1h, 2, 'the duplicate changed no state');
    assert.equal(next.features.distinct_devices_1h, 1);
  });

  it('remembers accepted event_ids for the whole dedup retention, however much traffic follows', () => {
    const s = store();
    const first = ev({ t: T0 });
    apply(s, first);
    // 20,000 events (several memory sweeps) moving event time to 23 h 59 min later.
    for (let i = 1; i <= 20_000; i++) apply(s, ev({ t: T0 + Math.floor((i * (24 * HOUR - MIN)) / 20_000), user_id: `other-${i % 100}` }));
    assert.equal(apply(s, { ...first, user_id: 'someone-else' })[0].kind, 'duplicate', 'still within 24 h of event time');
  });

  it('sums payment amounts over 24 h, absent amounts count 0', () => {
    const s = store();
    apply(s, ev({ t: T0, event_type: 'payment', amount: 10.5 }), ev({ t: T0 + HOUR, event_type: 'payment' }));
    const r = accepted(apply(s, ev({ t: T0 + 24 * HOUR - 1, event_type: 'payment', amount: 2 }))[0]);
    assert.equal(r.features.payment_amount_24h, 12.5);
    const r2 = accepted(apply(s, ev({ t: T0 + 24 * HOUR, event_type: 'payment', amount: 1 }))[0]);
    assert.equal(r2.features.payment_amount_24h, 3, 'the 10.5 payment is exactly 24 h old: out');
  });

  it('keys IP and device features by their entity, 0 when the event lacks it', () => {
    const s = store();
    const regs = Array.from({ length: 3 }, (_, i) =>
      ev({ t: T0 + i, user_id: `new-${i}`, event_type: 'register', ip_address: '192.0.2.1', device_id: 'shared' }),
    );
    const results = apply(s, ...regs);
    assert.equal(accepted(results[2]).features.ip_registrations_10m, 3);
    assert.equal(accepted(results[2]).features.device_distinct_users_24h, 3);
    const noIp = accepted(apply(s, ev({ t: T0 + 10, event_type: 'register' }))[0]);
    assert.equal(noIp.features.ip_registrations_10m, 0);
    assert.equal(noIp.features.device_distinct_users_24h, 0);
    const later = accepted(apply(s, ev({ t: T0 + 10 * MIN + 1, event_type: 'register', ip_address: '192.0.2.1' }))[0]);
    assert.equal(later.features.ip_registrations_10m, 2, 'registrations 10 min old or more (at T0, T0 + 1) are out');
  });
});

describe('MemoryFeatureStore changed features (SPEC §3)', () => {
  it('compares with the latest known value, not the latest arrival', () => {
    const s = store();
    const r = apply(
      s,
      ev({ t: T0 + 10 * MIN, device_id: 'A' }),
      ev({ t: T0 + 5 * MIN, device_id: 'B' }), // older: does not become the latest known
      ev({ t: T0 + 11 * MIN, device_id: 'A' }),
    );
    assert.equal(accepted(r[0]).features.device_changed, false, 'no earlier device');
    assert.equal(accepted(r[1]).features.device_changed, true, 'B differs from the latest known A');
    assert.equal(accepted(r[2]).features.device_changed, false, 'latest known is still A');
  });

  it('on equal event times the later arrival becomes the latest known', () => {
    const s = store();
    const r = apply(
      s,
      ev({ t: T0, location_city: 'Paris' }),
      ev({ t: T0, location_city: 'Lyon' }),
      ev({ t: T0 + 1, location_city: 'Lyon' }),
    );
    assert.equal(accepted(r[1]).features.city_changed, true);
    assert.equal(accepted(r[2]).features.city_changed, false, 'Lyon (later arrival at the same time) is the latest known');
  });

  it('is false when the event carries no value, and such events do not reset it', () => {
    const s = store();
    const r = apply(s, ev({ t: T0, device_id: 'A' }), ev({ t: T0 + 1 }), ev({ t: T0 + 2, device_id: 'B' }));
    assert.equal(accepted(r[1]).features.device_changed, false);
    assert.equal(accepted(r[2]).features.device_changed, true);
  });
});

describe('MemoryFeatureStore memory bounds', () => {
  it('trims entries that can no longer fall in a window and forgets idle keys', () => {
    const s = store();
    for (let i = 0; i < 20_000; i++) {
      apply(s, ev({ t: T0 + i * MIN, user_id: `u-${i % 50}`, device_id: `d-${i % 50}`, ip_address: `10.0.0.${i % 50}` }));
    }
    const { entries, entities, dedup } = s.stateSize;
    // 50 users over 20,000 minutes: each user's login series keeps ~70 min, its device series ~24 h.
    assert.ok(entries < 50 * (2 * 2 + 2 * 30), `entries ${entries} should stay bounded`);
    assert.ok(entities <= 150, `entities ${entities}`);
    // 24 h of events (1,440) plus at most one sweep interval not yet pruned.
    assert.ok(dedup <= 1_440 + 8_192, `dedup memory ${dedup} should be pruned to ~24 h of events`);
    // Idle keys are swept: move time forward with other users only.
    for (let i = 0; i < 10_000; i++) apply(s, ev({ t: T0 + 20_000 * MIN + 31 * 24 * HOUR + i, user_id: 'other' }));
    assert.ok(s.stateSize.entities <= 3, `idle entities should be forgotten, ${s.stateSize.entities} left`);
  });

  it('a sweep that skips a group (nothing old enough at its last scan) still forgets an entity a late event created since', () => {
    const s = store();
    // The IP group keeps an idle key 20 min (10 min window + 10 min lateness); a sweep every 8,192 events.
    for (let i = 0; i < 8_192; i++) apply(s, ev({ t: T0 + i * 10, ip_address: '10.0.0.1' }));
    // The scan above found 10.0.0.1 at T0 + 82 s. A late event creates an IP key two hours older.
    apply(s, ev({ t: T0 - 2 * HOUR, ip_address: '10.9.9.9' }));
    assert.equal(s.stateSize.entities, 3);
    // Next sweep's cutoff (T0 + 20 min + 8 s − 20 min) is below 10.0.0.1's time, but not below the late key's.
    for (let i = 0; i < 8_191; i++) apply(s, ev({ t: T0 + 20 * MIN + i, ip_address: '10.0.0.2' }));
    assert.equal(s.stateSize.entities, 3, 'u-1, 10.0.0.1 and 10.0.0.2 stay; 10.9.9.9 is forgotten');
    return s.readEntity('ip_address', '10.9.9.9').then((outcome) => assert.equal(outcome.kind, 'not-found'));
  });
});
