import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import { quietLogger, testConfig } from '@test/support/engine-process';

/**
 * Issue 11, defect 1: one event dated far ahead of real time used to move the
 * partition's watermark, so that an account takeover right after it was
 * decided LOW and late, and the dedup memory forgot accepted event_ids. The
 * engine now rejects events dated more than MAX_EVENT_TIME_SKEW (5m) after
 * its clock. Event times here are relative to the real clock, as in production.
 */
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const LAST_EPOCH_MS = 8.64e15; // +275760-09-13: the farthest time JSON can carry as epoch ms

describe('a future-dated event cannot blind the embedded engine (HTTP)', () => {
  const engines: RunningEngine[] = [];
  after(async () => {
    for (const engine of engines) await engine.close();
  });

  async function freshEngine(): Promise<{
    post: (events: Record<string, unknown>[]) => Promise<{ status: number; body: any }>;
    metrics: () => Promise<string>;
  }> {
    const engine = await startEngine(testConfig(), quietLogger());
    engines.push(engine);
    return {
      post: async (events) => {
        const body = events.map((e) => JSON.stringify(e)).join('\n') + '\n';
        const response = await fetch(`${engine.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body,
        });
        return { status: response.status, body: await response.json() };
      },
      metrics: async () => (await fetch(`${engine.url}/metrics`)).text(),
    };
  }

  /** The victim logs in at home, then an attacker from a new device and city 10 minutes later. */
  function accountTakeover(now: number): Record<string, unknown>[] {
    return [
      {
        event_id: 'ato-home',
        user_id: 'victim',
        event_type: 'login',
        event_time: new Date(now - 20 * MINUTE).toISOString(),
        device_id: 'd-home',
        location_city: 'Paris',
      },
      {
        event_id: 'ato-attacker',
        user_id: 'victim',
        event_type: 'login',
        event_time: now - 10 * MINUTE,
        device_id: 'd-evil',
        location_city: 'Lagos',
      },
    ];
  }

  async function decide(post: (events: Record<string, unknown>[]) => Promise<{ status: number; body: any }>, now: number) {
    const answer = await post(accountTakeover(now));
    assert.equal(answer.status, 200);
    return answer.body.results.map((r: any) => [r.outcome, r.verdict.risk_level, r.verdict.score, r.verdict.late]);
  }

  it('decides the account takeover HIGH 80 and not late, with or without a future-dated event sent first', async () => {
    const now = Date.now();
    const control = await freshEngine();
    const expected = [
      ['accepted', 'LOW', 0, false],
      ['accepted', 'HIGH', 80, false],
    ];
    assert.deepEqual(await decide(control.post, now), expected, 'control run');

    const attacked = await freshEngine();
    const futures: { status: number; body: any }[] = [];
    for (const eventTime of [new Date(now + 2 * DAY).toISOString(), LAST_EPOCH_MS]) {
      futures.push(
        await attacked.post([
          {
            event_id: `future-${eventTime}`,
            user_id: 'victim',
            event_type: 'login',
            event_time: eventTime,
            device_id: 'd-x',
            location_city: 'Oslo',
          },
        ]),
      );
    }
    // Before the fix: [['late', 'LOW', 0, true], ['late', 'LOW', 0, true]].
    assert.deepEqual(await decide(attacked.post, now), expected, 'after two future-dated attempts');
    for (const future of futures) {
      assert.equal(future.status, 400, 'rejected like any invalid event');
      assert.equal(future.body.errors.length, 1);
      assert.equal(future.body.errors[0].path, 'event_time');
      assert.match(future.body.errors[0].message, /more than 5m after the engine's clock .*MAX_EVENT_TIME_SKEW/);
    }

    const metrics = await attacked.metrics();
    assert.match(metrics, /risk_engine_rejects_total\{source="http",reason="event_time_ahead"\} 2/);
  });

  it('refuses a whole body holding one future-dated line, naming that line, and applies none of it', async () => {
    const now = Date.now();
    const engine = await freshEngine();
    const [home, attacker] = accountTakeover(now);
    const mixed = await engine.post([home, { ...attacker, event_id: 'mixed-future', event_time: now + DAY }]);
    assert.equal(mixed.status, 400);
    assert.deepEqual(
      mixed.body.errors.map((e: any) => e.path),
      ['line 2: event_time'],
    );
    assert.deepEqual(await decide(engine.post, now), [
      ['accepted', 'LOW', 0, false],
      ['accepted', 'HIGH', 80, false],
    ]);
  });

  it('keeps an accepted event_id a duplicate after a far-future attempt', async () => {
    const now = Date.now();
    const engine = await freshEngine();
    const first = { event_id: 'once', user_id: 'u-dup', event_type: 'payment', event_time: now - MINUTE, amount: 100 };
    assert.equal((await engine.post([first])).body.results[0].outcome, 'accepted');
    const attempt = await engine.post([{ ...first, event_id: 'future-dup', event_time: LAST_EPOCH_MS }]);
    // Enough accepted events for the in-memory store to sweep its dedup memory (every 8192).
    const fillers = Array.from({ length: 8500 }, (_, i) => ({
      event_id: `filler-${i}`,
      user_id: `u-filler-${i % 50}`,
      event_type: 'logout',
      event_time: now - 2 * MINUTE,
    }));
    assert.equal((await engine.post(fillers)).status, 200);
    const again = await engine.post([first]);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.results[0], { line: 1, outcome: 'duplicate', event_id: 'once' });
    assert.equal(attempt.status, 400);
  });
});
