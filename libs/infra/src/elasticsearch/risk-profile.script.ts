import type { RiskLevel } from '@risk/domain';

/**
 * The per-user risk profile kept in the `<prefix>-profiles` index (id = user_id),
 * updated by a stored painless script in a scripted upsert. The script and
 * {@link applyRiskProfileUpdate} below implement the same rules and must be
 * changed together: the test server cannot run painless and executes the JS
 * twin instead when it sees the script id.
 *
 * Rules (order-independent, so concurrent bulks and replays converge):
 * - an event_id already in `state.recent` is ignored (`noop`);
 * - `state.recent` keeps the `max_recent` most recent (event_time desc, event_id desc) events;
 *   when it is full, an event older than its oldest entry is ignored too: it may have been
 *   counted before and forgotten, and double counting a replay is worse than missing a very
 *   late event (see docs/elasticsearch.md);
 * - `latest` only moves to a newer event_time (ties: the greater event_id), so a late event
 *   never overwrites a newer one;
 * - `last_seen_at[level]` is the greatest event_time per level, from which
 *   `highest_risk_24h` (window (latest − 24 h, latest]) is derived.
 */
export const RISK_PROFILE_SCRIPT_ID = 'risk-profile-update-v1';

export interface RiskProfileParams {
  readonly user_id: string;
  readonly event_id: string;
  /** UTC ISO-8601, as in the verdict. */
  readonly event_time: string;
  readonly event_time_ms: number;
  readonly risk_level: RiskLevel;
  readonly score: number;
  /** The verdict's decided_at: becomes the profile's `updated_at` when this verdict is the latest. */
  readonly decided_at: string;
  readonly max_recent: number;
}

/** What the profile document holds. `state` is not indexed (`enabled: false`). */
export interface StoredRiskProfile {
  user_id: string;
  latest: { event_id: string; event_time: string; risk_level: RiskLevel; score: number };
  highest_risk_24h: RiskLevel;
  /** decided_at of the latest verdict. */
  updated_at: string;
  counts: { LOW: number; MEDIUM: number; HIGH: number; total: number };
  last_seen_at: Partial<Record<RiskLevel, string>>;
  state: { recent: [string, number][]; latest_ms: number | null; last_seen_ms: Partial<Record<RiskLevel, number>> };
}

const DAY_MS = 86_400_000;

export const RISK_PROFILE_PAINLESS = `
def s = ctx._source;
if (s.state == null) {
  s.user_id = params.user_id;
  s.counts = ['LOW': 0, 'MEDIUM': 0, 'HIGH': 0, 'total': 0];
  s.last_seen_at = [:];
  s.state = ['recent': [], 'latest_ms': null, 'last_seen_ms': [:]];
}
def st = s.state;
def recent = st.recent;
long t = params.event_time_ms;
String id = params.event_id;
for (def r : recent) {
  if (r[0] == id) { ctx.op = 'noop'; return; }
}
int cap = params.max_recent;
if (recent.size() >= cap && t < recent[recent.size() - 1][1]) { ctx.op = 'noop'; return; }
int i = 0;
while (i < recent.size() && (recent[i][1] > t || (recent[i][1] == t && recent[i][0].compareTo(id) > 0))) { i++; }
recent.add(i, [id, t]);
while (recent.size() > cap) { recent.remove(recent.size() - 1); }
String lvl = params.risk_level;
s.counts[lvl] = s.counts[lvl] + 1;
s.counts.total = s.counts.total + 1;
def seen = st.last_seen_ms[lvl];
if (seen == null || t > seen) { st.last_seen_ms[lvl] = t; s.last_seen_at[lvl] = params.event_time; }
if (st.latest_ms == null || t > st.latest_ms || (t == st.latest_ms && id.compareTo(s.latest.event_id) > 0)) {
  st.latest_ms = t;
  s.latest = ['event_id': id, 'event_time': params.event_time, 'risk_level': lvl, 'score': params.score];
  s.updated_at = params.decided_at;
}
String hi = 'LOW';
for (String l : ['MEDIUM', 'HIGH']) {
  def x = st.last_seen_ms[l];
  if (x != null && x > st.latest_ms - ${DAY_MS}L) { hi = l; }
}
s.highest_risk_24h = hi;
`;

/** The JS twin of {@link RISK_PROFILE_PAINLESS}, with painless' `ctx` (`_source` mutated in place, `op`). */
export function applyRiskProfileUpdate(ctx: { _source: Record<string, unknown>; op: string }, params: RiskProfileParams): void {
  const s = ctx._source as unknown as StoredRiskProfile;
  if (s.state == null) {
    s.user_id = params.user_id;
    s.counts = { LOW: 0, MEDIUM: 0, HIGH: 0, total: 0 };
    s.last_seen_at = {};
    s.state = { recent: [], latest_ms: null, last_seen_ms: {} };
  }
  const st = s.state;
  const recent = st.recent;
  const t = params.event_time_ms;
  const id = params.event_id;
  if (recent.some((r) => r[0] === id)) {
    ctx.op = 'noop';
    return;
  }
  const cap = params.max_recent;
  if (recent.length >= cap && t < recent[recent.length - 1][1]) {
    ctx.op = 'noop';
    return;
  }
  let i = 0;
  while (i < recent.length && (recent[i][1] > t || (recent[i][1] === t && recent[i][0] > id))) i++;
  recent.splice(i, 0, [id, t]);
  if (recent.length > cap) recent.length = cap;
  const lvl = params.risk_level;
  s.counts[lvl] += 1;
  s.counts.total += 1;
  const seen = st.last_seen_ms[lvl];
  if (seen == null || t > seen) {
    st.last_seen_ms[lvl] = t;
    s.last_seen_at[lvl] = params.event_time;
  }
  if (st.latest_ms == null || t > st.latest_ms || (t === st.latest_ms && id > s.latest.event_id)) {
    st.latest_ms = t;
    s.latest = { event_id: id, event_time: params.event_time, risk_level: lvl, score: params.score };
    s.updated_at = params.decided_at;
  }
  let hi: RiskLevel = 'LOW';
  for (const l of ['MEDIUM', 'HIGH'] as const) {
    const x = st.last_seen_ms[l];
    if (x != null && x > st.latest_ms - DAY_MS) hi = l;
  }
  s.highest_risk_24h = hi;
}
