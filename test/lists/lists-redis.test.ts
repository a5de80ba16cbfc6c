import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { redisEngineFleetForSuite } from '@test/support/redis-engine-fleet';
import { call, EDITOR_KEY, VIEWER_KEY } from '../admin/admin-support';
import { listRule, loginFrom, waitForListVersion } from './lists-support';

const PREFIX = 'lists-test:';
const MILLION = 1_000_000;

/** Peak resident memory of a process (VmHWM), in MiB. */
function peakMiB(pid: number): number {
  const match = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(match![1]) / 1024;
}

/** A million distinct IPv4 addresses in 10.0.0.0/8, as NDJSON; the last ones with an expiry and a note. */
function millionNdjson(): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < MILLION; i++) {
    const address = `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
    lines.push(
      i % 100_000 === 0 ? JSON.stringify({ value: address, expires_at: '2999-01-01T00:00:00Z', note: `n${i}` }) : JSON.stringify(address),
    );
  }
  return Buffer.from(lines.join('\n') + '\n');
}

describe('lists across engine processes sharing Redis', () => {
  const { engines: fleet, start } = redisEngineFleetForSuite({ dataPrefix: 'risk-lists-', keyPrefix: PREFIX, instances: 2 });

  it('refuses a rule naming a missing list, naming the path', async () => {
    const refused = await call(fleet[0].url, 'POST', '/rules', listRule('blocked-ip', 'blocked_ips'));
    assert.equal(refused.status, 400);
    assert.deepEqual(refused.body.errors, [
      { path: 'conditions.all[0].value', message: 'unknown list "blocked_ips"; create it first (POST /lists)' },
    ]);
  });

  it('blocks on the other instance once an entry is added on one', async () => {
    const created = await call(fleet[0].url, 'POST', '/lists', { name: 'blocked_ips', kind: 'ip', description: 'chargebacks' });
    assert.equal(created.status, 201);
    assert.equal(created.body.version, 1);
    assert.equal((await call(fleet[0].url, 'POST', '/rules', listRule('blocked-ip', 'blocked_ips'))).status, 201);
    await waitForListVersion(fleet[1].url, 'blocked_ips', 1);

    const before = await call(fleet[1].url, 'POST', '/events', loginFrom('203.0.113.7'));
    assert.deepEqual(before.body.results[0].verdict.rules, []);

    const added = await call(fleet[0].url, 'POST', '/lists/blocked_ips/entries', [
      { value: '203.0.113.0/24', note: 'botnet' },
      '2001:DB8::1',
    ]);
    assert.equal(added.status, 200);
    assert.equal(added.body.version, 2);
    assert.equal(added.body.entry_count, 2);
    await waitForListVersion(fleet[1].url, 'blocked_ips', 2);
    for (const [address, fires] of [
      ['203.0.113.7', true],
      ['::ffff:203.0.113.200', true],
      ['2001:db8:0:0:0:0:0:1', true],
      ['203.0.114.1', false],
    ] as const) {
      const decided = await call(fleet[1].url, 'POST', '/events', loginFrom(address));
      assert.deepEqual(
        decided.body.results[0].verdict.rules.map((r: { id: string }) => r.id),
        fires ? ['blocked-ip'] : [],
        address,
      );
    }

    const removed = await call(fleet[1].url, 'DELETE', '/lists/blocked_ips/entries', ['203.0.113.0/24']);
    assert.equal(removed.status, 200);
    assert.equal(removed.body.version, 3);
    await waitForListVersion(fleet[0].url, 'blocked_ips', 3);
    const after = await call(fleet[0].url, 'POST', '/events', loginFrom('203.0.113.7'));
    assert.deepEqual(after.body.results[0].verdict.rules, []);
  });

  it('refuses to delete a list a rule uses (409 naming the rule), and audits every change', async () => {
    const refused = await call(fleet[1].url, 'DELETE', '/lists/blocked_ips');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'LIST_IN_USE');
    assert.match(refused.body.message, /blocked-ip/);
    const audit = await call(fleet[1].url, 'GET', '/lists/blocked_ips/audit', undefined, VIEWER_KEY);
    assert.equal(audit.status, 200);
    assert.deepEqual(
      audit.body.items.map((e: { version: number; action: string; actor: string; count: number }) => [
        e.version,
        e.action,
        e.actor,
        e.count,
      ]),
      [
        [3, 'remove', 'alice', 1],
        [2, 'add', 'alice', 2],
        [1, 'create', 'alice', 0],
      ],
    );
  });

  it('takes a bulk upload of 1,000,000 entries with bounded memory, all or nothing, and exports it', async () => {
    // A bad line anywhere: a 400 naming it, and nothing applied.
    const bad = await fetch(`${fleet[0].url}/lists/blocked_ips/entries`, {
      method: 'POST',
      headers: { 'x-api-key': EDITOR_KEY, 'content-type': 'text/csv' },
      body: 'value,expires_at,note\n198.51.100.1,,ok\n198.51.100.300,,bad\n198.51.100.2,someday,\n',
    });
    assert.equal(bad.status, 400);
    const badBody = (await bad.json()) as { errors: { path: string }[] };
    assert.deepEqual(
      badBody.errors.map((e) => e.path),
      ['line 3.value', 'line 4.expires_at'],
    );
    assert.equal((await call(fleet[0].url, 'GET', '/lists/blocked_ips')).body.version, 3);

    const pid = fleet[0].child.pid!;
    const before = peakMiB(pid);
    const upload = await fetch(`${fleet[0].url}/lists/blocked_ips/entries`, {
      method: 'POST',
      headers: { 'x-api-key': EDITOR_KEY, 'content-type': 'application/x-ndjson' },
      body: millionNdjson(),
    });
    const uploaded = (await upload.json()) as { version: number; entry_count: number };
    assert.equal(upload.status, 200, JSON.stringify(uploaded));
    assert.equal(uploaded.entry_count, MILLION + 1);
    const peak = peakMiB(pid);
    process.stdout.write(`# bulk upload of 1,000,000 entries: engine peak RSS ${before.toFixed(0)} → ${peak.toFixed(0)} MiB\n`);
    // Bounded: the body's bytes, one batch and the new matcher; never a million parsed entries held at once.
    assert.ok(peak - before < 700, `peak RSS grew by ${(peak - before).toFixed(0)} MiB`);

    await waitForListVersion(fleet[1].url, 'blocked_ips', uploaded.version);
    const decided = await call(fleet[1].url, 'POST', '/events', loginFrom('10.15.66.63'));
    assert.deepEqual(
      decided.body.results[0].verdict.rules.map((r: { id: string }) => r.id),
      ['blocked-ip'],
    );

    const exported = await fetch(`${fleet[1].url}/lists/blocked_ips/export?format=csv`, { headers: { 'x-api-key': VIEWER_KEY } });
    assert.equal(exported.status, 200);
    const text = await exported.text();
    const lines = text.split('\n').filter((l) => l !== '');
    assert.equal(lines[0], 'value,expires_at,note');
    assert.equal(lines.length, MILLION + 2);
    assert.ok(lines.includes('10.1.134.160,2999-01-01T00:00:00.000Z,n100000'));
  });

  it('keeps the lists across a restart', async () => {
    await fleet[1].stop();
    fleet[1] = await start(1);
    const list = await call(fleet[1].url, 'GET', '/lists/blocked_ips', undefined, VIEWER_KEY);
    assert.equal(list.body.entry_count, MILLION + 1);
    assert.equal(list.body.running_version, list.body.version);
    const decided = await call(fleet[1].url, 'POST', '/events', loginFrom('2001:db8::1'));
    assert.deepEqual(
      decided.body.results[0].verdict.rules.map((r: { id: string }) => r.id),
      ['blocked-ip'],
    );
  });
});
