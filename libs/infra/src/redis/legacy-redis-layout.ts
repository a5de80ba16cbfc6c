import { createHash } from 'node:crypto';
import { RiskEngineError, type EventField, type FeatureDefinition, type StateSettings } from '@risk/domain';

/**
 * Reads the entity keys of the first Redis feature store (the one whose
 * features were computed in generated Lua, removed by issue 12), for the
 * `migrate-state` command. Self-contained on purpose: the old store's code is
 * gone, this module re-expresses what it wrote.
 *
 * Old entity key: `<prefix>{<code>:<value>}:e<layout>`, a string:
 * - `<code>`: {@link LEGACY_FIELD_CODES} of the group's entity field;
 * - `<layout>`: 6 hex digits, sha1 of the group's feature ids joined by ','
 *   (features of the group in definition order; see {@link legacyFeatureId});
 * - value: a header of one 4-byte little-endian unsigned length per feature of
 *   the group (0 = no state yet), then the non-empty sections in the same
 *   order, little-endian:
 *   - count: event times, 8-byte doubles, sorted (ties in arrival order);
 *   - sum: (time, amount) pairs of 8-byte doubles (absent amount stored as 0);
 *   - distinct: per entry time (double), UTF-8 length (2 bytes), the value's
 *     text (`String(value)`, so an amount as its shortest round-trip text);
 *   - changed: time of the latest known value (double), then its text.
 * The entity's newest event time is not stored: each section's own newest
 * entry drives its trimming, as in MemoryFeatureStore.
 *
 * Partition keys (`{p:<partition>}:st`, `:dd`, `:ord`) keep their format in
 * the new store and are not decoded here; the old applied records
 * (`{p:<partition>}:ap`, cluster `{<slot tag>}:ap:<partition>`) only matter
 * within `pendingTimeoutMs` of a crash and are not carried over.
 */

/** Short key codes of the entity fields, as the old store wrote them into every entity key. */
export const LEGACY_FIELD_CODES: Readonly<Record<EventField, string>> = {
  event_id: 'eid',
  user_id: 'u',
  event_type: 'type',
  ip_address: 'ip',
  device_id: 'dev',
  location_city: 'city',
  amount: 'amt',
};

export type LegacySection =
  | {
      readonly featureId: string;
      readonly kind: 'series';
      /** Sorted by time, ties in arrival order. */
      readonly times: number[];
      /** Per entry: 0 for `count`, the amount for `sum`, the value for `distinct` (a number when the field is `amount`). */
      readonly values: (string | number)[];
    }
  | {
      readonly featureId: string;
      readonly kind: 'latest';
      /** Event time of the latest known value (the greatest time among the entity's events carrying the field). */
      readonly time: number;
      /** A number when the field is `amount`, else the string. */
      readonly value: string | number;
    };

export interface LegacyEntity {
  readonly entity: EventField;
  readonly value: string;
  /**
   * Greatest time in the sections (series entries and latest-value times);
   * `undefined` when no feature has state. Can be older than the newest event
   * MemoryFeatureStore saw for the entity: an event taking part in no feature
   * (filtered type, field absent) left no trace in the old layout.
   */
  readonly newest: number | undefined;
  /** One per feature of the group that has state, in definition order; features without state are absent. */
  readonly sections: readonly LegacySection[];
}

/** One entity group of the old layout: its field, key code, layout hash and features in definition order. */
export interface LegacyEntityGroup {
  readonly entity: EventField;
  readonly code: string;
  readonly layout: string;
  readonly features: readonly { readonly definition: FeatureDefinition; readonly id: string }[];
}

/** The old store's feature id: first 8 hex digits of sha1 of the definition's JSON (kept by the new store). */
export function legacyFeatureId(definition: FeatureDefinition): string {
  const { name, entity, aggregate, field, eventTypes, windowMs } = definition;
  return createHash('sha1')
    .update(JSON.stringify([name, entity, aggregate, field ?? null, eventTypes ?? null, windowMs]))
    .digest('hex')
    .slice(0, 8);
}

/**
 * The groups the old store built from these definitions: one per entity field,
 * in order of first appearance, features in definition order. Their entity
 * keys match `<prefix>{<code>:*}:e<layout>` (for SCAN).
 */
export function legacyEntityGroups(definitions: readonly FeatureDefinition[]): LegacyEntityGroup[] {
  const byEntity = new Map<EventField, { definition: FeatureDefinition; id: string }[]>();
  for (const definition of definitions) {
    // The legacy layouts predate declared fields: their entities are SPEC §1 fields.
    const entity = definition.entity as EventField;
    let features = byEntity.get(entity);
    if (features === undefined) byEntity.set(entity, (features = []));
    features.push({ definition, id: legacyFeatureId(definition) });
  }
  return [...byEntity].map(([entity, features]) => ({
    entity,
    code: LEGACY_FIELD_CODES[entity],
    layout: createHash('sha1')
      .update(features.map((f) => f.id).join(','))
      .digest('hex')
      .slice(0, 6),
    features,
  }));
}

const CODES = new Set(Object.values(LEGACY_FIELD_CODES));
const LAYOUT = /^[0-9a-f]{6}$/;

/**
 * Splits an old entity key `<prefix>{<code>:<value>}:e<layout>`; `undefined`
 * for any other key (partition keys, new-layout keys, another prefix). The
 * value is everything between the first ':' after '{' and the last '}:e'.
 */
