import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEngineProcess, type EngineProcess } from '@test/support/engine-process';
import { runCli } from '@test/support/cli';
import { API_KEYS, call, EDITOR_KEY, tempDir } from '../admin/admin-support';
import { listRule, loginFrom } from './lists-support';

const MAIN = join(__dirname, '..', '..', 'apps', 'engine', 'src', 'main.js');

describe('lists in the embedded engine (DATA_DIR)', () => {
  const data = tempDir('risk-lists-embedded-');
  let engine: EngineProcess;
  const env = { DATA_DIR: data.path, API_KEYS };

  before(async () => {
    engine = await startEngineProcess(MAIN, env);
  });
  after(async () => {
    await engine.stop();
    data.remove();
  });

  it('decides with a string list at once, explains the dry run, and keeps lists and versions across a restart', async () => {
    assert.equal((await call(engine.url, 'POST', '/lists', { name: 'trusted_devices', kind: 'string' })).status, 201);
    const upload = await fetch(`${engine.url}/lists/trusted_devices/entries`, {
      method: 'POST',
      headers: { 'x-api-key': EDITOR_KEY, 'content-type': 'application/x-ndjson' },
      body: '"d-trusted"\n{"value":"d-old","expires_at":"2020-01-01T00:00:00Z","note":"expired"}\n',
    });
    assert.equal(upload.status, 200);
    const rule = {
      ...listRule('untrusted-device', 'trusted_devices', 'notInList'),
      conditions: { all: [{ fact: 'device_id', operator: 'notInList', value: 'trusted_devices' }] },
    };
    // /rules/validate says what saving would: the same document naming a list that does not exist is refused at its path.
    const dangling = { ...rule, id: 'dangling', conditions: { all: [{ fact: 'device_id', operator: 'inList', value: 'nowhere' }] } };
    const judged = await call(engine.url, 'POST', '/rules/validate', dangling);
    assert.equal(judged.status, 200);
    assert.equal(judged.body.valid, false);
    assert.deepEqual(
      judged.body.errors.map((e: { path: string }) => e.path),
      ['conditions.all[0].value'],
    );
    assert.equal((await call(engine.url, 'POST', '/rules', dangling)).status, 400);
    assert.equal((await call(engine.url, 'POST', '/rules/validate', rule)).body.valid, true);
    assert.equal((await call(engine.url, 'POST', '/rules', rule)).status, 201);

    const fired = async (device: string): Promise<string[]> => {
      const decided = await call(engine.url, 'POST', '/events', { ...loginFrom('192.0.2.1'), device_id: device });
      return decided.body.results[0].verdict.rules.map((r: { id: string }) => r.id);
    };
    // The instance that took the writes decides with them at once (no wait).
    assert.deepEqual(await fired('d-trusted'), []);
    assert.deepEqual(await fired('d-old'), ['untrusted-device'], 'an expired entry no longer matches');
    assert.deepEqual(await fired('d-new'), ['untrusted-device']);

    const dry = await call(engine.url, 'POST', '/rules/evaluate', { event: { ...loginFrom('192.0.2.1'), device_id: 'd-trusted' } });
    assert.equal(dry.status, 200);
    const evaluated = dry.body.evaluated.find((r: { id: string }) => r.id === 'untrusted-device');
    assert.deepEqual(evaluated.explanation, [
      {
        path: 'conditions.all[0]',
        fact: 'device_id',
        operator: 'notInList',
        value: 'trusted_devices',
        fact_value: 'd-trusted',
        result: false,
      },
    ]);

    await engine.stop();
    engine = await startEngineProcess(MAIN, env);
    const list = await call(engine.url, 'GET', '/lists/trusted_devices');
    assert.deepEqual([list.body.version, list.body.entry_count, list.body.running_version], [2, 2, 2]);
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    assert.match(metrics, /risk_engine_list_version\{list="trusted_devices"\} 2/);
    assert.match(metrics, /risk_engine_list_entries\{list="trusted_devices"\} 2/);
    assert.deepEqual(await fired('d-trusted'), []);
    assert.deepEqual(await fired('d-new'), ['untrusted-device']);
    const exported = await fetch(`${engine.url}/lists/trusted_devices/export`, { headers: { 'x-api-key': EDITOR_KEY } });
    assert.equal(exported.headers.get('x-list-version'), '2');
    assert.deepEqual((await exported.text()).trim().split('\n').sort(), [
      '{"value":"d-old","expires_at":"2020-01-01T00:00:00.000Z","note":"expired"}',
      '{"value":"d-trusted","expires_at":null,"note":null}',
    ]);
  });

  it('answers hostile bodies with 400s naming the problem, never a 5xx', async () => {
    const post = (body: string | Buffer, type: string): Promise<Response> =>
      fetch(`${engine.url}/lists/trusted_devices/entries`, {
        method: 'POST',
        headers: { 'x-api-key': EDITOR_KEY, 'content-type': type },
        body,
      });
    const cases: Array<[string | Buffer, string, string]> = [
      ['{"value":', 'application/x-ndjson', 'line 1'],
      [Buffer.from([0x22, 0xff, 0xfe, 0x22, 0x0a]), 'application/x-ndjson', 'line 1'],
      ['"a\\u0000b"\n', 'application/x-ndjson', 'line 1.value'],
      ['"\\ud83d"\n', 'application/x-ndjson', 'line 1.value'],
      ['a,b,c,d\n', 'text/csv', 'line 1'],
      ['"unterminated\n', 'text/csv', 'line 1'],
      ['{"__proto__":{"x":1},"value":"v"}\n', 'application/x-ndjson', 'line 1.__proto__'],
      ['[1]', 'application/json', '[0]'],
      ['"x".repeat(600)', 'application/json', '$'],
    ];
    for (const [body, type, path] of cases) {
      const response = await post(body, type);
      const answer = (await response.json()) as { errors?: { path: string }[] };
      assert.equal(response.status, 400, `${type} ${String(body)}: ${JSON.stringify(answer)}`);
      assert.ok(
        answer.errors?.some((e) => e.path === path),
        `${type} ${String(body)}: ${JSON.stringify(answer)}`,
      );
    }
    assert.equal((await call(engine.url, 'GET', '/lists/trusted_devices')).body.entry_count, 2, 'nothing applied');
    assert.equal((await call(engine.url, 'POST', '/lists', { name: 'a/b', kind: 'ip' })).status, 400);
    assert.equal((await call(engine.url, 'GET', '/lists/nope')).status, 404);
  });
});

