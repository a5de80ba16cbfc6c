import { strict as assert } from 'node:assert';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { knownFacts, loadFeatureFile, loadRuleFiles, type BacktestReport } from '@risk/domain';
import { RuleAdministration } from '@risk/domain/rules/lifecycle';
import { FileRuleSetStore } from '@risk/infra/rule-store/file-rule-set.store';
import { runCli } from '../support/cli';

/**
 * `risk-engine backtest` end to end through the real CLI: two rules folders,
 * two versions of a DATA_DIR rule set store written through the admin
 * classes, labels, the report file, and refused arguments (exit 2, with the reason).
 */
const dir = mkdtempSync(join(tmpdir(), 'risk-backtest-'));
const shipped = join(process.cwd(), 'rules');
const input = join(dir, 'events.ndjson');
const candidate = join(dir, 'candidate');
const dataDir = join(dir, 'data');
const T0 = Date.UTC(2026, 10, 20, 10);

/** u-1 logs in 6 times in 50 minutes (login-burst: > 5, the candidate's: > 3); u-2 twice; one duplicate, one bad line. */
function events(): string[] {
  const login = (id: string, user: string, minute: number): string =>
    JSON.stringify({ event_id: id, user_id: user, event_type: 'login', event_time: new Date(T0 + minute * 60_000).toISOString() });
  return [
    ...[0, 10, 20, 30, 40, 50].map((m, i) => login(`a${i + 1}`, 'u-1', m)),
    login('b1', 'u-2', 45),
    login('b2', 'u-2', 55),
    login('a3', 'u-1', 21),
    '{"event_id": 1}',
  ];
}

function withThreshold(folder: string, threshold: number): void {
  const path = join(folder, 'login-burst.json');
  writeFileSync(path, readFileSync(path, 'utf8').replace('"value": 5', `"value": ${threshold}`));
}

