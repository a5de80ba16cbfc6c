import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  MemoryFeatureStore,
  RiskEngineError,
  type EventField,
  type FeatureDefinition,
  type FeatureValues,
  type RiskEvent,
  type StateInput,
  type StateSettings,
} from '@risk/domain';
import { generateStream, type StreamOptions } from '@test/support/state-stream';
import {
  LEGACY_FIELD_CODES,
  decodeLegacyEntity,
  legacyEntityGroups,
  legacyFeatureId,
  parseLegacyEntityKey,
  type LegacyEntity,
  type LegacySection,
} from './legacy-redis-layout';

/** test/fixtures/redis-layout-v1.json, written with the old (Lua) store by test/fixtures/generate-redis-layout-v1.ts (removed with that store; see commit 596fd22). */
interface Fixture {
  readonly keyPrefix: string;
  readonly settings: StateSettings;
  readonly stream: { readonly options: StreamOptions; readonly sha1: string };
  readonly stores: readonly {
    readonly definitions: readonly Partial<FeatureDefinition>[];
    readonly applied: readonly { readonly partition: string; readonly inputs: readonly number[] }[];
  }[];
  readonly keys: Record<string, { readonly type: string; readonly pttl: number; readonly value: unknown }>;
}

const fixture = JSON.parse(readFileSync(join(process.cwd(), 'test', 'fixtures', 'redis-layout-v1.json'), 'utf8')) as Fixture;
const { keyPrefix, settings } = fixture;
const inputs = generateStream(fixture.stream.options);
/** JSON drops `undefined`: the definitions come back with their optional members absent. */
const stores = fixture.stores.map((store) => ({
  applied: store.applied,
  definitions: store.definitions.map((d): FeatureDefinition => ({
    name: d.name!,
    entity: d.entity!,
    aggregate: d.aggregate!,
    field: d.field ?? undefined,
    eventTypes: d.eventTypes ?? undefined,
    windowMs: d.windowMs!,
  })),
}));
const entityKeys = Object.entries(fixture.keys)
  .filter(([key]) => parseLegacyEntityKey(key, keyPrefix) !== undefined)
  .map(([key, dumped]) => ({ key, value: Buffer.from(dumped.value as string, 'base64') }));

function takesPart(definition: FeatureDefinition, event: RiskEvent): boolean {
  if (definition.eventTypes !== undefined && !definition.eventTypes.includes(event.event_type)) return false;
  return definition.aggregate === 'count' || definition.aggregate === 'sum' || event[definition.field as EventField] !== undefined;
}

/**
 * A windowed feature's value for `event` computed from a decoded section, as
 * MemoryFeatureStore computes it: window (t − W, t], entries at or before the
 * horizon (section newest − W − lateness) ignored, a late event older than the
 * horizon sees only itself.
 */
function valueFrom(section: LegacySection | undefined, definition: FeatureDefinition, event: RiskEvent): number {
  if (section !== undefined && section.kind !== 'series') assert.fail(`${definition.name}: a series expected`);
  const t = event.event_time;
  const horizon =
    section === undefined ? Infinity : section.times[section.times.length - 1] - definition.windowMs - settings.allowedLatenessMs;
  if (section === undefined || t <= horizon) {
    if (!takesPart(definition, event)) return 0;
    return definition.aggregate === 'sum' ? (event.amount ?? 0) : 1;
  }
  const from = Math.max(t - definition.windowMs, horizon);
  const { times, values } = section;
  let count = 0;
  let sum = 0;
  const seen = new Set<string | number>();
  times.forEach((time, i) => {
    if (time <= from || time > t) return;
    count++;
    if (definition.aggregate === 'sum') sum += values[i] as number;
    seen.add(values[i]);
  });
  return definition.aggregate === 'count' ? count : definition.aggregate === 'sum' ? sum : seen.size;
}

/**
 * What the old store must hold, derived from the accepted events alone: per
 * feature, the entries of the events taking part, sorted by time (ties in
 * arrival order), without those at or before the newest minus (W + lateness);
 * for `changed` the value of the greatest time (ties: the later arrival).
 */
