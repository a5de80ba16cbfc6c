import type { DeclaredField } from '../events/declared-fields';
import { entityFields, parseFeatureDefinitions, type FeatureDefinition } from './feature-definition';
import { featureId } from './entity-features';

/**
 * One feature as written in `rules/features.json`, stored in rule set
 * versions and exchanged by the admin API (`GET/PUT /features`). The
 * validated form is a {@link FeatureDefinition} (`parseFeatureDefinitions`).
 */
export interface FeatureDocument {
  readonly name: string;
  readonly entity: string | readonly string[];
  readonly aggregate: string;
  readonly field?: string;
  readonly event_types?: readonly string[];
  readonly where?: readonly { readonly field: string; readonly in: readonly unknown[] }[];
  readonly window?: string;
  readonly description?: string;
}

const UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/** A window in the largest unit that divides it, hours up to 72: 86400000 → `24h`, 90000 → `90s`, 1500 → `1500ms`. */
export function formatWindow(ms: number): string {
  if (ms % 3_600_000 === 0 && ms <= 72 * 3_600_000) return `${ms / 3_600_000}h`;
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** The documents of validated definitions: parsing them gives definitions with the same feature ids. */
export function featureDocuments(definitions: readonly FeatureDefinition[]): FeatureDocument[] {
  return definitions.map((d) => {
    const fields = entityFields(d.entity);
    return {
      name: d.name,
      entity: fields.length === 1 ? d.entity : fields,
      aggregate: d.aggregate,
      ...(d.field === undefined ? {} : { field: d.field }),
      ...(d.eventTypes === undefined ? {} : { event_types: [...d.eventTypes] }),
      ...(d.where === undefined ? {} : { where: d.where.map((f) => ({ field: f.field, in: [...f.values] })) }),
      ...(d.aggregate === 'changed' ? {} : { window: formatWindow(d.windowMs) }),
      ...(d.description === undefined ? {} : { description: d.description }),
    };
  });
}

/** Added, removed and changed features between two sets (by name; changed = another feature id). */
export interface FeatureSetDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Features whose definition (and so state) stays: their values continue across the change. */
  readonly unchanged: readonly string[];
}

export function diffFeatureSets(before: readonly FeatureDefinition[], after: readonly FeatureDefinition[]): FeatureSetDiff {
  const old = new Map(before.map((d) => [d.name, featureId(d)]));
  const next = new Map(after.map((d) => [d.name, featureId(d)]));
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const [name, id] of next) {
    const was = old.get(name);
    if (was === undefined) added.push(name);
    else if (was !== id) changed.push(name);
    else unchanged.push(name);
  }
  const removed = [...old.keys()].filter((name) => !next.has(name));
  return { added, removed, changed, unchanged };
}

/**
 * Turns the feature documents a rule set version pins into definitions, once
 * per distinct set: the same array comes back for the same features (by
 * feature id, in order), so a feature store told the deciding version's
 * definitions every batch reconfigures only when they really change.
 * Versions stored before features were versioned carry none: they read as
 * `defaults` (the start-up `features.json`).
 */
export class FeatureSetResolver {
  private last: { key: string; definitions: readonly FeatureDefinition[] };
  private readonly defaultsKey: string;

  constructor(
    readonly defaults: readonly FeatureDefinition[],
    private readonly fields: readonly DeclaredField[] = [],
  ) {
    this.defaultsKey = keyOf(defaults);
    this.last = { key: this.defaultsKey, definitions: defaults };
  }

  /** Throws `INVALID_FEATURES` (paths `features[i]...`) when the documents do not validate with this instance's declared fields. */
  definitionsOf(documents: readonly FeatureDocument[] | undefined): readonly FeatureDefinition[] {
    const parsed = documents === undefined ? this.defaults : parseFeatureDefinitions([...documents], this.fields);
    const key = keyOf(parsed);
    if (key === this.last.key) return this.last.definitions;
    // A rollback to the start-up set gives back the start-up array itself.
    if (key === this.defaultsKey) return (this.last = { key, definitions: this.defaults }).definitions;
    this.last = { key, definitions: parsed };
    return parsed;
  }
}

function keyOf(definitions: readonly FeatureDefinition[]): string {
  return definitions.map(featureId).join(',');
}