describe('replay with lists in the rules directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'risk-replay-lists-'));
  const rules = join(dir, 'rules');
  const shipped = join(process.cwd(), 'rules');
  before(() => {
    mkdirSync(join(rules, 'lists'), { recursive: true });
    for (const name of readdirSync(shipped))
      if (statSync(join(shipped, name)).isFile()) copyFileSync(join(shipped, name), join(rules, name));
    writeFileSync(join(rules, 'blocked.json'), JSON.stringify(listRule('blocked-ip', 'blocked_ips')));
    writeFileSync(
      join(rules, 'lists', 'blocked_ips.ip.csv'),
      'value,expires_at,note\n203.0.113.0/24,,botnet\n2001:db8::/32,2026-11-21T00:00:00Z,until the 21st\n',
    );
  });

  it('decides with the files, judging expiry at --now', async () => {
    const events = ['203.0.113.9', '2001:db8::7', '198.51.100.1']
      .map((ip, i) =>
        JSON.stringify({ event_id: `e-${i}`, user_id: `u-${i}`, event_type: 'login', event_time: '2026-11-20T10:00:00Z', ip_address: ip }),
      )
      .join('\n');
    const fired = async (now: string): Promise<string[][]> => {
      const run = await runCli(['replay', '--input', '-', '--output', '-', '--rules', rules, '--now', now], events);
      assert.equal(run.status, 0, run.stderr);
      return run.stdout
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { rules: { id: string }[] }).rules.map((r) => r.id));
    };
    assert.deepEqual(await fired('2026-11-20T10:00:00Z'), [['blocked-ip'], ['blocked-ip'], []]);
    assert.deepEqual(await fired('2026-11-21T00:00:00Z'), [['blocked-ip'], [], []]);
  });

  it('refuses to start when a rule names a list that has no file (exit 2)', async () => {
    writeFileSync(join(rules, 'missing.json'), JSON.stringify(listRule('missing-list', 'nowhere')));
    const run = await runCli(['replay', '--input', '-', '--output', '-', '--rules', rules], '');
    assert.equal(run.status, 2);
    assert.match(run.stderr, /missing-list: conditions\.all\[0\]\.value: unknown list "nowhere"/);
  });
});

describe('lists seeded from the rules directory', () => {
  const data = tempDir('risk-lists-seed-');
  const rules = join(data.path, 'rules');
  const shipped = join(process.cwd(), 'rules');
  let engine: EngineProcess | undefined;
  const env = { DATA_DIR: join(data.path, 'data'), RULES_DIR: rules, API_KEYS };

  before(() => {
    mkdirSync(join(rules, 'lists'), { recursive: true });
    for (const name of readdirSync(shipped))
      if (statSync(join(shipped, name)).isFile()) copyFileSync(join(shipped, name), join(rules, name));
    writeFileSync(join(rules, 'lists', 'seeded_ips.ip.ndjson'), '"192.0.2.0/24"\n{"value":"2001:db8::5","note":"seed"}\n');
  });
  after(async () => {
    await engine?.stop();
    data.remove();
  });

  it('creates a shipped list once, and does not bring it back after it was deleted', async () => {
    engine = await startEngineProcess(MAIN, env);
    const seeded = await call(engine.url, 'GET', '/lists/seeded_ips');
    assert.deepEqual([seeded.body.kind, seeded.body.entry_count, seeded.body.created_by], ['ip', 2, 'system']);
    assert.equal((await call(engine.url, 'DELETE', '/lists/seeded_ips')).status, 200);
    await engine.stop();
    engine = await startEngineProcess(MAIN, env);
    assert.equal((await call(engine.url, 'GET', '/lists/seeded_ips')).status, 404);
    const audit = await call(engine.url, 'GET', '/lists/seeded_ips/audit');
    assert.deepEqual(
      audit.body.items.map((e: { action: string; actor: string }) => [e.action, e.actor]),
      [
        ['delete', 'alice'],
        ['upload', 'system'],
        ['create', 'system'],
      ],
    );
  });
});