function expectedEntities(definitions: readonly FeatureDefinition[], accepted: readonly RiskEvent[]): Map<string, LegacyEntity> {
  const out = new Map<string, LegacyEntity>();
  for (const group of legacyEntityGroups(definitions)) {
    const byValue = new Map<string, RiskEvent[]>();
    for (const event of accepted) {
      const value = event[group.entity];
      if (value === undefined) continue;
      const list = byValue.get(String(value));
      if (list === undefined) byValue.set(String(value), [event]);
      else list.push(event);
    }
    for (const [value, events] of byValue) {
      const sections: LegacySection[] = [];
      for (const { definition, id } of group.features) {
        const part = events.filter((e) => takesPart(definition, e));
        if (part.length === 0) continue;
        if (definition.aggregate === 'changed') {
          let latest = part[0];
          for (const e of part) if (e.event_time >= latest.event_time) latest = e;
          sections.push({ featureId: id, kind: 'latest', time: latest.event_time, value: latest[definition.field as EventField]! });
          continue;
        }
        const sorted = part.map((e, i) => ({ e, i })).sort((a, b) => a.e.event_time - b.e.event_time || a.i - b.i);
        const horizon = sorted[sorted.length - 1].e.event_time - definition.windowMs - settings.allowedLatenessMs;
        const kept = sorted.filter(({ e }) => e.event_time > horizon).map(({ e }) => e);
        sections.push({
          featureId: id,
          kind: 'series',
          times: kept.map((e) => e.event_time),
          values: kept.map((e) =>
            definition.aggregate === 'count' ? 0 : definition.aggregate === 'sum' ? (e.amount ?? 0) : e[definition.field as EventField]!,
          ),
        });
      }
      if (sections.length === 0) continue;
      const newest = Math.max(...sections.map((s) => (s.kind === 'latest' ? s.time : s.times[s.times.length - 1])));
      out.set(`${keyPrefix}{${group.code}:${value}}:e${group.layout}`, { entity: group.entity, value, newest, sections });
    }
  }
  return out;
}

