import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { DeclaredValue, RiskEvent } from '../events/risk-event';
import { parseFieldDeclarations } from '../events/declared-fields';
import { parseFeatureDefinitions, type FeatureDefinition, type FeatureValue } from './feature-definition';
import type { StateInput, StateSettings } from './feature-store';
import { MemoryFeatureStore } from './memory-feature.store';

/**
 * Property test: random feature definitions (every aggregate, SPEC and
 * declared fields, event types and `where` filters) over random streams (out
 * of order, late, duplicates, ties, absent values), against a brute-force
 * computation of SPEC §3 written here from docs/features.md: for each
 * accepted event, its entity's taking-part events are filtered and sorted
 * again from scratch.
 */

const SETTINGS: StateSettings = { allowedLatenessMs: 10_000, dedupRetentionMs: 3_600_000_000, latestValueRetentionMs: 3_600_000_000 };
const DECLARED = parseFieldDeclarations({
  fields: [
    { name: 'card', type: 'string' },
    { name: 'channel', type: 'string' },
    { name: 'score', type: 'number' },
    { name: 'vip', type: 'boolean' },
  ],
});
const AGGREGATES = ['count', 'distinct', 'sum', 'changed', 'min', 'max', 'avg', 'first_seen_age', 'since_last'] as const;
const ENTITIES = ['user_id', 'device_id', 'card', ['user_id', 'device_id'], ['card', 'channel']];
const VALUE_FIELDS = ['device_id', 'location_city', 'card', 'channel', 'amount', 'score', 'user_id'];
const NUMBER_FIELDS = ['amount', 'score'];
const TYPES = ['login', 'payment', 'register'];
const CHANNELS = ['web', 'app', 'pos'];
const WINDOWS = ['1s', '5s', '30s', '2m'];

/** mulberry32: small, seeded, deterministic. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomDefinitions(rnd: () => number): FeatureDefinition[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];
  const count = 1 + Math.floor(rnd() * 6);
  const features = [];
  for (let i = 0; i < count; i++) {
    const aggregate = pick(AGGREGATES);
    const feature: Record<string, unknown> = { name: `f${i}`, entity: pick(ENTITIES), aggregate };
    if (['distinct', 'changed'].includes(aggregate)) feature.field = pick(VALUE_FIELDS);
    if (['sum', 'min', 'max', 'avg'].includes(aggregate)) feature.field = pick(NUMBER_FIELDS);
    if (aggregate !== 'changed') feature.window = pick(WINDOWS);
    if (rnd() < 0.3) feature.event_types = TYPES.filter(() => rnd() < 0.6).concat(pick(TYPES));
    const where = rnd();
    if (where < 0.2) feature.where = [{ field: 'channel', in: CHANNELS.filter(() => rnd() < 0.5).concat(pick(CHANNELS)) }];
    else if (where < 0.3) feature.where = [{ field: 'vip', equals: rnd() < 0.5 }];
    else if (where < 0.35)
      feature.where = [
        { field: 'amount', in: [1, 2, 3] },
        { field: 'event_type', equals: 'payment' },
      ];
    features.push(feature);
  }
  return parseFeatureDefinitions({ features }, DECLARED);
}

function randomStream(rnd: () => number, n: number): { partition: string; event: RiskEvent }[] {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)];
  const maybe = <T>(value: T, p = 0.8): T | undefined => (rnd() < p ? value : undefined);
  const out: { partition: string; event: RiskEvent }[] = [];
  let clock = Date.UTC(2026, 10, 29, 12);
  for (let i = 0; i < n; i++) {
    // Mostly forward in small steps (ties included), some out of order, some beyond the lateness.
    const step = rnd();
    if (step < 0.15) clock += 0;
    else if (step < 0.85) clock += Math.floor(rnd() * 2_000);
    else clock += Math.floor(rnd() * 60_000);
    let t = clock;
    const back = rnd();
    if (back < 0.15) t -= Math.floor(rnd() * 9_000);
    else if (back < 0.22) t -= 10_000 + Math.floor(rnd() * 150_000);
    const duplicate = i > 0 && rnd() < 0.05;
    const fields: Record<string, DeclaredValue> = {};
    const card = maybe(pick(['c1', 'c2', 'c3']));
    if (card !== undefined) fields.card = card;
    const channel = maybe(pick(CHANNELS));
    if (channel !== undefined) fields.channel = channel;
    const score = maybe(Math.floor(rnd() * 20) / 4);
    if (score !== undefined) fields.score = score;
    const vip = maybe(rnd() < 0.5);
    if (vip !== undefined) fields.vip = vip;
    out.push({
      partition: rnd() < 0.8 ? 'p' : 'q',
      event: {
        event_id: duplicate ? out[Math.floor(rnd() * out.length)].event.event_id : `e${i}`,
        user_id: pick(['u1', 'u2', 'u3']),
        event_type: pick(TYPES),
        event_time: t,
        ip_address: undefined,
        device_id: maybe(pick(['d1', 'd2', 'd3'])),
        location_city: maybe(pick(['Paris', 'Oslo'])),
        amount: maybe(Math.floor(rnd() * 4) + (rnd() < 0.3 ? 0.5 : 0)),
        fields,
      },
    });
  }
  return out;
}

function read(event: RiskEvent, name: string): DeclaredValue | undefined {
  if (name in event && name !== 'fields') return (event as unknown as Record<string, DeclaredValue | undefined>)[name];
  return event.fields?.[name];
}

/** An entity key: one field's value, or both of a composite key's (absent when either is). */
function keyOf(event: RiskEvent, entity: string): string | undefined {
  const parts = entity.split('+').map((field) => read(event, field));
  if (parts.some((part) => part === undefined)) return undefined;
  return JSON.stringify(parts);
}

