import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  MemoryFeatureStore,
  parseFeatureDefinitions,
  parseFieldDeclarations,
  type FeatureDefinition,
  type FeatureStore,
  type RiskEvent,
  type StateInput,
  type StateOutcome,
  type StateSettings,
} from '@risk/domain';
import { chunk, defaultDefinitions, generateStream } from '@test/support/state-stream';

export type StoreFactory = (definitions: readonly FeatureDefinition[], settings: StateSettings) => Promise<FeatureStore>;

/** Feature definitions other than the defaults: the store must be generic over them. */

export function customDefinitions(): FeatureDefinition[] {
  return parseFeatureDefinitions({
    features: [
      { name: 'amount_all_2m', entity: 'user_id', aggregate: 'sum', field: 'amount', window: '2m' },
      { name: 'ip_users_5m', entity: 'ip_address', aggregate: 'distinct', field: 'user_id', window: '5m' },
      { name: 'ip_cities_1m', entity: 'ip_address', aggregate: 'distinct', field: 'location_city', window: '1m' },
      {
        name: 'device_auth_3m',
        entity: 'device_id',
        aggregate: 'count',
        event_types: ['login', 'login_failed', 'password_reset'],
        window: '3m',
      },
      { name: 'ip_changed', entity: 'user_id', aggregate: 'changed', field: 'ip_address' },
      { name: 'city_users_30s', entity: 'location_city', aggregate: 'count', window: '30s' },
      { name: 'amount_changed', entity: 'device_id', aggregate: 'changed', field: 'amount' },
      { name: 'distinct_amounts_90s', entity: 'user_id', aggregate: 'distinct', field: 'amount', window: '90s' },
    ],
  });
}

const T0 = Date.UTC(2026, 10, 20, 10, 0, 0);
const MIN = 60_000;
const HOUR = 3_600_000;
let sequence = 0;

/** Declared fields (docs/fields.md) the declared-field cases key and filter on. */
const DECLARED = parseFieldDeclarations({
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'channel', type: 'string', enum: ['web', 'app', 'pos'] },
    { name: 'is_vip', type: 'boolean' },
    { name: 'risk_score', type: 'number' },
  ],
});

function declaredDefinitions(): FeatureDefinition[] {
  return parseFeatureDefinitions(
    {
      features: [
        { name: 'card_count_10m', entity: 'card_id', aggregate: 'count', window: '10m' },
        { name: 'card_users_10m', entity: 'card_id', aggregate: 'distinct', field: 'user_id', window: '10m' },
        { name: 'card_channels_10m', entity: 'card_id', aggregate: 'distinct', field: 'channel', window: '10m' },
        { name: 'card_score_10m', entity: 'card_id', aggregate: 'sum', field: 'risk_score', window: '10m' },
        { name: 'card_channel_changed', entity: 'card_id', aggregate: 'changed', field: 'channel' },
        {
          name: 'user_online_10m',
          entity: 'user_id',
          aggregate: 'count',
          where: [
            { field: 'channel', in: ['web', 'app'] },
            { field: 'is_vip', equals: true },
          ],
          window: '10m',
        },
        { name: 'user_cards_10m', entity: 'user_id', aggregate: 'distinct', field: 'card_id', window: '10m' },
      ],
    },
    DECLARED,
  );
}

/** An event carrying declared fields (only the given ones: the others are absent). */
function withFields(event: RiskEvent, fields: Record<string, string | number | boolean>): RiskEvent {
  return { ...event, fields };
}

function ev(partial: Partial<RiskEvent> & { event_time: number }): RiskEvent {
  return {
    event_id: partial.event_id ?? `c-${++sequence}`,
    user_id: partial.user_id ?? 'u-1',
    event_type: partial.event_type ?? 'login',
    event_time: partial.event_time,
    ip_address: partial.ip_address,
    device_id: partial.device_id,
    location_city: partial.location_city,
    amount: partial.amount,
  };
}

function input(event: RiskEvent, messageId?: string): StateInput {
  return { event, messageId };
}