describe('legacy Redis layout (the generated-Lua store, test/fixtures/redis-layout-v1.json)', () => {
  it('the fixture stream regenerates identically (test/support/state-stream.ts unchanged)', () => {
    assert.equal(createHash('sha1').update(JSON.stringify(inputs)).digest('hex'), fixture.stream.sha1);
  });

  it('parses old entity keys and nothing else', () => {
    assert.deepEqual(parseLegacyEntityKey('risk:{u:u-42}:e3c81f0', 'risk:'), { code: 'u', value: 'u-42', layout: '3c81f0' });
    assert.deepEqual(parseLegacyEntityKey('risk:{ip:10.0.0.7}:e9a04d2', 'risk:'), { code: 'ip', value: '10.0.0.7', layout: '9a04d2' });
    assert.deepEqual(parseLegacyEntityKey('risk:{dev:a}:e}:e51b7e3', 'risk:'), { code: 'dev', value: 'a}:e', layout: '51b7e3' });
    assert.deepEqual(parseLegacyEntityKey('x:{city:São Paulo}:e000000', 'x:'), { code: 'city', value: 'São Paulo', layout: '000000' });
    for (const key of [
      'risk:{p:events/0}:st',
      'risk:{p:events/0}:ap',
      'risk:{u:u-1}:s',
      'other:{u:u-1}:e3c81f0',
      'risk:{zz:1}:e3c81f0',
      'risk:{u:1}:e3c81f',
    ]) {
      assert.equal(parseLegacyEntityKey(key, 'risk:'), undefined, key);
    }
    assert.deepEqual(Object.values(LEGACY_FIELD_CODES).sort(), ['amt', 'city', 'dev', 'eid', 'ip', 'type', 'u']);
  });

  it('feature ids and layout hashes are those of the old store (the keys in the fixture)', () => {
    const [defaults] = stores;
    assert.equal(
      legacyFeatureId(defaults.definitions[0]),
      createHash('sha1').update('["distinct_devices_1h","user_id","distinct","device_id",null,3600000]').digest('hex').slice(0, 8),
    );
    const layouts = new Set(entityKeys.map(({ key }) => parseLegacyEntityKey(key, keyPrefix)!.layout));
    const ours = stores.flatMap((s) => legacyEntityGroups(s.definitions).map((g) => g.layout));
    // Every layout in the dump is one of the groups' (the IP group of the defaults included), and vice versa.
    assert.deepEqual([...layouts].sort(), [...new Set(ours)].sort());
  });

  for (const [index, store] of stores.entries()) {
    it(`store ${index}: every entity key decodes to exactly the accepted events' logical state, and the memory store's values follow from it`, () => {
      const { definitions } = store;
      const others = stores.filter((_, i) => i !== index).map((s) => s.definitions);
      const memory = new MemoryFeatureStore(definitions, settings);
      const accepted: RiskEvent[] = [];
      /** Per entity key (old layout): the last accepted event touching it and the memory store's values for it. */
      const lastOutcome = new Map<string, { event: RiskEvent; features: FeatureValues }>();
      const groups = legacyEntityGroups(definitions);
      for (const batch of store.applied) {
        const batchInputs: StateInput[] = batch.inputs.map((i) => inputs[i]);
        memory.applySync(batch.partition, batchInputs).forEach((outcome, j) => {
          if (outcome.kind !== 'accepted' || outcome.redelivered) return;
          const event = batchInputs[j].event;
          accepted.push(event);
          for (const group of groups) {
            const value = event[group.entity];
            if (value !== undefined)
              lastOutcome.set(`${keyPrefix}{${group.code}:${String(value)}}:e${group.layout}`, { event, features: outcome.features });
          }
        });
      }

      const decoded = new Map<string, LegacyEntity>();
      for (const { key, value } of entityKeys) {
        const entity = decodeLegacyEntity(key, value, definitions, settings, keyPrefix);
        const elsewhere = others.filter((d) => decodeLegacyEntity(key, value, d, settings, keyPrefix) !== undefined).length;
        // Each entity key belongs to exactly one of the fixture's definition sets.
        assert.equal((entity === undefined ? 0 : 1) + elsewhere, 1, key);
        if (entity !== undefined) decoded.set(key, entity);
      }
      assert.ok(decoded.size > 100, `${decoded.size} entities decoded`);

      // 1. Exactly the logical state: every time, value and order, from the stream alone.
      const expected = expectedEntities(definitions, accepted);
      assert.deepEqual([...decoded.keys()].sort(), [...expected.keys()].sort());
      for (const [key, entity] of decoded) assert.deepStrictEqual(entity, expected.get(key), key);

      // 2. The memory store's values: for the last accepted event of each entity, recomputed from the decoded series...
      let compared = 0;
      let nonZero = 0;
      for (const [key, entity] of decoded) {
        const last = lastOutcome.get(key)!;
        const group = groups.find((g) => g.entity === entity.entity)!;
        for (const { definition, id } of group.features) {
          if (definition.aggregate === 'changed') continue;
          const section = entity.sections.find((s) => s.featureId === id);
          const value = valueFrom(section, definition, last.event);
          assert.equal(value, last.features[definition.name], `${key} ${definition.name} at ${last.event.event_id}`);
          compared++;
          if (value !== 0) nonZero++;
        }
      }
      assert.ok(compared > 100 && nonZero > 100, `${compared} values compared, ${nonZero} not 0`);

      // ...and each latest value is the one the memory store compares with: a probe dated 0 (older than all, so it
      // changes no latest value and no window) carrying it is not a change, one carrying another value is.
      let probes = 0;
      for (const [key, entity] of decoded) {
        const group = groups.find((g) => g.entity === entity.entity)!;
        for (const { definition, id } of group.features) {
          if (definition.aggregate !== 'changed') continue;
          const section = entity.sections.find((s) => s.featureId === id);
          if (section === undefined) continue;
          assert.ok(section.kind === 'latest');
          assert.equal(typeof section.value, definition.field === 'amount' ? 'number' : 'string');
          for (const [carried, change] of [
            [section.value, false],
            [typeof section.value === 'number' ? section.value + 0.5 : `${section.value}-other`, true],
          ] as const) {
            const probe: RiskEvent = {
              event_id: `probe-${++probes}`,
              user_id: 'probe-user',
              event_type: 'probe',
              event_time: 0,
              ip_address: undefined,
              device_id: undefined,
              location_city: undefined,
              amount: undefined,
              [entity.entity]: entity.entity === 'amount' ? Number(entity.value) : entity.value,
              [definition.field!]: carried,
            };
            const [outcome] = memory.applySync('probe', [{ event: probe, messageId: undefined }]);
            assert.ok(outcome.kind === 'accepted');
            assert.equal(outcome.features[definition.name], change, `${key} ${definition.name} probed with ${String(carried)}`);
          }
        }
      }
      assert.ok(probes > 100, `${probes} probes`);
    });
  }

  it('a layout of the given definitions with bytes that do not fit it is refused as corrupt', () => {
    const [defaults] = stores;
    const layout = legacyEntityGroups(defaults.definitions).find((g) => g.entity === 'user_id')!.layout;
    const user = entityKeys.find(({ key }) => parseLegacyEntityKey(key, keyPrefix)?.layout === layout)!;
    assert.ok(decodeLegacyEntity(user.key, user.value, defaults.definitions, settings, keyPrefix) !== undefined);
    for (const broken of [user.value.subarray(0, user.value.length - 1), Buffer.concat([user.value, Buffer.alloc(1)]), Buffer.alloc(3)]) {
      assert.throws(
        () => decodeLegacyEntity(user.key, broken, defaults.definitions, settings, keyPrefix),
        (error: unknown) => error instanceof RiskEngineError && error.code === 'LEGACY_STATE_CORRUPT' && !error.retriable,
      );
    }
  });
});
