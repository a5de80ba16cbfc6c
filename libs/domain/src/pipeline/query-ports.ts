import type { Alert, RiskLevel, Verdict } from '../verdicts/verdict';
import type { RejectedMessage } from './ports';

/*
 * The read-side ports (what `GET /verdicts`, `/profiles`, `/alerts` and
 * `/rejects` ask of the stores), beside the write-side ports in ports.ts.
 * Adapters: Elasticsearch and SQLite in libs/infra.
 */

/** Filters of `GET /verdicts`; all optional, combined with AND. */
export interface VerdictFilter {
  readonly user_id?: string;
  readonly risk_level?: RiskLevel;
  /** Verdicts where this rule fired (active rules). */
  readonly rule_id?: string;
  /** Verdicts where this shadow rule fired (`shadow_rules`). */
  readonly shadow_rule_id?: string;
  /** Inclusive lower bound on event_time (epoch ms). */
  readonly from?: number;
  /** Exclusive upper bound on event_time (epoch ms). */
  readonly to?: number;
  /** Page size, 1–1000; default 100. */
  readonly size?: number;
  /** Opaque cursor from the previous page's `next_search_after`. */
  readonly search_after?: string;
}

export interface VerdictPage {
  /** Newest event_time first; ties by event_id descending. */
  readonly items: readonly Verdict[];
  /** Present when more items may follow. */
  readonly next_search_after?: string;
}

/** Per-user summary kept next to the verdicts. */
export interface RiskProfile {
  readonly user_id: string;
  readonly latest: { readonly event_id: string; readonly event_time: string; readonly risk_level: RiskLevel; readonly score: number };
  /** Highest risk among the user's verdicts in the 24 h before the latest event. */
  readonly highest_risk_24h: RiskLevel;
  readonly counts: Readonly<Record<RiskLevel, number>>;
  readonly updated_at: string;
}

/** `GET /rules/stats`: verdicts whose event_time is in [from, to) (epoch ms). */
export interface RuleStatsRequest {
  readonly from: number;
  readonly to: number;
  /** ALERT_THRESHOLD: a verdict at or above it, not suppressed, raised an alert (SPEC §6). */
  readonly alertThreshold: RiskLevel;
}

/** One rule in one mode over the range (docs/rules.md, "Rule statistics"). */
export interface RuleStatsRow {
  readonly rule_id: string;
  readonly mode: 'active' | 'shadow';
  /** Verdicts where the rule fired. */
  readonly hits: number;
  /** Of those, verdicts at or above the alert threshold and not suppressed: an alert was published. Always 0 in shadow mode. */
  readonly alerts_raised: number;
  /** Of those, verdicts whose alert was suppressed (cooldown, snooze). Always 0 in shadow mode. */
  readonly suppressed: number;
  /** The greatest event_time (UTC ISO) among the hits. */
  readonly last_hit: string;
}

export interface RuleStats {
  readonly from: string;
  readonly to: string;
  /** Sorted by rule_id, then mode (active before shadow). */
  readonly rules: readonly RuleStatsRow[];
}

/** Read side of the verdict store: Elasticsearch in production, memory in the embedded default. */
export abstract class VerdictQuery {
  abstract findVerdicts(filter: VerdictFilter): Promise<VerdictPage>;
  abstract getVerdict(eventId: string): Promise<Verdict | undefined>;
  abstract getProfile(userId: string): Promise<RiskProfile | undefined>;
  /** Per rule and mode: hits, alerts raised, suppressed and last hit, over the verdicts stored for the range. */
  abstract ruleStats(request: RuleStatsRequest): Promise<RuleStats>;
}

/** Sorts stats rows by rule id, then active before shadow: the one order of both backends. */
export function sortRuleStats(rows: RuleStatsRow[]): RuleStatsRow[] {
  return rows.sort((a, b) => (a.rule_id < b.rule_id ? -1 : a.rule_id > b.rule_id ? 1 : a.mode < b.mode ? -1 : a.mode > b.mode ? 1 : 0));
}

/** Read side of this instance's recent alerts (`GET /alerts`), newest first. */
export abstract class RecentAlerts {
  abstract recent(limit: number): Alert[];
}

/** Read side of this instance's recent rejects (`GET /rejects`), newest first, and how many were ever kept. */
export abstract class RecentRejects {
  abstract readonly total: number;
  abstract recent(limit: number): RejectedMessage[];
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Cursor = base64url of the sort values [event_time ms, event_id]. */
export function encodeCursor(eventTimeMs: number, eventId: string): string {
  return Buffer.from(JSON.stringify([eventTimeMs, eventId]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): [number, string] | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && typeof value[0] === 'number' && typeof value[1] === 'string') {
      return [value[0], value[1]];
    }
  } catch {
    // fall through: an unreadable cursor is reported as invalid by the caller
  }
  return undefined;
}
