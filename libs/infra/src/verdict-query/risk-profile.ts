import { RISK_LEVELS, type FieldError, type RiskLevel, type RiskProfile, type Verdict } from '@risk/domain';

/**
 * The per-user risk profile, as stored whole in `<prefix>-profiles` (id =
 * user_id). This file is its only update rule: the Elasticsearch sink reads a
 * profile, applies {@link applyRiskProfileUpdate} here in TypeScript, and
 * writes it back under optimistic concurrency control (docs/elasticsearch.md).
 *
 * Rules (order-independent, so concurrent writers and replays converge):
 * - an event_id already in `state.recent` is not counted again (`already-counted`);
 * - `state.recent` keeps the `maxRecent` most recent (event_time desc, event_id desc) events;
 *   when it is full, an event older than its oldest entry is ignored too (`too-old`): it may have
 *   been counted before and forgotten, and double counting a replay is worse than missing a very
 *   late event;
 * - `latest` only moves to a newer event_time (ties: the greater event_id), so a late event
 *   never overwrites a newer one;
 * - `last_seen_at[level]` is the greatest event_time per level, from which
 *   `highest_risk_24h` (window (latest − 24 h, latest]) is derived.
 */
export interface StoredRiskProfile {
  user_id: string;
  latest: { event_id: string; event_time: string; risk_level: RiskLevel; score: number };
  highest_risk_24h: RiskLevel;
  /** decided_at of the latest verdict. */
  updated_at: string;
  counts: { LOW: number; MEDIUM: number; HIGH: number; total: number };
  last_seen_at: Partial<Record<RiskLevel, string>>;
  /** Bookkeeping, never searched (mapped `enabled: false`): recent [event_id, event_time ms], newest first. */
  state: { recent: [string, number][]; latest_ms: number; last_seen_ms: Partial<Record<RiskLevel, number>> };
}

/** What one verdict contributes to its user's profile. */
export interface RiskProfileUpdate {
  readonly user_id: string;
  readonly event_id: string;
  /** UTC ISO-8601, as in the verdict. */
  readonly event_time: string;
  readonly event_time_ms: number;
  readonly risk_level: RiskLevel;
  readonly score: number;
  /** The verdict's decided_at: becomes the profile's `updated_at` when this verdict is the latest. */
  readonly decided_at: string;
}

export type RiskProfileOutcome =
  { readonly kind: 'updated'; readonly profile: StoredRiskProfile } | { readonly kind: 'already-counted' } | { readonly kind: 'too-old' };

/** Event ids remembered per profile by default. */
export const DEFAULT_PROFILE_RECENT_LIMIT = 200;

const DAY_MS = 86_400_000;

/**
 * The update a verdict makes, or the fields that make it unusable. Pipeline
 * verdicts are always valid; this guards the stored document against a
 * malformed one (the sink hands it to the reject sink instead of writing a
 * profile Elasticsearch would refuse, which would take the user's other
 * updates down with it).
 */
export function riskProfileUpdate(verdict: Verdict): RiskProfileUpdate | { readonly errors: readonly FieldError[] } {
  const errors: FieldError[] = [];
  const v = verdict as unknown as Record<string, unknown>;
  for (const name of ['user_id', 'event_id', 'event_time', 'decided_at'] as const) {
    if (typeof v[name] !== 'string' || v[name] === '') errors.push({ path: name, message: 'must be a non-empty string' });
  }
  const eventTimeMs = typeof verdict.event_time === 'string' ? Date.parse(verdict.event_time) : Number.NaN;
  if (typeof verdict.event_time === 'string' && Number.isNaN(eventTimeMs)) errors.push({ path: 'event_time', message: 'is not a time' });
  if (!RISK_LEVELS.includes(verdict.risk_level)) errors.push({ path: 'risk_level', message: `must be one of ${RISK_LEVELS.join(', ')}` });
  if (!Number.isSafeInteger(verdict.score)) errors.push({ path: 'score', message: 'must be an integer' });
  if (errors.length > 0) return { errors };
  return {
    user_id: verdict.user_id,
    event_id: verdict.event_id,
    event_time: verdict.event_time,
    event_time_ms: eventTimeMs,
    risk_level: verdict.risk_level,
    score: verdict.score,
    decided_at: verdict.decided_at,
  };
}

/**
 * Applies one verdict to a profile (`undefined`: the user has none yet). A
 * given profile is updated in place and returned in the `updated` outcome; the
 * caller owns it (e.g. freshly parsed from Elasticsearch).
 */
export function applyRiskProfileUpdate(
  profile: StoredRiskProfile | undefined,
  update: RiskProfileUpdate,
  maxRecent: number,
): RiskProfileOutcome {
  const t = update.event_time_ms;
  const id = update.event_id;
  const lvl = update.risk_level;
  if (profile === undefined) {
    const created: StoredRiskProfile = {
      user_id: update.user_id,
      latest: { event_id: id, event_time: update.event_time, risk_level: lvl, score: update.score },
      highest_risk_24h: lvl,
      updated_at: update.decided_at,
      counts: { LOW: 0, MEDIUM: 0, HIGH: 0, total: 1 },
      last_seen_at: { [lvl]: update.event_time },
      state: { recent: [[id, t]], latest_ms: t, last_seen_ms: { [lvl]: t } },
    };
    created.counts[lvl] = 1;
    return { kind: 'updated', profile: created };
  }
  const st = profile.state;
  const recent = st.recent;
  if (recent.some((r) => r[0] === id)) return { kind: 'already-counted' };
  if (recent.length >= maxRecent && t < recent[recent.length - 1][1]) return { kind: 'too-old' };
  let i = 0;
  while (i < recent.length && (recent[i][1] > t || (recent[i][1] === t && recent[i][0] > id))) i += 1;
  recent.splice(i, 0, [id, t]);
  if (recent.length > maxRecent) recent.length = maxRecent;
  profile.counts[lvl] += 1;
  profile.counts.total += 1;
  const seen = st.last_seen_ms[lvl];
  if (seen === undefined || t > seen) {
    st.last_seen_ms[lvl] = t;
    profile.last_seen_at[lvl] = update.event_time;
  }
  if (t > st.latest_ms || (t === st.latest_ms && id > profile.latest.event_id)) {
    st.latest_ms = t;
    profile.latest = { event_id: id, event_time: update.event_time, risk_level: lvl, score: update.score };
    profile.updated_at = update.decided_at;
  }
  profile.highest_risk_24h = highestWithinDay(st);
  return { kind: 'updated', profile };
}

function highestWithinDay(st: StoredRiskProfile['state']): RiskLevel {
  let hi: RiskLevel = 'LOW';
  for (const l of ['MEDIUM', 'HIGH'] as const) {
    const x = st.last_seen_ms[l];
    if (x !== undefined && x > st.latest_ms - DAY_MS) hi = l;
  }
  return hi;
}

/** The read model the query port serves. */
export function toRiskProfile(stored: StoredRiskProfile): RiskProfile {
  return {
    user_id: stored.user_id,
    latest: stored.latest,
    highest_risk_24h: stored.highest_risk_24h,
    counts: { LOW: stored.counts.LOW, MEDIUM: stored.counts.MEDIUM, HIGH: stored.counts.HIGH },
    updated_at: stored.updated_at,
  };
}