function takesPart(definition: FeatureDefinition, event: RiskEvent): boolean {
  if (definition.eventTypes !== undefined && !definition.eventTypes.includes(event.event_type)) return false;
  for (const { field, values } of definition.where ?? []) {
    const value = read(event, field);
    if (value === undefined || !values.includes(value)) return false;
  }
  const needsValue = ['distinct', 'min', 'max', 'avg', 'changed'].includes(definition.aggregate);
  return !needsValue || read(event, definition.field!) !== undefined;
}

interface Entry {
  readonly t: number;
  readonly arrival: number;
  readonly value: DeclaredValue | undefined;
}

/** SPEC §3 for one event, from the list of its entity's earlier taking-part accepted events (`prior`). */
function bruteForce(definition: FeatureDefinition, event: RiskEvent, arrival: number, prior: readonly Entry[]): FeatureValue {
  const { aggregate, windowMs } = definition;
  const t = event.event_time;
  const own = takesPart(definition, event);
  const value = definition.field === undefined ? undefined : read(event, definition.field);
  if (aggregate === 'changed') {
    if (!own) return false;
    let latest: Entry | undefined;
    for (const entry of prior) if (latest === undefined || entry.t >= latest.t) latest = entry;
    return latest !== undefined && latest.value !== value;
  }
  const entries = own ? [...prior, { t, arrival, value }] : [...prior];
  const empty = aggregate === 'since_last' ? -1 : 0;
  if (entries.length === 0) return empty;
  // Entries at or before newest − (W + lateness) are trimmed: a late event older than that sees only itself.
  const horizon = Math.max(...entries.map((e) => e.t)) - windowMs - SETTINGS.allowedLatenessMs;
  if (t <= horizon) {
    if (!own) return empty;
    const alone = [{ t, arrival, value }];
    return aggregateOf(aggregate, alone, t, own);
  }
  const from = Math.max(t - windowMs, horizon);
  const window = entries.filter((e) => e.t > from && e.t <= t).sort((a, b) => a.t - b.t || a.arrival - b.arrival);
  return aggregateOf(aggregate, window, t, own);
}

function aggregateOf(aggregate: string, window: readonly Entry[], t: number, own: boolean): number {
  const numbers = window.map((e) => (e.value as number | undefined) ?? 0);
  switch (aggregate) {
    case 'count':
      return window.length;
    case 'distinct':
      return new Set(window.map((e) => e.value)).size;
    case 'sum':
      return numbers.reduce((a, b) => a + b, 0);
    case 'min':
      return window.length === 0 ? 0 : numbers.reduce((a, b) => (b < a ? b : a));
    case 'max':
      return window.length === 0 ? 0 : numbers.reduce((a, b) => (b > a ? b : a));
    case 'avg':
      return window.length === 0 ? 0 : numbers.reduce((a, b) => a + b, 0) / window.length;
    case 'first_seen_age':
      return window.length === 0 ? 0 : t - window[0].t;
    case 'since_last': {
      const previous = window[window.length - (own ? 2 : 1)];
      return previous === undefined ? -1 : t - previous.t;
    }
    default:
      throw new Error(aggregate);
  }
}

describe('feature properties: random definitions over random streams against a brute-force SPEC §3', () => {
  for (let seed = 1; seed <= 60; seed++) {
    it(`seed ${seed}`, () => {
      const rnd = random(seed);
      const definitions = randomDefinitions(rnd);
      const stream = randomStream(rnd, 300);
      const store = new MemoryFeatureStore(definitions, SETTINGS);
      const seen = new Set<string>();
      const watermark = new Map<string, number>();
      /** Per feature and entity key: its taking-part accepted events so far. */
      const history = definitions.map(() => new Map<string, Entry[]>());
      let i = 0;
      while (i < stream.length) {
        // Batches of 1–8 events of one partition.
        const partition = stream[i].partition;
        const batch: StateInput[] = [];
        while (i < stream.length && stream[i].partition === partition && batch.length < 1 + Math.floor(rnd() * 8)) {
          batch.push({ event: stream[i].event, messageId: undefined });
          i++;
        }
        const outcomes = store.applySync(partition, batch);
        batch.forEach(({ event }, j) => {
          const at = `seed ${seed}, event ${event.event_id} (#${i - batch.length + j}), ${JSON.stringify(definitions)}`;
          if (seen.has(event.event_id)) {
            assert.equal(outcomes[j].kind, 'duplicate', at);
            return;
          }
          seen.add(event.event_id);
          const outcome = outcomes[j];
          assert.ok(outcome.kind === 'accepted', at);
          const max = watermark.get(partition);
          assert.equal(outcome.late, max !== undefined && event.event_time < max - SETTINGS.allowedLatenessMs, `late: ${at}`);
          if (max === undefined || event.event_time > max) watermark.set(partition, event.event_time);
          const arrival = i - batch.length + j;
          definitions.forEach((definition, d) => {
            const key = keyOf(event, definition.entity);
            const expected =
              key === undefined
                ? definition.aggregate === 'changed'
                  ? false
                  : definition.aggregate === 'since_last'
                    ? -1
                    : 0
                : bruteForce(definition, event, arrival, history[d].get(key) ?? []);
            assert.equal(outcome.features[definition.name], expected, `${definition.name}: ${at}`);
            if (key !== undefined && takesPart(definition, event)) {
              const list = history[d].get(key) ?? [];
              list.push({
                t: event.event_time,
                arrival,
                value: definition.field === undefined ? undefined : read(event, definition.field),
              });
              history[d].set(key, list);
            }
          });
        });
      }
    });
  }
});
