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
 * Buckets per rule id: a rule set holds at most 1000 rules, and a range
 * spanning a few versions stays far below this. Ids beyond it are left out
 * (the terms aggregation keeps the most frequent).
 */
export const MAX_STATS_RULES = 10_000;

interface RuleBucket {
  readonly key: string;
  readonly doc_count: number;
  readonly alerts?: { readonly doc_count: number };
  readonly suppressed?: { readonly doc_count: number };
  readonly last_hit: { readonly value: number | null };
}

interface StatsAggregations {
  readonly active?: { readonly buckets: readonly RuleBucket[] };
  readonly shadow?: { readonly buckets: readonly RuleBucket[] };
}

/**
 * One search, no documents: terms on `rules.id` and `shadow_rules.id`
 * (keywords; `rules` is an object array, so a verdict counts once in each of
 * its rules' buckets) with, per active rule, the verdicts that raised an
 * alert (level at or above the threshold, not suppressed) and those
 * suppressed, and per rule the latest event_time. Shadow rules raise no
 * alert: their buckets count hits only.
 */
export function buildRuleStatsSearch({ from, to, alertThreshold }: RuleStatsRequest): Record<string, unknown> {
  const alerting = RISK_LEVELS.filter((level) => RISK_RANK[level] >= RISK_RANK[alertThreshold]);
  const lastHit = { max: { field: 'event_time' } };
  return {
    size: 0,
    track_total_hits: false,
    query: { bool: { filter: [{ range: { event_time: { gte: from, lt: to, format: 'epoch_millis' } } }] } },
    aggs: {
      active: {
        terms: { field: 'rules.id', size: MAX_STATS_RULES },
        aggs: {
          alerts: { filter: { bool: { filter: [{ terms: { risk_level: alerting } }], must_not: [{ term: { suppressed: true } }] } } },
          suppressed: { filter: { term: { suppressed: true } } },
          last_hit: lastHit,
        },
      },
      shadow: { terms: { field: 'shadow_rules.id', size: MAX_STATS_RULES }, aggs: { last_hit: lastHit } },
    },
  };
}

/** The answer of {@link buildRuleStatsSearch}'s search, in the shape the SQLite store gives too. */
export function readRuleStats(request: RuleStatsRequest, aggregations: Readonly<Record<string, unknown>> | undefined): RuleStats {
  const aggs = (aggregations ?? {}) as StatsAggregations;
  const rows: RuleStatsRow[] = [];
  for (const bucket of aggs.active?.buckets ?? []) rows.push(row(bucket, 'active'));
  for (const bucket of aggs.shadow?.buckets ?? []) rows.push(row(bucket, 'shadow'));
  return { from: formatEventTime(request.from), to: formatEventTime(request.to), rules: sortRuleStats(rows) };
}

function row(bucket: RuleBucket, mode: 'active' | 'shadow'): RuleStatsRow {
  return {
    rule_id: bucket.key,
    mode,
    hits: bucket.doc_count,
    alerts_raised: bucket.alerts?.doc_count ?? 0,
    suppressed: bucket.suppressed?.doc_count ?? 0,
    // Every bucket holds at least one verdict, each with an event_time.
    last_hit: formatEventTime(bucket.last_hit.value ?? 0),
  };
}