function accepted(outcome: StateOutcome | undefined): Extract<StateOutcome, { kind: 'accepted' }> {
  assert.ok(outcome !== undefined && outcome.kind === 'accepted', `expected an accepted outcome, got ${JSON.stringify(outcome)}`);
  return outcome;
}

/** Applies inputs in batches of `size` to the store and to a fresh MemoryFeatureStore; both must agree on every outcome. */
export async function assertSameAsMemory(
  store: FeatureStore,
  definitions: readonly FeatureDefinition[],
  settings: StateSettings,
  partitions: readonly { partition: string; inputs: readonly StateInput[] }[],
  size: number,
): Promise<{ accepted: number; late: number; duplicates: number; redelivered: number }> {
  const reference = new MemoryFeatureStore(definitions, settings);
  const counts = { accepted: 0, late: 0, duplicates: 0, redelivered: 0 };
  const batches = partitions.map(({ partition, inputs }) => ({ partition, batches: chunk(inputs, size) }));
  const longest = Math.max(...batches.map((b) => b.batches.length));
  // Round-robin over partitions, one batch at a time: both stores see the same global order.
  for (let i = 0; i < longest; i++) {
    for (const { partition, batches: list } of batches) {
      const batch = list[i];
      if (batch === undefined) continue;
      const expected = reference.applySync(partition, batch);
      const actual = await store.apply(partition, batch);
      for (let j = 0; j < batch.length; j++) {
        if (!isDeepStrictEqual(actual[j], expected[j])) {
          assert.deepStrictEqual(
            { at: `${partition} batch ${i} #${j}`, input: batch[j], outcome: actual[j] },
            { at: `${partition} batch ${i} #${j}`, input: batch[j], outcome: expected[j] },
          );
        }
        const outcome = expected[j];
        if (outcome.kind === 'duplicate') counts.duplicates++;
        else {
          counts.accepted++;
          if (outcome.late) counts.late++;
          if (outcome.redelivered) counts.redelivered++;
        }
      }
    }
  }
  return counts;
}

function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

/**
 * The FeatureStore contract (SPEC §2–§3), run against every implementation.
 * `factory` returns a fresh, empty store for the given definitions.
 */
