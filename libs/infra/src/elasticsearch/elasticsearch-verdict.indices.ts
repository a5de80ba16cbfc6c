import type { ElasticsearchClient } from './elasticsearch.client';

/**
 * Index layout (docs/elasticsearch.md):
 * - verdicts: monthly indices `<prefix>-verdicts-YYYY.MM` (by event_time, UTC), created on first
 *   write from the `<prefix>-verdicts` index template, which also joins them to the read alias
 *   `<prefix>-verdicts`;
 * - profiles: one index `<prefix>-profiles`, created on first write from its own template.
 */
export interface VerdictIndexNames {
  readonly verdictAlias: string;
  readonly verdictTemplate: string;
  readonly verdictPattern: string;
  readonly profileIndex: string;
  readonly profileTemplate: string;
}

export function verdictIndexNames(prefix: string): VerdictIndexNames {
  return {
    verdictAlias: `${prefix}-verdicts`,
    verdictTemplate: `${prefix}-verdicts`,
    verdictPattern: `${prefix}-verdicts-*`,
    profileIndex: `${prefix}-profiles`,
    profileTemplate: `${prefix}-profiles`,
  };
}

/** `<prefix>-verdicts-YYYY.MM` for a verdict's UTC ISO `event_time`. */
export function monthlyVerdictIndex(prefix: string, eventTime: string): string {
  // Verdict times are normalised (`YYYY-MM-DDT...Z`); anything else goes through Date.
  if (eventTime.length >= 7 && eventTime[4] === '-' && eventTime[0] !== '+' && eventTime[0] !== '-') {
    return `${prefix}-verdicts-${eventTime.slice(0, 4)}.${eventTime.slice(5, 7)}`;
  }
  const date = new Date(eventTime);
  if (Number.isNaN(date.getTime())) throw new Error(`unparseable event_time ${eventTime}`);
  return `${prefix}-verdicts-${String(date.getUTCFullYear()).padStart(4, '0')}.${String(date.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Bumped whenever a template changes; start-up replaces an older one (existing indices keep their mapping). */
export const TEMPLATE_VERSION = 2;

const keyword = { type: 'keyword' } as const;
const date = { type: 'date', format: 'strict_date_optional_time||epoch_millis' } as const;

const firedRule = {
  type: 'object',
  properties: {
    id: keyword,
    risk_level: keyword,
    score: { type: 'integer' },
    reason: { type: 'keyword', ignore_above: 1024 },
    // Holds arbitrary `value`/`fact_value` (numbers, strings, arrays): kept in _source, never indexed.
    explanation: { type: 'object', enabled: false },
  },
} as const;

/** The default features (rules/features.json) mapped explicitly; features added later map through the dynamic templates. */
const DEFAULT_FEATURE_MAPPINGS = {
  distinct_devices_1h: { type: 'integer' },
  distinct_cities_1h: { type: 'integer' },
  login_count_1h: { type: 'integer' },
  failed_login_count_1h: { type: 'integer' },
  payment_amount_24h: { type: 'double' },
  ip_registrations_10m: { type: 'integer' },
  device_distinct_users_24h: { type: 'integer' },
  device_changed: { type: 'boolean' },
  city_changed: { type: 'boolean' },
} as const;

/**
 * A suppressed verdict's `suppressed` and `suppression` (docs/suppression.md), added in template version 2.
 * Also put on the existing monthly indices at start-up: their strict mapping would refuse the fields.
 */
export const SUPPRESSION_MAPPINGS = {
  suppressed: { type: 'boolean' },
  suppression: {
    type: 'object',
    properties: {
      kind: keyword,
      reason: { type: 'keyword', ignore_above: 2048 },
      rule_id: keyword,
      entity: keyword,
      until: date,
    },
  },
} as const;

export const VERDICT_MAPPINGS = {
  dynamic: 'strict',
  // Features are data (SPEC §3): a new one must be storable without a template change. Any JSON
  // number maps to double (an integer-looking first value must not pin a later fraction to long),
  // booleans to boolean. Only `features.*` is dynamic; everything else is strict.
  dynamic_templates: [
    { feature_longs: { path_match: 'features.*', match_mapping_type: 'long', mapping: { type: 'double' } } },
    { feature_doubles: { path_match: 'features.*', match_mapping_type: 'double', mapping: { type: 'double' } } },
    { feature_booleans: { path_match: 'features.*', match_mapping_type: 'boolean', mapping: { type: 'boolean' } } },
  ],
  properties: {
    event_id: keyword,
    user_id: keyword,
    event_type: keyword,
    event_time: date,
    risk_level: keyword,
    score: { type: 'integer' },
    rules: firedRule,
    shadow_rules: firedRule,
    features: { type: 'object', dynamic: true, properties: DEFAULT_FEATURE_MAPPINGS },
    late: { type: 'boolean' },
    rules_version: { type: 'integer' },
    ...SUPPRESSION_MAPPINGS,
    decided_at: date,
  },
} as const;

const perLevel = <T>(mapping: T) => ({ type: 'object', properties: { LOW: mapping, MEDIUM: mapping, HIGH: mapping } }) as const;

export const PROFILE_MAPPINGS = {
  dynamic: 'strict',
  properties: {
    user_id: keyword,
    latest: {
      type: 'object',
      properties: { event_id: keyword, event_time: date, risk_level: keyword, score: { type: 'integer' } },
    },
    highest_risk_24h: keyword,
    updated_at: date,
    counts: {
      type: 'object',
      properties: { LOW: { type: 'long' }, MEDIUM: { type: 'long' }, HIGH: { type: 'long' }, total: { type: 'long' } },
    },
    last_seen_at: perLevel(date),
    // Bookkeeping for idempotence (recent event ids) and ordering: read back by the sink, never searched.
    state: { type: 'object', enabled: false },
  },
} as const;

export interface IndexSettings {
  readonly shards?: number;
  readonly replicas?: number;
}

export function verdictTemplate(prefix: string, settings: IndexSettings = {}): Record<string, unknown> {
  const names = verdictIndexNames(prefix);
  return {
    index_patterns: [names.verdictPattern],
    priority: 200,
    version: TEMPLATE_VERSION,
    _meta: { managed_by: 'risk-engine' },
    template: {
      settings: { number_of_shards: settings.shards ?? 1, number_of_replicas: settings.replicas ?? 1 },
      aliases: { [names.verdictAlias]: {} },
      mappings: VERDICT_MAPPINGS,
    },
  };
}

export function profileTemplate(prefix: string, settings: IndexSettings = {}): Record<string, unknown> {
  const names = verdictIndexNames(prefix);
  return {
    index_patterns: [names.profileIndex],
    priority: 200,
    version: TEMPLATE_VERSION,
    _meta: { managed_by: 'risk-engine' },
    template: {
      settings: { number_of_shards: settings.shards ?? 1, number_of_replicas: settings.replicas ?? 1 },
      mappings: PROFILE_MAPPINGS,
    },
  };
}

/**
 * Idempotent start-up setup: puts each index template when missing or older than
 * {@link TEMPLATE_VERSION}. Indices themselves are created by Elasticsearch on first
 * write, from the templates. (No stored script: profiles are updated in TypeScript,
 * see `risk-profile.ts`.)
 */
export async function ensureVerdictIndices(client: ElasticsearchClient, settings: IndexSettings = {}): Promise<{ templatesPut: string[] }> {
  const prefix = client.indexPrefix;
  const names = verdictIndexNames(prefix);
  const templatesPut: string[] = [];
  for (const [name, body] of [
    [names.verdictTemplate, verdictTemplate(prefix, settings)],
    [names.profileTemplate, profileTemplate(prefix, settings)],
  ] as const) {
    const version = await client.indexTemplateVersion(name);
    if (version === null || version === undefined || version < TEMPLATE_VERSION) {
      await client.putIndexTemplate(name, body);
      templatesPut.push(name);
      // Indices made from an older template keep their mapping: give them the fields added since (adding is allowed).
      if (name === names.verdictTemplate && version !== null)
        await client.putMapping(names.verdictPattern, { properties: SUPPRESSION_MAPPINGS });
    }
  }
  return { templatesPut };
}