export function parseLegacyEntityKey(key: string, keyPrefix: string): { code: string; value: string; layout: string } | undefined {
  if (!key.startsWith(`${keyPrefix}{`)) return undefined;
  const open = keyPrefix.length + 1;
  const colon = key.indexOf(':', open);
  const close = key.lastIndexOf('}:e');
  if (colon === -1 || close < colon) return undefined;
  const code = key.slice(open, colon);
  const layout = key.slice(close + 3);
  if (!CODES.has(code) || !LAYOUT.test(layout)) return undefined;
  return { code, value: key.slice(colon + 1, close), layout };
}

/**
 * Decodes one old entity key and its value (the raw bytes of GET). Returns
 * `undefined`, without throwing, when the key is not an old entity key or its
 * layout is not one these definitions produce (state of other definitions,
 * which the old store never read either). Throws a non-retriable
 * `LEGACY_STATE_CORRUPT` when the layout matches but the bytes do not fit it.
 *
 * Series entries at or before their section's horizon (its newest entry minus
 * the window and `settings.allowedLatenessMs`) are dropped: MemoryFeatureStore
 * treats them as trimmed. The old store trimmed them on every read, so none
 * are expected. Entries older than the horizon of the entity's newest event
 * (the newest across sections) are kept, as in both stores: a section's
 * entries age only when that section gets a newer entry.
 */
export function decodeLegacyEntity(
  key: string,
  value: Buffer,
  definitions: readonly FeatureDefinition[],
  settings: StateSettings,
  keyPrefix: string,
): LegacyEntity | undefined {
  const parsed = parseLegacyEntityKey(key, keyPrefix);
  if (parsed === undefined) return undefined;
  const group = legacyEntityGroups(definitions).find((g) => g.code === parsed.code && g.layout === parsed.layout);
  if (group === undefined) return undefined;
  const corrupt = (what: string): RiskEngineError =>
    new RiskEngineError('LEGACY_STATE_CORRUPT', `old entity key ${key}: ${what}`, false, { key, bytes: value.length });

  const k = group.features.length;
  if (value.length < 4 * k) throw corrupt(`${value.length} bytes, shorter than the header of ${k} lengths`);
  const lengths = Array.from({ length: k }, (_, i) => value.readUInt32LE(4 * i));
  const total = 4 * k + lengths.reduce((a, b) => a + b, 0);
  if (total !== value.length) throw corrupt(`header announces ${total} bytes, value has ${value.length}`);

  const sections: LegacySection[] = [];
  let newest: number | undefined;
  let pos = 4 * k;
  group.features.forEach(({ definition, id }, i) => {
    const start = pos;
    const end = pos + lengths[i];
    pos = end;
    if (end === start) return;
    const numeric = definition.field === 'amount';
    const name = definition.name;
    let section: LegacySection;
    switch (definition.aggregate) {
      case 'changed': {
        if (end - start < 8) throw corrupt(`changed section of ${name} has ${end - start} bytes`);
        const text = value.toString('utf8', start + 8, end);
        section = { featureId: id, kind: 'latest', time: value.readDoubleLE(start), value: numeric ? Number(text) : text };
        break;
      }
      case 'distinct': {
        const times: number[] = [];
        const values: (string | number)[] = [];
        for (let p = start; p < end;) {
          if (p + 10 > end) throw corrupt(`distinct section of ${name} ends inside an entry`);
          const length = value.readUInt16LE(p + 8);
          if (p + 10 + length > end) throw corrupt(`distinct section of ${name} ends inside a value`);
          const text = value.toString('utf8', p + 10, p + 10 + length);
          times.push(value.readDoubleLE(p));
          values.push(numeric ? Number(text) : text);
          p += 10 + length;
        }
        section = horizonTrimmed(id, times, values, definition, settings);
        break;
      }
      default: {
        const sum = definition.aggregate === 'sum';
        const width = sum ? 16 : 8;
        if ((end - start) % width !== 0) throw corrupt(`${definition.aggregate} section of ${name} has ${end - start} bytes`);
        const times: number[] = [];
        const values: number[] = [];
        for (let p = start; p < end; p += width) {
          times.push(value.readDoubleLE(p));
          values.push(sum ? value.readDoubleLE(p + 8) : 0);
        }
        section = horizonTrimmed(id, times, values, definition, settings);
      }
    }
    if (section.kind === 'series') {
      for (let j = 1; j < section.times.length; j++) {
        if (!(section.times[j - 1] <= section.times[j])) throw corrupt(`series of ${name} not sorted by time`);
      }
    }
    const last = section.kind === 'latest' ? section.time : section.times[section.times.length - 1];
    if (last !== undefined && (newest === undefined || last > newest)) newest = last;
    sections.push(section);
  });
  return { entity: group.entity, value: parsed.value, newest, sections };
}

/** The series without its entries at or before (its newest − window − lateness), which MemoryFeatureStore counts as trimmed. */
function horizonTrimmed(
  featureId: string,
  times: number[],
  values: (string | number)[],
  definition: FeatureDefinition,
  settings: StateSettings,
): LegacySection {
  const horizon = times[times.length - 1] - definition.windowMs - settings.allowedLatenessMs;
  let first = 0;
  while (first < times.length && times[first] <= horizon) first++;
  return first === 0
    ? { featureId, kind: 'series', times, values }
    : { featureId, kind: 'series', times: times.slice(first), values: values.slice(first) };
}
