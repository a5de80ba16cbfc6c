import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { FiredRule, Verdict } from '@risk/domain';
import { openSqlite } from '@risk/infra/sqlite/sqlite.database';
import { SqliteVerdictStore } from '@risk/infra/sqlite/sqlite-verdict.store';
import { fmt, line, summarize } from './stats';

const DAY = 86_400_000;
const START = Date.parse('2026-11-01T00:00:00.000Z');
const RULES = ['device-and-city-change', 'login-burst', 'ip-registration-farm', 'big-payment', 'new-device'];

function fired(id: string): FiredRule {
  return { id, risk_level: 'HIGH', score: 80, reason: id, explanation: [] };
}

/** `n` verdicts two seconds apart (23 days for a million): one in ten fires a rule, one in seven a shadow rule. */
function verdictsAt(from: number, to: number): Verdict[] {
  const out: Verdict[] = [];
  for (let k = from; k < to; k++) {
    const rules = k % 10 === 0 ? [fired(RULES[k % 5])] : k % 37 === 0 ? [fired(RULES[0]), fired(RULES[1])] : [];
    out.push({
      event_id: `e-${k}`,
      user_id: `u-${k % 5000}`,
      event_type: 'login',
      event_time: new Date(START + k * 2000).toISOString(),
      risk_level: rules.length > 0 ? 'HIGH' : 'LOW',
      score: rules.length > 0 ? 80 : 0,
      rules,
      shadow_rules: k % 7 === 0 ? [fired('shadow-candidate')] : [],
      features: { login_count_1h: k % 9 },
      late: false,
      rules_version: 1,
      decided_at: new Date(START + k * 2000 + 5).toISOString(),
    });
  }
  return out;
}

function timed<T>(runs: number, run: () => T): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    run();
    samples.push(performance.now() - t0);
  }
  return summarize(samples).p50;
}

/**
 * Issue 14 item 3 (BENCH_ONLY=stats): `GET /rules/stats` and
 * `GET /verdicts?shadow_rule_id=` on the embedded store holding
 * BENCH_STATS_VERDICTS verdicts (default 1,000,000), each against a baseline
 * measured on the same database in the same run: the same statistics
 * computed from the stored documents (what the `rule_hits` table saves), and
 * an unfiltered page of `GET /verdicts`.
 */
export async function benchRuleStats(): Promise<void> {
  const total = Number(process.env.BENCH_STATS_VERDICTS ?? 1_000_000);
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-stats-bench-'));
  const db = openSqlite(dataDir);
  try {
    const store = new SqliteVerdictStore(db, total);
    const started = performance.now();
    for (let i = 0; i < total; i += 1000) await store.write(verdictsAt(i, Math.min(total, i + 1000)));
    const writeSeconds = (performance.now() - started) / 1000;
    const hitRows = (db.prepare('SELECT count(*) AS n FROM rule_hits').get() as { n: number }).n;
    process.stdout.write(`\nrule statistics, embedded store: ${fmt(total)} verdicts, ${fmt(hitRows)} rule hits\n`);
    line('writing them (batches of 1,000)', `${fmt(total / writeSeconds)} verdicts/s`);
    const end = START + total * 2000;
    // The same aggregation over the verdict documents themselves, for scale: what each request would cost without rule_hits.
    const fromDocuments = db.prepare(
      `SELECT json_extract(r.value, '$.id') AS rule_id, count(*) AS hits, max(v.event_time_ms) AS last_ms
       FROM verdicts v JOIN json_each(v.doc, '$.rules') r WHERE v.event_time_ms >= ? AND v.event_time_ms < ? GROUP BY 1`,
    );
    for (const [label, from, to] of [
      ['GET /rules/stats, 24 h', end - DAY, end],
      ['GET /rules/stats, whole range', START, end],
    ] as const) {
      const stats = timed(5, () => void store.query.ruleStats({ from, to, alertThreshold: 'MEDIUM' }));
      const baseline = timed(3, () => fromDocuments.all(from, to));
      line(label, `p50 ${fmt(stats, 1)} ms   from the documents ${fmt(baseline, 1)} ms: ${fmt(stats / baseline, 3)}×`);
    }
    const page = timed(20, () => void store.query.findVerdicts({ size: 100 }));
    const shadowPage = timed(20, () => void store.query.findVerdicts({ shadow_rule_id: 'shadow-candidate', size: 100 }));
    line(
      'GET /verdicts?shadow_rule_id=, 100 per page',
      `p50 ${fmt(shadowPage, 2)} ms   unfiltered page ${fmt(page, 2)} ms: ${fmt(shadowPage / page, 2)}×`,
    );
  } finally {
    db.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
