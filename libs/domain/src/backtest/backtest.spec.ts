import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseFeatureDefinitions } from '../features/feature-definition';
import type { RuleDefinition, RuleMode } from '../rules/rule';
import type { FiredRule, RiskLevel, Verdict } from '../verdicts/verdict';
import { Backtest } from './backtest';
import { BacktestComparison, type Decision } from './backtest-comparison';
import { unionOfFeatures } from './backtest-features';
import { LabelCollector } from './backtest-labels';

function rule(
  id: string,
  level: RiskLevel,
  options: { mode?: RuleMode; enabled?: boolean; fact?: string; above?: number } = {},
): RuleDefinition {
  return {
    id,
    name: id,
    enabled: options.enabled ?? true,
    mode: options.mode ?? 'active',
    priority: 1,
    conditions: { all: [{ fact: options.fact ?? 'amount', operator: 'greaterThan', value: options.above ?? 0 }] },
    event: { type: 'risk', params: { risk_level: level, score: 50, reason: id } },
  };
}

function fired(id: string, level: RiskLevel): FiredRule {
  return { id, risk_level: level, score: 50, reason: id, explanation: [] };
}

/** A decision as the comparison sees it: level, fired active and shadow rules, alert at MEDIUM and above. */
function decision(eventId: string, user: string, level: RiskLevel, active: string[], shadow: string[] = []): Decision {
  const verdict: Verdict = {
    event_id: eventId,
    user_id: user,
    event_type: 'payment',
    event_time: '2026-11-20T10:00:00.000Z',
    risk_level: level,
    score: 0,
    rules: active.map((id) => fired(id, level)),
    shadow_rules: shadow.map((id) => fired(id, 'LOW')),
    features: {},
    late: false,
    rules_version: 1,
    decided_at: '2026-11-20T10:00:00.000Z',
  };
  return { verdict, alert: level !== 'LOW' };
}

