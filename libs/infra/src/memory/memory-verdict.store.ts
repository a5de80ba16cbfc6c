import { RISK_RANK, VerdictSink, type RiskLevel, type Verdict } from '@risk/domain';
import {
  DEFAULT_PAGE_SIZE,
  MAX_PAGE_SIZE,
  VerdictQuery,
  decodeCursor,
  encodeCursor,
  type RiskProfile,
  type VerdictFilter,
  type VerdictPage,
} from '../verdict-query/verdict.query';

const DAY_MS = 86_400_000;

interface ProfileState {
  latest: Verdict;
  latestMs: number;
  counts: Record<RiskLevel, number>;
  recent: { ms: number; level: RiskLevel }[];
}

/**
 * Embedded default's verdict store: upsert by event_id (a replayed verdict
 * replaces the stored one), bounded by evicting the oldest insertions.
 */
export class MemoryVerdictStore extends VerdictSink {
  private readonly byId = new Map<string, Verdict>();
  private readonly profiles = new Map<string, ProfileState>();

  constructor(private readonly limit = 1_000_000) {
    super();
  }

  get size(): number {
    return this.byId.size;
  }

  write(verdicts: readonly Verdict[]): Promise<void> {
    for (const verdict of verdicts) {
      const previous = this.byId.get(verdict.event_id);
      if (previous === undefined && this.byId.size >= this.limit) {
        const oldest = this.byId.keys().next().value as string;
        this.byId.delete(oldest);
      }
      this.byId.set(verdict.event_id, verdict);
      if (previous === undefined) this.updateProfile(verdict);
    }
    return Promise.resolve();
  }

  readonly query: VerdictQuery = new (class extends VerdictQuery {
    constructor(private readonly store: MemoryVerdictStore) {
      super();
    }
    findVerdicts(filter: VerdictFilter): Promise<VerdictPage> {
      return Promise.resolve(this.store.find(filter));
    }
    getVerdict(eventId: string): Promise<Verdict | undefined> {
      return Promise.resolve(this.store.byId.get(eventId));
    }
    getProfile(userId: string): Promise<RiskProfile | undefined> {
      return Promise.resolve(this.store.profile(userId));
    }
  })(this);

  private find(filter: VerdictFilter): VerdictPage {
    const size = Math.min(Math.max(filter.size ?? DEFAULT_PAGE_SIZE, 1), MAX_PAGE_SIZE);
    const cursor = filter.search_after === undefined ? undefined : decodeCursor(filter.search_after);
    const matches: { ms: number; verdict: Verdict }[] = [];
    for (const verdict of this.byId.values()) {
      if (filter.user_id !== undefined && verdict.user_id !== filter.user_id) continue;
      if (filter.risk_level !== undefined && verdict.risk_level !== filter.risk_level) continue;
      if (filter.rule_id !== undefined && !verdict.rules.some((r) => r.id === filter.rule_id)) continue;
      const ms = Date.parse(verdict.event_time);
      if (filter.from !== undefined && ms < filter.from) continue;
      if (filter.to !== undefined && ms >= filter.to) continue;
      if (cursor !== undefined && (ms > cursor[0] || (ms === cursor[0] && verdict.event_id >= cursor[1]))) continue;
      matches.push({ ms, verdict });
    }
    matches.sort((a, b) => b.ms - a.ms || (a.verdict.event_id < b.verdict.event_id ? 1 : a.verdict.event_id > b.verdict.event_id ? -1 : 0));
    const page = matches.slice(0, size);
    const last = page[page.length - 1];
    return {
      items: page.map((m) => m.verdict),
      ...(matches.length > size && last !== undefined ? { next_search_after: encodeCursor(last.ms, last.verdict.event_id) } : {}),
    };
  }

  /** An older event never replaces the latest one; each event_id counts once. */
  private updateProfile(verdict: Verdict): void {
    const ms = Date.parse(verdict.event_time);
    let state = this.profiles.get(verdict.user_id);
    if (state === undefined) {
      state = { latest: verdict, latestMs: ms, counts: { LOW: 0, MEDIUM: 0, HIGH: 0 }, recent: [] };
      this.profiles.set(verdict.user_id, state);
    } else if (ms >= state.latestMs) {
      state.latest = verdict;
      state.latestMs = ms;
    }
    state.counts[verdict.risk_level]++;
    state.recent.push({ ms, level: verdict.risk_level });
    state.recent = state.recent.filter((r) => r.ms > state.latestMs - DAY_MS);
  }

  private profile(userId: string): RiskProfile | undefined {
    const state = this.profiles.get(userId);
    if (state === undefined) return undefined;
    let highest: RiskLevel = 'LOW';
    for (const r of state.recent) if (RISK_RANK[r.level] > RISK_RANK[highest]) highest = r.level;
    return {
      user_id: userId,
      latest: {
        event_id: state.latest.event_id,
        event_time: state.latest.event_time,
        risk_level: state.latest.risk_level,
        score: state.latest.score,
      },
      highest_risk_24h: highest,
      counts: { ...state.counts },
      updated_at: state.latest.decided_at,
    };
  }
}
