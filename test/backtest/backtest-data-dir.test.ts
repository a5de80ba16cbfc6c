import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { knownFacts, loadFeatureFile, loadRuleFiles } from '@risk/domain';
import { RuleAdministration } from '@risk/domain/rules/lifecycle';
import { FileListStore } from '@risk/infra/list-store/file-list.store';
import { FileRuleSetStore } from '@risk/infra/rule-store/file-rule-set.store';
import { runCli } from '../support/cli';

/**
 * `backtest --data-dir` reads a live engine's DATA_DIR: it must leave the
 * engine's files alone, in particular a list the engine is deleting (renamed
 * to `lists/.deleted-<name>-<hex>`, then removed by the engine).
 */
const dir = mkdtempSync(join(tmpdir(), 'risk-backtest-data-dir-'));
const shipped = join(process.cwd(), 'rules');
const dataDir = join(dir, 'data');
const input = join(dir, 'events.ndjson');
const doomed = join(dataDir, 'lists', '.deleted-old-ips-0a1b2c3d');

describe('risk-engine backtest --data-dir reads the engine’s files and removes none of them', () => {
  before(async () => {
    const at = (minute: number): string => new Date(Date.UTC(2026, 10, 20, 10, minute)).toISOString();
    writeFileSync(
      input,
      [0, 10, 20].map((m, i) => JSON.stringify({ event_id: `e${i}`, user_id: 'u-1', event_type: 'login', event_time: at(m) })).join('\n') +
        '\n',
    );
    const features = loadFeatureFile(shipped);
    const store = new FileRuleSetStore(dataDir);
    await new RuleAdministration(store, features).seed(loadRuleFiles(shipped, knownFacts(features)));
    await store.close();
    // A list the engine keeps, and one it is in the middle of deleting.
    const lists = new FileListStore(dataDir);
    await lists.create({ name: 'vip_users', kind: 'string', description: 'kept' }, 'tester');
    await lists.close();
    mkdirSync(doomed, { recursive: true });
    writeFileSync(join(doomed, 'list.json'), '{}\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('leaves a .deleted-* folder it did not create, and reads the stored version', async () => {
    const before = readdirSync(join(dataDir, 'lists')).sort();
    const run = await runCli(['backtest', '--input', input, '--baseline', '1', '--candidate', '1', '--data-dir', dataDir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /baseline version 1 against candidate version 1/);
    assert.ok(existsSync(join(doomed, 'list.json')), 'the engine’s folder under deletion is still there');
    assert.deepEqual(readdirSync(join(dataDir, 'lists')).sort(), before);
    assert.equal(readFileSync(join(doomed, 'list.json'), 'utf8'), '{}\n');
  });

  it('the owner (the engine) still removes a leftover .deleted-* folder when it loads', async () => {
    const owner = new FileListStore(dataDir);
    assert.deepEqual(
      (await owner.summaries()).map((s) => s.name),
      ['vip_users'],
    );
    await owner.close();
    assert.equal(existsSync(doomed), false);
  });
});