describe('BacktestComparison', () => {
  // Baseline: a (active), c (active), d (disabled). Candidate: a (active), b (active, new), c (shadow).
  const baselineRules = [rule('a', 'HIGH'), rule('c', 'MEDIUM'), rule('d', 'HIGH', { enabled: false })];
  const candidateRules = [rule('a', 'HIGH'), rule('b', 'MEDIUM'), rule('c', 'MEDIUM', { mode: 'shadow' })];
  // Five events: e1 same in both; e2 loses c (alert removed); e3 gains b (alert added, u-2);
  // e4 gains b (alert added, u-3); e5 gains b for u-2 again and keeps a.
  const stream: [Decision, Decision][] = [
    [decision('e1', 'u-1', 'HIGH', ['a']), decision('e1', 'u-1', 'HIGH', ['a'])],
    [decision('e2', 'u-1', 'MEDIUM', ['c']), decision('e2', 'u-1', 'LOW', [], ['c'])],
    [decision('e3', 'u-2', 'LOW', []), decision('e3', 'u-2', 'MEDIUM', ['b'])],
    [decision('e4', 'u-3', 'LOW', []), decision('e4', 'u-3', 'MEDIUM', ['b'])],
    [decision('e5', 'u-2', 'HIGH', ['a']), decision('e5', 'u-2', 'HIGH', ['a', 'b'])],
  ];

  function compare(labels?: LabelCollector): ReturnType<BacktestComparison['report']> {
    const comparison = new BacktestComparison(baselineRules, candidateRules, { alertThreshold: 'MEDIUM', labels: labels?.labels() });
    for (const [before, after] of stream) comparison.add(before, after);
    return comparison.report();
  }

  it('counts hits per rule in each version, with each rule status, sorted by id', () => {
    const report = compare();
    assert.equal(report.evaluated, 5);
    assert.deepEqual(
      report.rules.map((r) => [r.id, r.baseline.status, r.baseline.hits, r.candidate.status, r.candidate.hits, r.gained, r.lost]),
      [
        ['a', 'active', 2, 'active', 2, 0, 0],
        ['b', 'absent', 0, 'active', 3, 3, 0],
        ['c', 'active', 1, 'shadow', 1, 0, 0],
        ['d', 'disabled', 0, 'absent', 0, 0, 0],
      ],
    );
    assert.equal(report.rules[1].candidate.hit_rate, 3 / 5);
    assert.equal(report.rules[0].baseline.precision, undefined, 'no label figures without labels');
    assert.equal(report.labels, undefined);
  });

  it('counts risk level changes in a matrix, with the first changed verdicts as examples', () => {
    const { risk_levels } = compare();
    assert.equal(risk_levels.changed, 3);
    assert.deepEqual(risk_levels.matrix, {
      LOW: { LOW: 0, MEDIUM: 2, HIGH: 0 },
      MEDIUM: { LOW: 1, MEDIUM: 0, HIGH: 0 },
      HIGH: { LOW: 0, MEDIUM: 0, HIGH: 2 },
    });
    assert.deepEqual(
      risk_levels.examples.map((e) => [e.event_id, e.baseline, e.candidate]),
      [
        ['e2', 'MEDIUM', 'LOW'],
        ['e3', 'LOW', 'MEDIUM'],
        ['e4', 'LOW', 'MEDIUM'],
      ],
    );
  });

  it('counts alerts added and removed, and the users with the most added alerts (ties by user id)', () => {
    const { alerts } = compare();
    assert.equal(alerts.baseline.alerts, 3);
    assert.equal(alerts.candidate.alerts, 4);
    assert.equal(alerts.added, 2);
    assert.equal(alerts.removed, 1);
    assert.deepEqual(alerts.top_users_by_added, [
      { user_id: 'u-2', added: 1 },
      { user_id: 'u-3', added: 1 },
    ]);
    assert.equal(alerts.candidate.alert_rate, 4 / 5);
  });

  it('with labels: precision over labelled hits, recall over fraud events, unlabelled and unknown ids counted apart', () => {
    const labels = new LabelCollector();
    // e1, e3 fraud; e2, e5 legit; e4 unlabelled; x-9 is in no verdict; e5 labelled twice (the last counts).
    for (const [line, text] of [
      '{"event_id":"e1","fraud":true}',
      '{"event_id":"e3","fraud":true}',
      '{"event_id":"e2","fraud":false}',
      '{"event_id":"e5","fraud":true}',
      '{"event_id":"e5","fraud":false}',
      '',
      '{"event_id":"x-9","fraud":true}',
    ].entries())
      assert.deepEqual(labels.addLine(text, line + 1), []);
    const report = compare(labels);
    assert.deepEqual(report.labels, {
      labels: 5,
      duplicate_labels: 1,
      unknown_event_ids: 1,
      fraud_events: 2,
      legit_events: 2,
      unlabelled_events: 1,
    });
    const a = report.rules.find((r) => r.id === 'a')!;
    // a fires on e1 (fraud) and e5 (legit) in both versions.
    assert.deepEqual([a.baseline.fraud_hits, a.baseline.legit_hits, a.baseline.unlabelled_hits], [1, 1, 0]);
    assert.equal(a.baseline.precision, 1 / 2);
    assert.equal(a.baseline.recall, 1 / 2);
    const b = report.rules.find((r) => r.id === 'b')!;
    // b fires on e3 (fraud), e4 (unlabelled), e5 (legit) in the candidate; never in the baseline.
    assert.deepEqual([b.candidate.fraud_hits, b.candidate.legit_hits, b.candidate.unlabelled_hits], [1, 1, 1]);
    assert.equal(b.candidate.precision, 1 / 2);
    assert.equal(b.baseline.precision, null, 'no labelled hit: no precision');
    assert.equal(b.baseline.recall, 0);
    // Alerts: baseline on e1 (fraud), e2 (legit), e5 (legit); candidate on e1, e3 (fraud), e4, e5 (legit).
    assert.equal(report.alerts.baseline.precision, 1 / 3);
    assert.equal(report.alerts.baseline.recall, 1 / 2);
    assert.equal(report.alerts.candidate.precision, 2 / 3);
    assert.equal(report.alerts.candidate.recall, 1);
    assert.equal(report.alerts.candidate.unlabelled_alerts, 1);
  });
});

describe('LabelCollector', () => {
  it('names the line and property of each bad label', () => {
    const labels = new LabelCollector();
    assert.deepEqual(labels.addLine('{"event_id":"e1","fraud":"yes"}', 3), [{ path: 'line 3.fraud', message: 'must be true or false' }]);
    assert.deepEqual(labels.addLine('not json', 4), [{ path: 'line 4', message: 'is not valid JSON' }]);
    assert.equal(labels.add([1], 'labels[0]')[0].path, 'labels[0]');
    assert.equal(labels.add({ fraud: true }, 'labels[1]')[0].path, 'labels[1].event_id');
    assert.equal(labels.size, 0);
  });
});