describe('risk-engine backtest', () => {
  before(async () => {
    writeFileSync(input, events().join('\n') + '\n');
    cpSync(shipped, candidate, { recursive: true });
    withThreshold(candidate, 3);
    // Versions 1 (the shipped rules) and 2 (login-burst > 3), as the engine's admin API writes them.
    const features = loadFeatureFile(shipped);
    const store = new FileRuleSetStore(dataDir);
    const admin = new RuleAdministration(store, features);
    await admin.seed(loadRuleFiles(shipped, knownFacts(features)));
    const burst = JSON.parse(readFileSync(join(candidate, 'login-burst.json'), 'utf8')) as Record<string, unknown>;
    await admin.replaceRule('login-burst', burst, 1, 'tester');
    // Version 3: the same rules, login_count_1h redefined over 20 minutes (features are versioned with the rules).
    const shippedFeatures = JSON.parse(readFileSync(join(shipped, 'features.json'), 'utf8')) as { features: Record<string, unknown>[] };
    const shorter = shippedFeatures.features.map((f) => (f.name === 'login_count_1h' ? { ...f, window: '20m' } : f));
    await admin.replaceFeatures({ features: shorter }, 2, 'tester');
    await store.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Both ways of naming the same two versions give the same comparison. */
  function assertBurstComparison(report: BacktestReport): void {
    assert.deepEqual(report.input, { accepted: 8, late: 0, duplicates: 1, rejected: 1 });
    assert.equal(report.evaluated, 8);
    const burst = report.rules.find((r) => r.id === 'login-burst')!;
    // Baseline fires at u-1's 6th login (a6); the candidate at the 4th, 5th and 6th (a4, a5, a6).
    assert.deepEqual([burst.baseline.hits, burst.candidate.hits, burst.gained, burst.lost], [1, 3, 2, 0]);
    assert.deepEqual(report.risk_levels.matrix.LOW, { LOW: 5, MEDIUM: 2, HIGH: 0 });
    assert.equal(report.alerts.added, 2);
    assert.equal(report.alerts.removed, 0);
    assert.deepEqual(report.alerts.top_users_by_added, [{ user_id: 'u-1', added: 2 }]);
  }

  it('compares two rules folders: a table on stdout, the summary on stderr, the JSON report', async () => {
    const reportPath = join(dir, 'folders.json');
    const run = await runCli(['backtest', '--input', input, '--baseline', shipped, '--candidate', candidate, '--report', reportPath]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /backtest: 10 lines; accepted 8 \(of which late 0\), duplicates 1, rejected 1/);
    assert.match(run.stdout, /^ {2}login-burst +active +1 +active +3 +\+2 +2 +0$/m);
    assert.match(run.stdout, /alerts: baseline 1 .*candidate 3 .*added 2, removed 0/);
    assert.match(run.stdout, /^ {2}u-1 +2$/m);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BacktestReport;
    assert.equal(report.candidate.source, candidate);
    assertBurstComparison(report);
  });

  it('compares two stored versions of a DATA_DIR store, with labels', async () => {
    const labels = join(dir, 'labels.ndjson');
    writeFileSync(
      labels,
      [
        '{"event_id":"a4","fraud":true}',
        '{"event_id":"a5","fraud":false}',
        '{"event_id":"a6","fraud":true}',
        '{"event_id":"zz","fraud":true}',
      ].join('\n'),
    );
    const reportPath = join(dir, 'stored.json');
    const run = await runCli([
      'backtest',
      '--input',
      input,
      '--baseline',
      'version 1',
      '--candidate',
      '2',
      '--data-dir',
      dataDir,
      '--labels',
      labels,
      '--report',
      reportPath,
    ]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /baseline version 1 against candidate version 2/);
    assert.match(
      run.stdout,
      /labels: 4 event ids \(0 labelled more than once, 1 not among the decided events\); 2 fraud, 1 legit, 5 unlabelled/,
    );
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BacktestReport;
    assert.deepEqual([report.baseline.rules_version, report.candidate.rules_version], [1, 2]);
    assertBurstComparison(report);
    const burst = report.rules.find((r) => r.id === 'login-burst')!;
    // Baseline: a6 (fraud) only. Candidate: a4 (fraud), a5 (legit), a6 (fraud).
    assert.deepEqual([burst.baseline.precision, burst.baseline.recall], [1, 0.5]);
    assert.deepEqual([burst.candidate.precision, burst.candidate.recall], [2 / 3, 1]);
    assert.equal(report.labels?.unknown_event_ids, 1);
  });

  it('gives each stored version the features it pins: one computed once for both, one redefined computed apart', async () => {
    const reportPath = join(dir, 'features.json');
    const run = await runCli([
      'backtest',
      '--input',
      input,
      '--baseline',
      '2',
      '--candidate',
      '3',
      '--data-dir',
      dataDir,
      '--report',
      reportPath,
    ]);
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BacktestReport;
    // Version 2 counts u-1's logins over 1 h (a4, a5, a6 are above 3); version 3 over 20 min, never more than 2.
    const burst = report.rules.find((r) => r.id === 'login-burst')!;
    assert.deepEqual([burst.baseline.hits, burst.candidate.hits, burst.gained, burst.lost], [3, 0, 0, 3]);
    assert.equal(report.alerts.removed, 3);
  });

  it("reads a folder's lists/ for its inList conditions, as replay does", async () => {
    const withList = join(dir, 'with-list');
    cpSync(shipped, withList, { recursive: true });
    mkdirSync(join(withList, 'lists'));
    writeFileSync(join(withList, 'lists', 'blocked.ip.csv'), '10.9.9.0/24\n');
    writeFileSync(
      join(withList, 'blocked-ip.json'),
      JSON.stringify({
        id: 'blocked-ip',
        name: 'Blocked IP range',
        enabled: true,
        mode: 'active',
        priority: 1,
        conditions: { all: [{ fact: 'ip_address', operator: 'inList', value: 'blocked' }] },
        event: { type: 'risk', params: { risk_level: 'HIGH', score: 90, reason: 'blocked IP range' } },
      }),
    );
    const listInput = join(dir, 'list-events.ndjson');
    const at = new Date(T0).toISOString();
    writeFileSync(
      listInput,
      [
        { event_id: 'l1', user_id: 'u-7', event_type: 'login', event_time: at, ip_address: '10.9.9.42' },
        { event_id: 'l2', user_id: 'u-8', event_type: 'login', event_time: at, ip_address: '10.1.1.1' },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const reportPath = join(dir, 'lists.json');
    const run = await runCli(['backtest', '--input', listInput, '--baseline', shipped, '--candidate', withList, '--report', reportPath]);
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BacktestReport;
    const blocked = report.rules.find((r) => r.id === 'blocked-ip')!;
    assert.deepEqual([blocked.baseline.status, blocked.candidate.status, blocked.candidate.hits], ['absent', 'active', 1]);
    assert.deepEqual(report.risk_levels.matrix.LOW, { LOW: 1, MEDIUM: 0, HIGH: 1 });
  });

  it('refuses unusable arguments with exit 2 and the reason, writing no report', async () => {
    const reportPath = join(dir, 'never.json');
    const cases: [string[], RegExp][] = [
      [['--input', input, '--baseline', shipped], /--input, --baseline and --candidate are required/],
      [['--input', input, '--baseline', '3', '--candidate', shipped], /version 3 is a stored version: give --store/],
      [['--input', input, '--baseline', '9', '--candidate', '1', '--data-dir', dataDir], /version 9 is not in the rule set store/],
      [['--input', input, '--baseline', '1', '--candidate', '2', '--data-dir', join(dir, 'nowhere')], /--data-dir .*: no such folder/],
      [['--input', input, '--baseline', '1', '--candidate', '2', '--store', 'http://x'], /--store must be a redis:\/\/ URL/],
      [['--input', input, '--baseline', join(dir, 'missing'), '--candidate', shipped], /--baseline: cannot load rules from/],
      [['--input', join(dir, 'missing.ndjson'), '--baseline', shipped, '--candidate', shipped], /cannot read input/],
      [
        ['--input', input, '--baseline', shipped, '--candidate', shipped, '--labels', join(dir, 'bad-labels.ndjson')],
        /line 2\.fraud: must be true or false/,
      ],
    ];
    const overInput = await runCli(['backtest', '--input', input, '--baseline', shipped, '--candidate', shipped, '--report', input]);
    assert.equal(overInput.status, 2);
    assert.match(overInput.stderr, /--report .* is the same file as .*: refusing to overwrite it/);
    assert.equal(readFileSync(input, 'utf8'), events().join('\n') + '\n', 'the input is untouched');
    writeFileSync(join(dir, 'bad-labels.ndjson'), '{"event_id":"a1","fraud":true}\n{"event_id":"a2","fraud":"no"}\n');
    for (const [args, reason] of cases) {
      const run = await runCli(['backtest', ...args, '--report', reportPath]);
      assert.equal(run.status, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, reason);
      assert.throws(() => readFileSync(reportPath), /ENOENT/);
    }
  });
});
