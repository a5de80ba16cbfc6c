import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '@test/support/cli';
import { TestRedisServer } from '@test/support/redis-server';

/**
 * Issue 11, defect 1 in replay: a historical file with one far-future line.
 * The line goes to the rejects file with its reason; every other line is
 * decided exactly as without it, in memory and with Redis state.
 */
const dir = mkdtempSync(join(tmpdir(), 'risk-replay-skew-'));

const withoutDecidedAt = (text: string): string => text.replace(/"decided_at":"[^"]*"/g, '');
const summaryOf = (stderr: string): string => stderr.replace(/; [\d.]+ s, \d+ events\/s/, '').trim();

describe('replay: future-dated lines (MAX_EVENT_TIME_SKEW)', () => {
  let lines: string[];
  let control: { stdout: string; stderr: string };
  let redis: TestRedisServer;

  before(async () => {
    redis = await TestRedisServer.start();
    // Generated streams are dated 2026-11-20: historical for the wall clock.
    const generated = await runCli(['generate', '--events', '3000', '--seed', '5']);
    assert.equal(generated.status, 0, generated.stderr);
    lines = generated.stdout.split('\n').filter((l) => l.length > 0);
    const result = await runCli(['replay', '--input', '-', '--output', '-'], lines.join('\n') + '\n');
    assert.equal(result.status, 0, result.stderr);
    control = result;
    assert.ok(control.stdout.split('\n').length > 2900);
  });
  after(async () => redis.dispose());

  /** The control file with one line dated `eventTime` inserted as line 11: the rest follows it. */
  function withFutureLine(eventTime: string | number): string {
    const future = JSON.stringify({
      event_id: 'from-the-future',
      user_id: 'user-1',
      event_type: 'login',
      event_time: eventTime,
      device_id: 'dev-x',
    });
    return [...lines.slice(0, 10), future, ...lines.slice(10)].join('\n') + '\n';
  }

  for (const [name, eventTime] of [
    ['two days after the wall clock', () => new Date(Date.now() + 2 * 86_400_000).toISOString()],
    ['in the year 275760', () => 8.64e15],
  ] as const) {
    for (const state of ['memory', 'redis'] as const) {
      it(`rejects one line dated ${name} and decides every other line as without it (${state} state)`, async () => {
        const rejects = join(dir, `rejects-${state}-${typeof eventTime()}.ndjson`);
        const args = ['replay', '--input', '-', '--output', '-', '--rejects', rejects];
        if (state === 'redis') args.push('--state', redis.url);
        const result = await runCli(args, withFutureLine(eventTime()));
        assert.equal(result.status, 0, result.stderr);
        assert.equal(withoutDecidedAt(result.stdout), withoutDecidedAt(control.stdout), 'the same verdicts, none late because of it');
        const kept = readFileSync(rejects, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l));
        const future = kept.filter((r) => r.line === 11);
        assert.equal(future.length, 1);
        assert.equal(future[0].errors[0].path, 'event_time');
        assert.match(future[0].errors[0].message, /after the engine's clock .*MAX_EVENT_TIME_SKEW/);
        const controlRejected = Number(/rejected (\d+)/.exec(control.stderr)![1]);
        assert.match(result.stderr, new RegExp(`rejected ${controlRejected + 1};`));
      });
    }
  }

  it('judges against --now instead of the wall clock: a stream dated in 2030 replays as the same stream dated today', async () => {
    const shifted = await runCli(['generate', '--events', '3000', '--seed', '5', '--start', '2030-01-01T00:00:00Z']);
    assert.equal(shifted.status, 0, shifted.stderr);
    const byWallClock = await runCli(['replay', '--input', '-', '--output', '-'], shifted.stdout);
    assert.equal(byWallClock.stdout, '', 'every event is years ahead of the wall clock');
    const withNow = await runCli(['replay', '--input', '-', '--output', '-', '--now', '2030-01-01T01:00:00Z'], shifted.stdout);
    assert.equal(withNow.status, 0, withNow.stderr);
    assert.equal(withNow.stdout.split('\n').length, control.stdout.split('\n').length, 'one verdict per line accepted in the control run');
    assert.equal(summaryOf(withNow.stderr), summaryOf(control.stderr));

    // --now before the stream: every event is ahead of it by more than the skew, unless the skew is widened.
    const tooEarly = await runCli(['replay', '--input', '-', '--output', '-', '--now', '2029-12-31T00:00:00Z'], shifted.stdout);
    assert.equal(tooEarly.stdout, '', 'all events are more than 5m after --now');
    const skew = await runCli(
      ['replay', '--input', '-', '--output', '-', '--now', '2029-12-31T00:00:00Z', '--max-event-time-skew', '2d'],
      shifted.stdout,
    );
    assert.equal(summaryOf(skew.stderr), summaryOf(control.stderr), '--max-event-time-skew widens the bound');
  });

  it('exits 2 for an unusable --now or --max-event-time-skew', async () => {
    for (const args of [
      ['--now', '2030-01-01 00:00'],
      ['--now', 'yesterday'],
      ['--max-event-time-skew', 'soon'],
    ]) {
      const result = await runCli(['replay', '--input', '-', '--output', '-', ...args], '');
      assert.equal(result.status, 2, args.join(' '));
      assert.match(result.stderr, /usage: risk-engine replay/);
    }
  });
});
