import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { spawnEngine, type SpawnedEngine } from '@test/support/engine-process';

function startEngine(dataDir: string, nodeArgs: string[], env: Record<string, string> = {}): SpawnedEngine {
  return spawnEngine({ DATA_DIR: dataDir, LOG_LEVEL: 'error', ...env }, { nodeArgs });
}

/** Event times two days back: well inside MAX_EVENT_TIME_SKEW, and old enough for windows to expire within the run. */
const START = Date.now() - 2 * 86_400_000;

/** `count` logins from new users, IPs and devices, 1 s apart in event time. */
function newKeys(from: number, count: number): string {
  const lines: string[] = [];
  for (let i = from; i < from + count; i++) {
    lines.push(
      JSON.stringify({
        event_id: `mem-${i}`,
        user_id: `user-${i}`,
        event_type: 'login',
        event_time: new Date(START + i * 1000).toISOString(),
        ip_address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        device_id: `device-${i}`,
        location_city: 'Paris',
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

async function post(base: string, body: string): Promise<Response> {
  return fetch(`${base}/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
}

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

describe('embedded engine under memory pressure (issue 11, defect 2)', () => {
  it('a 96 MB heap fed an ever-growing key space stays up, answers, and counts its evictions', async () => {
    // 150,000 new users, IPs and devices: about 450,000 entities, several times what 96 MB can hold.
    const engine = startEngine(mkdtempSync(join(tmpdir(), 'risk-mem-')), ['--max-old-space-size=96'], { MEMORY_BUDGET: '24mb' });
    try {
      const base = await engine.url;
      for (let from = 0; from < 150_000; from += 5000) {
        const response = await post(base, newKeys(from, 5000));
        assert.equal(response.status, 200, `batch at ${from}: ${await response.text()}`);
        await response.arrayBuffer().catch(() => undefined);
      }
      assert.equal((await fetch(`${base}/health`)).status, 200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      const evicted =
        metric(metrics, 'risk_engine_state_evictions_total', '{kind="idle"}') +
        metric(metrics, 'risk_engine_state_evictions_total', '{kind="active"}');
      assert.ok(
        evicted > 0,
        `evictions counted in /metrics:\n${metrics
          .split('\n')
          .filter((l) => l.includes('state_'))
          .join('\n')}`,
      );
      assert.ok(metric(metrics, 'risk_engine_state_estimated_bytes') <= 24 * 1024 * 1024 * 1.2);
      // The newest user is still known, with its verdict queryable.
      const verdict = await fetch(`${base}/verdicts/mem-149999`);
      assert.equal(verdict.status, 200);
    } finally {
      await engine.stop();
    }
    assert.doesNotMatch(engine.output(), /heap limit|Allocation failed/);
  });

  it('verdicts, profiles, alerts and rejects are kept under DATA_DIR and survive a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'risk-restart-'));
    const first = startEngine(dataDir, []);
    let before: { verdict: unknown; profile: unknown; alerts: unknown; rejects: { total: number } };
    try {
      const base = await first.url;
      const t = (minutes: number): string => new Date(START + minutes * 60_000).toISOString();
      const body = [
        { event_id: 'r-1', user_id: 'u-r', event_type: 'login', event_time: t(0), device_id: 'd-1', location_city: 'Paris' },
        { event_id: 'r-2', user_id: 'u-r', event_type: 'login', event_time: t(5), device_id: 'd-2', location_city: 'Rome' },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n');
      assert.equal((await post(base, body)).status, 200);
      assert.equal((await post(base, '{"event_id":"bad"}\n')).status, 400);
      before = {
        verdict: await (await fetch(`${base}/verdicts?user_id=u-r`)).json(),
        profile: await (await fetch(`${base}/profiles/u-r`)).json(),
        alerts: await (await fetch(`${base}/alerts`)).json(),
        rejects: (await (await fetch(`${base}/rejects`)).json()) as { total: number },
      };
      assert.equal((before.verdict as { items: unknown[] }).items.length, 2);
      assert.ok((before.alerts as { items: unknown[] }).items.length >= 1, 'r-2 (new device and city) raised an alert');
    } finally {
      await first.stop();
    }
    const second = startEngine(dataDir, []);
    try {
      const base = await second.url;
      assert.deepEqual(await (await fetch(`${base}/verdicts?user_id=u-r`)).json(), before.verdict);
      assert.deepEqual(await (await fetch(`${base}/profiles/u-r`)).json(), before.profile);
      assert.deepEqual(await (await fetch(`${base}/alerts`)).json(), before.alerts);
      assert.deepEqual(await (await fetch(`${base}/rejects`)).json(), before.rejects);
    } finally {
      await second.stop();
    }
  });
});