export function featureStoreConformance(label: string, factory: StoreFactory): void {
  const defaults = defaultDefinitions();
  const settings = TEST_STATE_SETTINGS;

  describe(`FeatureStore conformance: ${label}`, () => {
    it('window edges: an event exactly W old is out, one W − 1 ms old is in', async () => {
      const store = await factory(defaults, settings);
      try {
        const out = await store.apply('p', [
          input(ev({ event_time: T0, device_id: 'a' })),
          input(ev({ event_time: T0 + 1, device_id: 'b' })),
          input(ev({ event_time: T0 + HOUR, device_id: 'c' })),
        ]);
        const last = accepted(out[2]);
        assert.equal(last.features.login_count_1h, 2);
        assert.equal(last.features.distinct_devices_1h, 2);
        assert.equal(last.late, false);
        const pay = await store.apply('p', [
          input(ev({ event_time: T0 + HOUR + 1, event_type: 'payment', amount: 0.1 })),
          input(ev({ event_time: T0 + HOUR + 2, event_type: 'payment', amount: 0.2 })),
          input(ev({ event_time: T0 + HOUR + 3, event_type: 'payment' })),
        ]);
        assert.equal(accepted(pay[1]).features.payment_amount_24h, 0.1 + 0.2);
        assert.equal(accepted(pay[2]).features.payment_amount_24h, 0.1 + 0.2);
        assert.equal(accepted(pay[2]).features.login_count_1h, 1, 'the login at T0 + 1 has left the window of T0 + 1 h + 3');
      } finally {
        await store.close();
      }
    });

    it('out of order within the allowed lateness: exact features, not late', async () => {
      const store = await factory(defaults, settings);
      try {
        const out = await store.apply('p', [
          input(ev({ event_time: T0 + 5 * MIN, location_city: 'Paris' })),
          input(ev({ event_time: T0, location_city: 'Lyon' })),
          input(ev({ event_time: T0 - 4 * MIN, location_city: 'Lyon' })),
          input(ev({ event_time: T0 + 6 * MIN, location_city: 'Oslo' })),
        ]);
        assert.deepEqual(
          out.map((o) => [accepted(o).late, accepted(o).features.login_count_1h, accepted(o).features.distinct_cities_1h]),
          [
            [false, 1, 1],
            [false, 1, 1],
            [false, 1, 1],
            [false, 4, 3],
          ],
        );
      } finally {
        await store.close();
      }
    });

    it('late: below (max − allowed lateness) is late, at it is not; watermarks are per partition', async () => {
      const store = await factory(defaults, settings);
      try {
        const L = settings.allowedLatenessMs;
        const out = await store.apply('p', [
          input(ev({ event_time: T0 })),
          input(ev({ event_time: T0 - L })),
          input(ev({ event_time: T0 - L - 1 })),
        ]);
        assert.deepEqual(
          out.map((o) => accepted(o).late),
          [false, false, true],
        );
        const other = await store.apply('q', [input(ev({ user_id: 'u-2', event_time: T0 - L - 1 }))]);
        assert.equal(accepted(other[0]).late, false);
        const later = await store.apply('p', [input(ev({ event_time: T0 + 1 })), input(ev({ event_time: T0 - L }))]);
        assert.deepEqual(
          later.map((o) => accepted(o).late),
          [false, true],
        );
      } finally {
        await store.close();
      }
    });

    it('trims at the horizon: entries at or before newest − (W + lateness) are gone for late events', async () => {
      const store = await factory(defaults, settings);
      try {
        const horizon = 10 * MIN + settings.allowedLatenessMs;
        const reg = (ip: string, t: number): StateInput =>
          input(ev({ event_type: 'register', ip_address: ip, event_time: t, user_id: `r-${t}` }));
        // One partition per IP, so that each has its own watermark.
        const out = [
          ...(await store.apply('p', [reg('1.1.1.1', T0), reg('1.1.1.1', T0 + horizon), reg('1.1.1.1', T0 + 5 * MIN)])),
          ...(await store.apply('q', [reg('2.2.2.2', T0), reg('2.2.2.2', T0 + horizon - 1), reg('2.2.2.2', T0 + 5 * MIN)])),
        ];
        assert.deepEqual(
          out.map((o) => [accepted(o).late, accepted(o).features.ip_registrations_10m]),
          [
            [false, 1],
            [false, 1],
            [true, 1],
            [false, 1],
            [false, 1],
            [true, 2],
          ],
        );
      } finally {
        await store.close();
      }
    });

    it('duplicates: the first wins even with another payload, and changes nothing', async () => {
      const store = await factory(defaults, settings);
      try {
        const first = ev({ event_id: 'dup-1', event_time: T0, device_id: 'd1' });
        const out = await store.apply('p', [
          input(first, 'p/1'),
          input({ ...first, event_type: 'payment', amount: 50, device_id: 'd2' }, 'p/2'),
          input({ ...first, user_id: 'u-other' }),
        ]);
        assert.equal(accepted(out[0]).redelivered, false);
        assert.deepEqual(out.slice(1), [{ kind: 'duplicate' }, { kind: 'duplicate' }]);
        const next = await store.apply('p', [input(ev({ event_time: T0 + 1, device_id: 'd1', event_type: 'payment', amount: 5 }), 'p/3')]);
        assert.deepEqual(
          [next[0].kind, accepted(next[0]).features.distinct_devices_1h, accepted(next[0]).features.payment_amount_24h],
          ['accepted', 1, 5],
        );
        assert.deepEqual(await store.apply('p', [input({ ...first, event_id: 'dup-1' }, 'p/9')]), [{ kind: 'duplicate' }]);
      } finally {
        await store.close();
      }
    });

    it('redelivery: the same messages get their first outcome back and change nothing', async () => {
      const store = await factory(defaults, settings);
      try {
        const batch = [
          input(ev({ event_time: T0, device_id: 'd1', location_city: 'Paris' }), 'p/10'),
          input(ev({ event_time: T0 + 1, device_id: 'd2', location_city: 'Lyon' }), 'p/11'),
          input(ev({ event_time: T0 - 20 * MIN, device_id: 'd3' }), 'p/12'),
        ];
        const first = await store.apply('p', batch);
        const again = await store.apply('p', batch);
        assert.deepEqual(
          again,
          first.map((o) => ({ ...accepted(o), redelivered: true })),
        );
        assert.equal(accepted(first[2]).late, true);
        // Within one batch, a repeated message is a redelivery of its first copy.
        const within = await store.apply('p', [
          input(ev({ event_id: 'w-1', event_time: T0 + 2, device_id: 'd4' }), 'p/13'),
          input(ev({ event_id: 'w-1', event_time: T0 + 2, device_id: 'd4' }), 'p/13'),
        ]);
        assert.deepEqual(within[1], { ...accepted(within[0]), redelivered: true });
        assert.equal(accepted(within[0]).features.distinct_devices_1h, 4);
        const after = await store.apply('p', [input(ev({ event_time: T0 + 3, device_id: 'd1' }), 'p/14')]);
        assert.equal(accepted(after[0]).features.login_count_1h, 5, 'nothing was counted twice');
      } finally {
        await store.close();
      }
    });

    it('changed: compares with the latest known value by event time, ties to the later arrival', async () => {
      const store = await factory(defaults, settings);
      try {
        const out = await store.apply('p', [
          input(ev({ event_time: T0 + 10, device_id: 'd1' })),
          input(ev({ event_time: T0 + 5, device_id: 'd2' })),
          input(ev({ event_time: T0 + 11, device_id: 'd1' })),
          input(ev({ event_time: T0 + 11, device_id: 'd3' })),
          input(ev({ event_time: T0 + 11, device_id: 'd1' })),
          input(ev({ event_time: T0 + 12 })),
          input(ev({ event_time: T0 + 13, device_id: 'd1' })),
          input(ev({ event_time: T0 + 14, device_id: 'd1', user_id: 'u-new' })),
        ]);
        assert.deepEqual(
          out.map((o) => accepted(o).features.device_changed),
          [false, true, false, true, true, false, false, false],
        );
      } finally {
        await store.close();
      }
    });

    it('absent entity keys give the empty value and touch no state', async () => {
      const store = await factory(defaults, settings);
      try {
        const out = await store.apply('p', [
          input(ev({ event_time: T0, event_type: 'register' })),
          input(ev({ event_time: T0 + 1, event_type: 'register', ip_address: '1.2.3.4', device_id: 'dd' })),
          input(ev({ event_time: T0 + 2, event_type: 'register', user_id: 'u-2', device_id: 'dd' })),
        ]);
        const f = out.map((o) => accepted(o).features);
        assert.deepEqual(
          [f[0].ip_registrations_10m, f[0].device_distinct_users_24h, f[0].device_changed, f[0].distinct_devices_1h],
          [0, 0, false, 0],
        );
        assert.deepEqual([f[1].ip_registrations_10m, f[1].device_distinct_users_24h], [1, 1]);
        assert.deepEqual([f[2].ip_registrations_10m, f[2].device_distinct_users_24h, f[2].device_changed], [0, 2, false]);
        assert.deepEqual(Object.keys(f[0]).sort(), defaults.map((d) => d.name).sort());
      } finally {
        await store.close();
      }
    });

    it('declared fields: entity keys, distinct/sum/changed fields and where filters (absent fails)', async () => {
      const definitions = declaredDefinitions();
      const store = await factory(definitions, settings);
      try {
        const out = await store.apply('p', [
          input(withFields(ev({ event_time: T0, user_id: 'u-a' }), { card_id: 'c1', channel: 'web', is_vip: true, risk_score: 10 })),
          input(withFields(ev({ event_time: T0 + 1, user_id: 'u-b' }), { card_id: 'c1', channel: 'pos', risk_score: 2.5 })),
          input(withFields(ev({ event_time: T0 + 2, user_id: 'u-a' }), { card_id: 'c2', channel: 'app', is_vip: true })),
          input(withFields(ev({ event_time: T0 + 3, user_id: 'u-a' }), { channel: 'app', is_vip: false })),
          input(withFields(ev({ event_time: T0 + 4, user_id: 'u-a' }), { card_id: 'c1', is_vip: true })),
          input(withFields(ev({ event_time: T0 + 10 * MIN, user_id: 'u-a' }), { card_id: 'c1', channel: 'web', is_vip: true })),
        ]);
        const f = out.map((o) => accepted(o).features);
        assert.deepEqual(
          f.map((x) => [x.card_count_10m, x.card_users_10m, x.card_channels_10m, x.card_score_10m, x.card_channel_changed]),
          [
            [1, 1, 1, 10, false],
            [2, 2, 2, 12.5, true],
            [1, 1, 1, 0, false],
            [0, 0, 0, 0, false],
            [3, 2, 2, 12.5, false],
            [3, 2, 2, 2.5, true],
          ],
        );
        assert.deepEqual(
          f.map((x) => [x.user_online_10m, x.user_cards_10m]),
          [
            [1, 1],
            [0, 1],
            [2, 2],
            [2, 2],
            [2, 2],
            [2, 2],
          ],
        );
      } finally {
        await store.close();
      }
    });

    it('min, max, avg: window edges, out of order, absent values and empty windows (0), declared fields and filters', async () => {
      const definitions = parseFeatureDefinitions(
        {
          features: [
            { name: 'amt_min_10m', entity: 'user_id', aggregate: 'min', field: 'amount', window: '10m' },
            { name: 'amt_max_10m', entity: 'user_id', aggregate: 'max', field: 'amount', window: '10m' },
            { name: 'amt_avg_10m', entity: 'user_id', aggregate: 'avg', field: 'amount', window: '10m' },
            { name: 'card_avg_10m', entity: 'card_id', aggregate: 'avg', field: 'amount', window: '10m' },
            { name: 'card_since_last_1h', entity: 'card_id', aggregate: 'since_last', window: '1h' },
            {
              name: 'web_score_max_10m',
              entity: 'user_id',
              aggregate: 'max',
              field: 'risk_score',
              where: [{ field: 'channel', equals: 'web' }],
              window: '10m',
            },
          ],
        },
        DECLARED,
      );
      const store = await factory(definitions, settings);
      try {
        const pay = (t: number, amount: number | undefined, fields: Record<string, string | number | boolean>): StateInput =>
          input(withFields(ev({ event_time: t, event_type: 'payment', amount }), fields));
        const out = await store.apply('p', [
          pay(T0, 5, { card_id: 'c1', channel: 'web', risk_score: 50 }),
          pay(T0 + 1, undefined, { card_id: 'c1', channel: 'app', risk_score: 90 }),
          pay(T0 + 2, 1, { channel: 'web', risk_score: 70 }),
          pay(T0 + 10 * MIN, 9, {}),
          pay(T0 + 10 * MIN + 2, undefined, {}),
          pay(T0 + 30 * MIN, undefined, {}),
          pay(T0 + 25 * MIN, 7, {}),
          pay(T0 + 30 * MIN, 2, {}),
        ]);
        assert.deepEqual(
          out.map((o) => {
            const f = accepted(o).features;
            return [f.amt_min_10m, f.amt_max_10m, f.amt_avg_10m, f.card_avg_10m, f.card_since_last_1h, f.web_score_max_10m];
          }),
          [
            [5, 5, 5, 5, -1, 50],
            [5, 5, 5, 5, 1, 50],
            [1, 5, 3, 0, -1, 70],
            [1, 9, 5, 0, -1, 70],
            [9, 9, 9, 0, -1, 0],
            [0, 0, 0, 0, -1, 0],
            [7, 7, 7, 0, -1, 0],
            [2, 7, 4.5, 0, -1, 0],
          ],
        );
        assert.deepEqual(
          out.map((o) => accepted(o).late),
          out.map(() => false),
        );
      } finally {
        await store.close();
      }
    });

    it('first_seen_age and since_last: out of order, ties by arrival, late, trimmed, filtered events', async () => {
      const definitions = parseFeatureDefinitions({
        features: [
          { name: 'first_seen_1h', entity: 'user_id', aggregate: 'first_seen_age', window: '1h' },
          { name: 'since_last_1h', entity: 'user_id', aggregate: 'since_last', window: '1h' },
          { name: 'login_since_last_1h', entity: 'user_id', aggregate: 'since_last', event_types: ['login'], window: '1h' },
        ],
      });
      const store = await factory(definitions, settings);
      try {
        const S = 1000;
        const out = await store.apply('p', [
          input(ev({ event_time: T0 + 10 * S })),
          input(ev({ event_time: T0 + 5 * S })),
          input(ev({ event_time: T0 + 10 * S })),
          input(ev({ event_time: T0 + 7 * S })),
          input(ev({ event_time: T0 + HOUR + 5 * S })),
          input(ev({ event_time: T0 + 20 * S })),
          input(ev({ event_time: T0 - 20 * MIN })),
          input(ev({ event_time: T0 + HOUR + 6 * S, event_type: 'payment' })),
          input(ev({ event_time: T0 + HOUR + 8 * S })),
        ]);
        assert.deepEqual(
          out.map((o) => {
            const f = accepted(o).features;
            return [accepted(o).late, f.first_seen_1h, f.since_last_1h, f.login_since_last_1h];
          }),
          [
            [false, 0, -1, -1],
            [false, 0, -1, -1],
            [false, 5 * S, 0, 0],
            [false, 2 * S, 2 * S, 2 * S],
            [false, HOUR - 2 * S, HOUR - 5 * S, HOUR - 5 * S],
            [true, 15 * S, 10 * S, 10 * S],
            [true, 0, -1, -1],
            [false, HOUR - 1 * S, 1 * S, 1 * S],
            [false, HOUR - 2 * S, 2 * S, 3 * S],
          ],
        );
      } finally {
        await store.close();
      }
    });

    it('composite entity keys of two fields: absent when either is', async () => {
      const definitions = parseFeatureDefinitions(
        {
          features: [
            { name: 'ud_count_10m', entity: ['user_id', 'device_id'], aggregate: 'count', window: '10m' },
            { name: 'uc_since_last_1h', entity: ['user_id', 'card_id'], aggregate: 'since_last', window: '1h' },
            { name: 'uc_amounts_1h', entity: ['card_id', 'user_id'], aggregate: 'distinct', field: 'amount', window: '1h' },
          ],
        },
        DECLARED,
      );
      const store = await factory(definitions, settings);
      try {
        const out = await store.apply('p', [
          input(withFields(ev({ event_time: T0, user_id: 'u-a', device_id: 'd1', amount: 1 }), { card_id: 'c1' })),
          input(withFields(ev({ event_time: T0 + 1, user_id: 'u-a', device_id: 'd2', amount: 2 }), { card_id: 'c1' })),
          input(withFields(ev({ event_time: T0 + 2, user_id: 'u-b', device_id: 'd1', amount: 3 }), {})),
          input(withFields(ev({ event_time: T0 + 3, user_id: 'u-a', device_id: 'd1', amount: 4 }), { card_id: 'c2' })),
          input(withFields(ev({ event_time: T0 + 4, user_id: 'u-a', amount: 1 }), { card_id: 'c1' })),
          input(withFields(ev({ event_time: T0 + 5, user_id: 'c1', device_id: 'd1', amount: 5 }), { card_id: 'u-a' })),
        ]);
        assert.deepEqual(
          out.map((o) => {
            const f = accepted(o).features;
            return [f.ud_count_10m, f.uc_since_last_1h, f.uc_amounts_1h];
          }),
          [
            [1, -1, 1],
            [1, 1, 2],
            [1, -1, 0],
            [2, -1, 1],
            [0, 3, 2],
            [1, -1, 1],
          ],
        );
      } finally {
        await store.close();
      }
    });

    it('non-ASCII ids and values (UTF-8 on the wire) are counted and compared as the same strings', async () => {
      const store = await factory(defaults, settings);
      try {
        const user = 'usér-東京-😀';
        const out = await store.apply('p', [
          input(
            ev({
              event_id: 'é-1',
              user_id: user,
              event_time: T0,
              device_id: 'appareil-é',
              location_city: 'São Paulo',
              ip_address: '10.0.0.1',
            }),
          ),
          input(
            ev({
              event_id: 'é-2',
              user_id: user,
              event_time: T0 + 1,
              device_id: 'appareil-e',
              location_city: 'q' /* '東' truncated to one byte would read as 'q' */,
            }),
          ),
          input(ev({ event_id: 'é-3', user_id: user, event_time: T0 + 2, device_id: 'appareil-é', location_city: '東' })),
          input(ev({ event_id: 'é-4', user_id: 'ü-2', event_time: T0 + 3, device_id: 'appareil-é', location_city: '東' })),
        ]);
        assert.deepEqual(
          out.map((o) => {
            const { features } = accepted(o);
            return [
              features.distinct_devices_1h,
              features.distinct_cities_1h,
              features.device_changed,
              features.city_changed,
              features.device_distinct_users_24h,
            ];
          }),
          [
            [1, 1, false, false, 1],
            [2, 2, true, true, 1],
            [2, 3, true, true, 1],
            [1, 1, false, false, 2],
          ],
        );
        const again = await store.apply('p', [input(ev({ event_id: 'é-1', user_id: user, event_time: T0 + 4 }))]);
        assert.equal(again[0].kind, 'duplicate', 'a non-ASCII event_id is remembered');
      } finally {
        await store.close();
      }
    });

    it('custom definitions on a generated stream over three partitions: the same outcomes as MemoryFeatureStore', async () => {
      const definitions = customDefinitions();
      const custom: StateSettings = { allowedLatenessMs: 20_000, dedupRetentionMs: 30 * MIN, latestValueRetentionMs: 24 * HOUR };
      const store = await factory(definitions, custom);
      try {
        // Disjoint users per partition (Kafka keys by user), shared IPs, devices and cities.
        const partitions = [0, 1, 2].map((p) => ({
          partition: `events/${p}`,
          inputs: generateStream({
            seed: 11 + p,
            events: 1_500,
            spanMs: 20 * MIN,
            users: 60,
            ips: 20,
            devices: 40,
            allowedLatenessMs: custom.allowedLatenessMs,
            partition: `events/${p}`,
          }).map((i) => ({ ...i, event: { ...i.event, user_id: `${i.event.user_id}-p${p}` } })),
        }));
        const counts = await assertSameAsMemory(store, definitions, custom, partitions, 50);
        assert.ok(counts.late > 0 && counts.duplicates > 0 && counts.redelivered > 0, JSON.stringify(counts));
      } finally {
        await store.close();
      }
    });

    it('investigation reads: readEntity and preview give what MemoryFeatureStore gives, and preview changes nothing', async () => {
      const definitions = customDefinitions();
      const store = await factory(definitions, settings);
      const reference = new MemoryFeatureStore(definitions, settings);
      try {
        const inputs = generateStream({
          seed: 23,
          events: 800,
          spanMs: 15 * MIN,
          users: 25,
          ips: 10,
          devices: 20,
          allowedLatenessMs: 60_000,
        });
        await assertSameAsMemory(store, definitions, settings, [{ partition: 'p', inputs }], 40);
        reference.applySync('p', inputs);
        let found = 0;
        for (const key of ['user_id', 'ip_address', 'device_id', 'location_city'] as const) {
          const values = [...new Set(inputs.map((i) => i.event[key]).filter((v): v is string => v !== undefined))].slice(0, 12);
          for (const value of [...values, 'never-seen']) {
            const expected = await reference.readEntity(key, value);
            assert.deepEqual(await store.readEntity(key, value), expected, `${key} ${value}`);
            if (expected.kind === 'found') found++;
          }
        }
        assert.ok(found > 30, `${found} entities found`);
        assert.deepEqual(await store.readEntity('card_id', 'c'), await reference.readEntity('card_id', 'c'));
        const last = inputs[inputs.length - 1].event;
        const probe: RiskEvent = { ...last, event_id: 'probe-1', event_time: last.event_time + 1_000, event_type: 'payment', amount: 7 };
        const preview = await store.preview(probe);
        assert.deepEqual(preview, await reference.preview(probe));
        assert.deepEqual(await store.preview(probe), preview, 'a second preview gives the same answer');
        const real = accepted((await store.apply('p', [input(probe)]))[0]);
        assert.deepEqual(real.features, preview, 'the real event is accepted and sees the state the preview saw');
      } finally {
        await store.close();
      }
    });
  });
}
