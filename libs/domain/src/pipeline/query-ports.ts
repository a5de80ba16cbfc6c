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

/** Read side of the verdict store: Elasticsearch in production, memory in the embedded default. */
export abstract class VerdictQuery {
  abstract findVerdicts(filter: VerdictFilter): Promise<VerdictPage>;
  abstract getVerdict(eventId: string): Promise<Verdict | undefined>;
  abstract getProfile(userId: string): Promise<RiskProfile | undefined>;
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
