import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { knownFacts, loadFeatureFile, loadRuleFiles, type BacktestReport } from '@risk/domain';
import { RuleAdministration } from '@risk/domain/rules/lifecycle';
import { loadConfig } from '@risk/infra/config/engine-config';
import { openRuleSetStore } from '@risk/infra/wiring/open-rule-set-store';
import { runCli } from '../support/cli';
import { TestRedisServer } from '../support/redis-server';

/** `risk-engine backtest --store redis://…`: versions written to a real Redis through the admin classes, under a key prefix. */
describe('risk-engine backtest with versions stored in Redis', () => {
  const dir = mkdtempSync(join(tmpdir(), 'risk-backtest-redis-'));
  const shipped = join(process.cwd(), 'rules');
  const input = join(dir, 'events.ndjson');
  let server: TestRedisServer;

  before(async () => {
    server = await TestRedisServer.start();
    const T0 = Date.UTC(2026, 10, 20, 10);
    writeFileSync(
      input,
      [0, 10, 20, 30, 40, 50]
        .map((m, i) =>
          JSON.stringify({
            event_id: `a${i + 1}`,
            user_id: 'u-1',
            event_type: 'login',
            event_time: new Date(T0 + m * 60_000).toISOString(),
          }),
        )
        .join('\n'),
    );
    const opened = await openRuleSetStore({
      redis: loadConfig({ REDIS_URL: server.url, REDIS_KEY_PREFIX: 'bt:' }).redis,
      dataDir: dir,
      redisReadyTimeoutMs: 5_000,
    });
    const features = loadFeatureFile(shipped);
    const admin = new RuleAdministration(opened.store, features);
    await admin.seed(loadRuleFiles(shipped, knownFacts(features)));
    const rule = JSON.parse(readFileSync(join(shipped, 'login-burst.json'), 'utf8')) as Record<string, unknown>;
    await admin.replaceRule('login-burst', JSON.parse(JSON.stringify(rule).replace('"value":5', '"value":3')), 1, 'tester');
    await opened.close();
  });
  after(async () => {
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads both versions from the store and compares them', async () => {
    const reportPath = join(dir, 'report.json');
    const run = await runCli([
      'backtest',
      '--input',
      input,
      '--baseline',
      'v1',
      '--candidate',
      'v2',
      '--store',
      server.url,
      '--key-prefix',
      'bt:',
      '--report',
      reportPath,
    ]);
    assert.equal(run.status, 0, run.stderr);
    const report = JSON.parse(readFileSync(reportPath, 'utf8')) as BacktestReport;
    assert.deepEqual([report.baseline.source, report.candidate.source], ['version 1', 'version 2']);
    const burst = report.rules.find((r) => r.id === 'login-burst')!;
    assert.deepEqual([burst.baseline.hits, burst.candidate.hits], [1, 3]);
  });

  it('says which version is missing under another prefix, and exits 2', async () => {
    const run = await runCli([
      'backtest',
      '--input',
      input,
      '--baseline',
      '1',
      '--candidate',
      '2',
      '--store',
      server.url,
      '--key-prefix',
      'other:',
    ]);
    assert.equal(run.status, 2);
    assert.match(run.stderr, /--baseline: version 1 is not in the rule set store/);
  });
});