const FEATURES = parseFeatureDefinitions([
  { name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' },
  { name: 'payment_amount_24h', entity: 'user_id', aggregate: 'sum', field: 'amount', event_types: ['payment'], window: '24h' },
]);

describe('unionOfFeatures', () => {
  it('computes a feature defined alike in both versions once, and both read the values as they are', () => {
    const union = unionOfFeatures(FEATURES, parseFeatureDefinitions([FEATURES_JSON[1], FEATURES_JSON[0]]));
    assert.equal(union.definitions.length, 2);
    const values = { login_count_1h: 3, payment_amount_24h: 10 };
    assert.equal(union.baseline(values), values);
    assert.equal(union.candidate(values), values);
  });

  it('gives a candidate feature that redefines a baseline name its own values, under its own name', () => {
    const candidate = parseFeatureDefinitions([{ ...FEATURES_JSON[0], window: '2h' }]);
    const union = unionOfFeatures(FEATURES, candidate);
    assert.deepEqual(
      union.definitions.map((d) => [d.name, d.windowMs]),
      [
        ['login_count_1h', 3_600_000],
        ['payment_amount_24h', 86_400_000],
        ['backtest_candidate_0', 7_200_000],
      ],
    );
    const values = { login_count_1h: 1, payment_amount_24h: 5, backtest_candidate_0: 4 };
    assert.deepEqual(union.candidate(values), { login_count_1h: 4 });
    assert.deepEqual(union.baseline(values), { login_count_1h: 1, payment_amount_24h: 5 }, 'the internal name stays internal');
  });
});

const FEATURES_JSON = [
  { name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' },
  { name: 'payment_amount_24h', entity: 'user_id', aggregate: 'sum', field: 'amount', event_types: ['payment'], window: '24h' },
];

describe('Backtest', () => {
  const settings = { allowedLatenessMs: 600_000, dedupRetentionMs: 86_400_000, latestValueRetentionMs: 30 * 86_400_000 };
  const T0 = Date.UTC(2026, 10, 20, 10);
  const login = (id: string, user: string, minutes: number): string =>
    JSON.stringify({ event_id: id, user_id: user, event_type: 'login', event_time: T0 + minutes * 60_000 });
  // u-1 logs in 4 times within 90 minutes; u-2 once; one duplicate, one reject.
  const lines = [
    login('e1', 'u-1', 0),
    login('e2', 'u-1', 10),
    login('e3', 'u-1', 20),
    login('e2', 'u-1', 25),
    '{"event_id":"bad"}',
    login('e4', 'u-1', 90),
    login('e5', 'u-2', 95),
  ];
  const messages = lines.map((value, i) => ({ value, source: { line: i + 1 } }));

  it('decides every accepted event with both versions on features computed once, and counts the input', async () => {
    // The candidate redefines login_count_1h over 2 h: at e4 (90 min) the baseline counts 1 login, the candidate 4.
    const candidateFeatures = parseFeatureDefinitions([{ ...FEATURES_JSON[0], window: '2h' }, FEATURES_JSON[1]]);
    const backtest = new Backtest(
      {
        baseline: {
          source: 'rules/',
          ruleSet: { version: 1, rules: [rule('many-logins', 'MEDIUM', { fact: 'login_count_1h', above: 2 })] },
          features: FEATURES,
        },
        candidate: {
          source: 'version 2',
          ruleSet: { version: 2, rules: [rule('many-logins', 'MEDIUM', { fact: 'login_count_1h', above: 2 })] },
          features: candidateFeatures,
        },
      },
      { alertThreshold: 'MEDIUM', settings, fields: [], maxEventTimeSkewMs: 300_000, eventTimeReference: () => T0 + 86_400_000 },
    );
    const rejects = [...(await backtest.decide(messages.slice(0, 4))), ...(await backtest.decide(messages.slice(4)))];
    await backtest.close();
    assert.deepEqual(
      rejects.map((r) => r.source),
      [{ line: 5 }],
    );
    const report = backtest.report();
    assert.deepEqual(report.input, { accepted: 5, late: 0, duplicates: 1, rejected: 1 });
    assert.deepEqual(report.baseline, { source: 'rules/', rules_version: 1 });
    const many = report.rules[0];
    // Baseline fires on e3 only (3 logins in 1 h); the candidate on e3 and e4 (4 logins in 2 h).
    assert.deepEqual([many.baseline.hits, many.candidate.hits, many.gained, many.lost], [1, 2, 1, 0]);
    assert.equal(report.alerts.added, 1);
    assert.deepEqual(report.alerts.top_users_by_added, [{ user_id: 'u-1', added: 1 }]);
  });

  it("applies each version's own cooldowns, on event time, as the pipeline does", async () => {
    const alertsOn = rule('login', 'MEDIUM', { fact: 'login_count_1h', above: 0 });
    const backtest = new Backtest(
      {
        baseline: { source: 'rules/', ruleSet: { version: 1, rules: [alertsOn] }, features: FEATURES },
        candidate: {
          source: 'version 2',
          ruleSet: { version: 2, rules: [{ ...alertsOn, cooldown: { key: 'user_id', duration: '1h' } }] },
          features: FEATURES,
        },
      },
      { alertThreshold: 'MEDIUM', settings, fields: [], maxEventTimeSkewMs: 300_000, eventTimeReference: () => T0 + 86_400_000 },
    );
    await backtest.decide(messages);
    await backtest.close();
    const { alerts, risk_levels } = backtest.report();
    // Five accepted logins: u-1 at 0, 10, 20 and 90 min, u-2 at 95. The candidate alerts on u-1 at 0 and 90, u-2 at 95.
    assert.deepEqual([alerts.baseline.alerts, alerts.candidate.alerts, alerts.candidate.suppressed], [5, 3, 2]);
    assert.deepEqual([alerts.added, alerts.removed], [0, 2]);
    assert.equal(risk_levels.changed, 0, 'a suppressed verdict keeps its risk level');
  });
});
