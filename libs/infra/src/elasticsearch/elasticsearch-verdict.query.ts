import {
  DEFAULT_PAGE_SIZE,
  InvalidInputError,
  MAX_PAGE_SIZE,
  RISK_LEVELS,
  VerdictQuery,
  decodeCursor,
  encodeCursor,
  type FieldError,
  type RiskLevel,
  type RiskProfile,
  type RuleStats,
  type RuleStatsRequest,
  type RuleStatsRow,
  type Verdict,
  type VerdictFilter,
  type VerdictPage,
} from '@risk/domain';
import { ElasticsearchClient, isMissingIndex } from './elasticsearch.client';
import { verdictIndexNames } from './elasticsearch-verdict.indices';
import {
  RULE_STATS_PAGE_SIZE,
  buildRuleStatsSearch,
  readRuleStatsPage,
  toRuleStats,
  type RuleStatsCursor,
} from './elasticsearch-rule-stats';
import { toRiskProfile, type StoredRiskProfile } from '../verdict-query/risk-profile';

/** A validated {@link VerdictFilter}; `after` is the decoded cursor [event_time ms, event_id]. */
export interface CheckedVerdictFilter {
  readonly user_id?: string;
  readonly risk_level?: RiskLevel;
  readonly rule_id?: string;
  readonly shadow_rule_id?: string;
  readonly from?: number;
  readonly to?: number;
  readonly size: number;
  readonly after?: readonly [number, string];
}

/** Refuses what Elasticsearch would answer with a 400 (InvalidInputError naming each field). */
export function checkVerdictFilter(filter: VerdictFilter): CheckedVerdictFilter {
  const errors: FieldError[] = [];
  const size = filter.size ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE)
    errors.push({ path: 'size', message: `must be an integer 1–${MAX_PAGE_SIZE}` });
  if (filter.risk_level !== undefined && !RISK_LEVELS.includes(filter.risk_level)) {
    errors.push({ path: 'risk_level', message: `must be one of ${RISK_LEVELS.join(', ')}` });
  }
  for (const name of ['from', 'to'] as const) {
    const value = filter[name];
    if (value !== undefined && !Number.isSafeInteger(value)) errors.push({ path: name, message: 'must be a time (epoch milliseconds)' });
  }
  const after = filter.search_after === undefined ? undefined : decodeCursor(filter.search_after);
  if (filter.search_after !== undefined && (after === undefined || !Number.isSafeInteger(after[0]))) {
    errors.push({ path: 'search_after', message: 'is not a cursor returned by this API' });
  }
  if (errors.length > 0) throw new InvalidInputError('INVALID_QUERY', 'invalid verdict query', errors);
  return {
    ...(filter.user_id === undefined || filter.user_id === '' ? {} : { user_id: filter.user_id }),
    ...(filter.risk_level === undefined ? {} : { risk_level: filter.risk_level }),
    ...(filter.rule_id === undefined || filter.rule_id === '' ? {} : { rule_id: filter.rule_id }),
    ...(filter.shadow_rule_id === undefined || filter.shadow_rule_id === '' ? {} : { shadow_rule_id: filter.shadow_rule_id }),
    ...(filter.from === undefined ? {} : { from: filter.from }),
    ...(filter.to === undefined ? {} : { to: filter.to }),
    size,
    ...(after === undefined ? {} : { after }),
  };
}

/** The search body of findVerdicts; exported for unit tests. */
export function buildVerdictSearch(filter: CheckedVerdictFilter): Record<string, unknown> {
  const must: Record<string, unknown>[] = [];
  if (filter.user_id !== undefined) must.push({ term: { user_id: filter.user_id } });
  if (filter.risk_level !== undefined) must.push({ term: { risk_level: filter.risk_level } });
  if (filter.rule_id !== undefined) must.push({ term: { 'rules.id': filter.rule_id } });
  if (filter.shadow_rule_id !== undefined) must.push({ term: { 'shadow_rules.id': filter.shadow_rule_id } });
  if (filter.from !== undefined || filter.to !== undefined) {
    must.push({
      range: {
        event_time: {
          ...(filter.from === undefined ? {} : { gte: filter.from }),
          ...(filter.to === undefined ? {} : { lt: filter.to }),
          format: 'epoch_millis',
        },
      },
    });
  }
  return {
    size: filter.size,
    query: must.length === 0 ? { match_all: {} } : { bool: { filter: must } },
    sort: [{ event_time: { order: 'desc' } }, { event_id: { order: 'desc' } }],
    ...(filter.after === undefined ? {} : { search_after: filter.after }),
    track_total_hits: false,
  };
}

