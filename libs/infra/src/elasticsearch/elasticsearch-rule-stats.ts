import {
  RISK_LEVELS,
  RISK_RANK,
  formatEventTime,
  sortRuleStats,
  type RuleStats,
  type RuleStatsRequest,
  type RuleStatsRow,
} from '@risk/domain';

/**
 * Rule ids per mode in one page of the composite aggregation. A rule set holds
 * at most 1000 rules, so a range usually fits in one search; a range spanning
 * many versions pages on, however many ids it holds.
 */
export const RULE_STATS_PAGE_SIZE = 1000;

type Mode = 'active' | 'shadow';

interface RuleBucket {
  readonly key: { readonly rule_id: string };
  readonly doc_count: number;
  readonly alerts?: { readonly doc_count: number };
  readonly suppressed?: { readonly doc_count: number };
  readonly last_hit: { readonly value: number | null };
}

interface ModePage {
  readonly buckets: readonly RuleBucket[];
  readonly after_key?: { readonly rule_id: string };
}

type StatsAggregations = Partial<Record<Mode, ModePage>>;

/** Where each mode's paging stands: `undefined` before the first page, `null` once done. */
export type RuleStatsCursor = Partial<Record<Mode, { readonly rule_id: string } | null>>;

/**
 * One page of the statistics, no documents: a composite aggregation on
 * `rules.id` and one on `shadow_rules.id` (keywords; `rules` is an object
 * array, so a verdict counts once in each of its rules' buckets) with, per
 * active rule, the verdicts that raised an alert (level at or above the
 * threshold, not suppressed) and those suppressed, and per rule the latest
 * event_time. Shadow rules raise no alert: their buckets count hits only. A
 * mode whose paging is done (`cursor[mode] === null`) is left out.
 */
export function buildRuleStatsSearch(
  { from, to, alertThreshold }: RuleStatsRequest,
  cursor: RuleStatsCursor = {},
  pageSize = RULE_STATS_PAGE_SIZE,
): Record<string, unknown> {
  const alerting = RISK_LEVELS.filter((level) => RISK_RANK[level] >= RISK_RANK[alertThreshold]);
  const lastHit = { max: { field: 'event_time' } };
  const composite = (field: string, after: { readonly rule_id: string } | undefined) => ({
    size: pageSize,
    sources: [{ rule_id: { terms: { field } } }],
    ...(after === undefined ? {} : { after }),
  });
  const aggs: Record<string, unknown> = {};
  if (cursor.active !== null) {
    aggs.active = {
      composite: composite('rules.id', cursor.active),
      aggs: {
        alerts: { filter: { bool: { filter: [{ terms: { risk_level: alerting } }], must_not: [{ term: { suppressed: true } }] } } },
        suppressed: { filter: { term: { suppressed: true } } },
        last_hit: lastHit,
      },
    };
  }
  if (cursor.shadow !== null) aggs.shadow = { composite: composite('shadow_rules.id', cursor.shadow), aggs: { last_hit: lastHit } };
  return {
    size: 0,
    track_total_hits: false,
    query: { bool: { filter: [{ range: { event_time: { gte: from, lt: to, format: 'epoch_millis' } } }] } },
    aggs,
  };
}

/**
 * Adds one page's rows to `rows` and returns the cursor of the next page, or
 * undefined when every mode is done. A mode is done when its page came back
 * short or without an `after_key` (a missing index answers no aggregation).
 */
export function readRuleStatsPage(
  aggregations: Readonly<Record<string, unknown>> | undefined,
  cursor: RuleStatsCursor,
  rows: RuleStatsRow[],
  pageSize = RULE_STATS_PAGE_SIZE,
): RuleStatsCursor | undefined {
  const aggs = (aggregations ?? {}) as StatsAggregations;
  const next: RuleStatsCursor = {};
  let more = false;
  for (const mode of ['active', 'shadow'] as const) {
    if (cursor[mode] === null) {
      next[mode] = null;
      continue;
    }
    const page = aggs[mode];
    for (const bucket of page?.buckets ?? []) rows.push(row(bucket, mode));
    const after = page !== undefined && page.buckets.length >= pageSize ? page.after_key : undefined;
    next[mode] = after ?? null;
    if (after !== undefined) more = true;
  }
  return more ? next : undefined;
}

/** The rows gathered over every page, in the shape the SQLite store gives too. */
export function toRuleStats(request: RuleStatsRequest, rows: RuleStatsRow[]): RuleStats {
  return { from: formatEventTime(request.from), to: formatEventTime(request.to), rules: sortRuleStats(rows) };
}

function row(bucket: RuleBucket, mode: Mode): RuleStatsRow {
  return {
    rule_id: bucket.key.rule_id,
    mode,
    hits: bucket.doc_count,
    alerts_raised: bucket.alerts?.doc_count ?? 0,
    suppressed: bucket.suppressed?.doc_count ?? 0,
    // Every bucket holds at least one verdict, each with an event_time.
    last_hit: formatEventTime(bucket.last_hit.value ?? 0),
  };
}