/** Reads verdicts through the `<prefix>-verdicts` alias and profiles from `<prefix>-profiles`. */
export class ElasticsearchVerdictQuery extends VerdictQuery {
  private readonly alias: string;
  private readonly profileIndex: string;

  private readonly ruleStatsPageSize: number;

  constructor(
    private readonly client: ElasticsearchClient,
    /** `ruleStatsPageSize`: rule ids per mode per search of `ruleStats` (tests lower it to page with few ids). */
    options: { readonly ruleStatsPageSize?: number } = {},
  ) {
    super();
    this.ruleStatsPageSize = options.ruleStatsPageSize ?? RULE_STATS_PAGE_SIZE;
    const names = verdictIndexNames(client.indexPrefix);
    this.alias = names.verdictAlias;
    this.profileIndex = names.profileIndex;
  }

  override async findVerdicts(filter: VerdictFilter): Promise<VerdictPage> {
    const checked = checkVerdictFilter(filter);
    const hits = await this.searchVerdicts(buildVerdictSearch(checked));
    const items = hits.map((h) => h._source);
    const last = hits[hits.length - 1];
    if (hits.length < checked.size || last === undefined) return { items };
    // Elasticsearch returns a date sort value as epoch ms; fall back to the document if a proxy rewrote it.
    const time = typeof last.sort?.[0] === 'number' ? last.sort[0] : Date.parse(last._source.event_time);
    return { items, next_search_after: encodeCursor(time, last._source.event_id) };
  }

  override async getVerdict(eventId: string): Promise<Verdict | undefined> {
    // The alias spans monthly indices, so a GET by id cannot be used: search by the keyword instead.
    const hits = await this.searchVerdicts({ size: 1, query: { term: { event_id: eventId } } });
    return hits[0]?._source;
  }

  override async getProfile(userId: string): Promise<RiskProfile | undefined> {
    // Client errors arrive coded (ELASTICSEARCH_UNAVAILABLE, retriable, …) from the wrapper.
    const stored = await this.client.get<StoredRiskProfile>(this.profileIndex, userId);
    return stored === undefined ? undefined : toRiskProfile(stored);
  }

  /**
   * Pages through every rule id of the range (composite aggregations), one
   * search per page. Pages are separate searches: verdicts written meanwhile
   * may or may not be counted, as with any read during writes.
   */
  override async ruleStats(request: RuleStatsRequest): Promise<RuleStats> {
    const rows: RuleStatsRow[] = [];
    let cursor: RuleStatsCursor | undefined = {};
    while (cursor !== undefined) {
      let aggregations: Readonly<Record<string, unknown>> | undefined;
      try {
        aggregations = (await this.client.search<Verdict>(this.alias, buildRuleStatsSearch(request, cursor, this.ruleStatsPageSize)))
          .aggregations;
      } catch (error) {
        if (!isMissingIndex(error)) throw error;
      }
      cursor = readRuleStatsPage(aggregations, cursor, rows, this.ruleStatsPageSize);
    }
    return toRuleStats(request, rows);
  }

  private async searchVerdicts(body: Record<string, unknown>): Promise<{ _source: Verdict; sort?: readonly unknown[] }[]> {
    try {
      const response = await this.client.search<Verdict>(this.alias, body);
      return [...response.hits.hits];
    } catch (error) {
      // No verdict written yet: the alias appears with the first monthly index.
      if (isMissingIndex(error)) return [];
      throw error;
    }
  }
}
