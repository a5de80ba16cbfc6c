import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TEST_MAX_EVENT_TIME_SKEW_MS, TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import { LOGIN_COUNT_FEATURES as features, loginCountRule as rule } from '@test/support/login-count-rules';
import { MemoryFeatureStore } from '../features/memory-feature.store';
import { RuleSetHolder } from '../rules/rule-set-holder';
import type { Alert, RiskLevel, Verdict } from '../verdicts/verdict';
import { AlertPublisher, RejectSink, VerdictSink, type RejectedMessage } from './ports';
import { RiskPipeline, type InboundMessage } from './risk-pipeline';

class Verdicts extends VerdictSink {
  written: Verdict[] = [];
  failNext = false;
  write(verdicts: readonly Verdict[]): Promise<void> {
    if (this.failNext) {
      this.failNext = false;
      return Promise.reject(new Error('sink down'));
    }
    this.written.push(...verdicts);
    return Promise.resolve();
  }
}
class Alerts extends AlertPublisher {
  published: Alert[] = [];
  publish(alerts: readonly Alert[]): Promise<void> {
    this.published.push(...alerts);
    return Promise.resolve();
  }
}
class Rejects extends RejectSink {
  kept: RejectedMessage[] = [];
  reject(messages: readonly RejectedMessage[]): Promise<void> {
    this.kept.push(...messages);
    return Promise.resolve();
  }
}

const login = (id: string, minute: number): InboundMessage => ({
  value: JSON.stringify({ event_id: id, user_id: 'u', event_type: 'login', event_time: Date.UTC(2026, 10, 20, 10, minute) }),
  source: { topic: 'user-events', partition: 0, offset: String(minute) },
});

/** The instance's clock in these tests: half an hour after the events of `login`. */
const CLOCK = Date.UTC(2026, 10, 20, 10, 30);
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

function setup(threshold: RiskLevel, options: { now?: () => number; eventTimeReference?: () => number } = {}) {
  const sinks = { verdicts: new Verdicts(), alerts: new Alerts(), rejects: new Rejects() };
  const rules = new RuleSetHolder({ version: 3, rules: [rule('medium', 'MEDIUM', 2), rule('high', 'HIGH', 3)] });
  const pipeline = new RiskPipeline(new MemoryFeatureStore(features, TEST_STATE_SETTINGS), rules, sinks, {
    alertThreshold: threshold,
    maxEventTimeSkewMs: TEST_MAX_EVENT_TIME_SKEW_MS,
    now: options.now ?? (() => CLOCK),
    eventTimeReference: options.eventTimeReference,
  });
  return { sinks, rules, pipeline };
}

const loginAt = (id: string, eventTime: number | string, user = 'u'): InboundMessage => ({
  value: JSON.stringify({ event_id: id, user_id: user, event_type: 'login', event_time: eventTime }),
  source: { topic: 'user-events', partition: 0, offset: id },
});

describe('RiskPipeline', () => {
  it('alerts at or above the threshold only, with alert_id = event_id (SPEC §6)', async () => {
    const medium = setup('MEDIUM');
    await medium.pipeline.process('p', [login('a', 0), login('b', 1), login('c', 2)]);
    assert.deepEqual(
      medium.sinks.verdicts.written.map((v) => v.risk_level),
      ['LOW', 'MEDIUM', 'HIGH'],
    );
    assert.deepEqual(
      medium.sinks.alerts.published.map((a) => [a.alert_id, a.risk_level]),
      [
        ['b', 'MEDIUM'],
        ['c', 'HIGH'],
      ],
    );
    const high = setup('HIGH');
    await high.pipeline.process('p', [login('a', 0), login('b', 1), login('c', 2)]);
    assert.deepEqual(
      high.sinks.alerts.published.map((a) => a.alert_id),
      ['c'],
    );
  });

  it('keeps each rejected message with its original bytes, reasons and source, and decides the rest', async () => {
    const { sinks, pipeline } = setup('MEDIUM');
    const raw = Buffer.from('{"event_id":"x","user_id":"u","event_type":"login"}');
    const batch = await pipeline.process('p', [
      login('a', 0),
      { value: raw, key: 'u', source: { topic: 'user-events', partition: 0, offset: '9' } },
    ]);
    assert.deepEqual(
      batch.outcomes.map((o) => o.kind),
      ['accepted', 'rejected'],
    );
    assert.equal(sinks.rejects.kept.length, 1);
    const kept = sinks.rejects.kept[0];
    assert.equal(kept.raw, raw, 'the very bytes received');
    assert.equal(kept.key, 'u');
    assert.deepEqual(kept.source, { topic: 'user-events', partition: 0, offset: '9' });
    assert.deepEqual(kept.errors, [{ path: 'event_time', message: 'is required' }]);
    assert.deepEqual(batch.counts, { accepted: 1, late: 0, duplicate: 0, rejected: 1, rejectedByReason: { invalid: 1 } });
  });

  it('lets a failed delivery be retried without deciding again (state changes once)', async () => {
    const { sinks, pipeline } = setup('MEDIUM');
    const decided = await pipeline.decide('p', [login('a', 0), login('b', 1)]);
    sinks.verdicts.failNext = true;
    await assert.rejects(pipeline.deliver(decided), /sink down/);
    await pipeline.deliver(decided);
    assert.deepEqual(
      sinks.verdicts.written.map((v) => [v.event_id, v.features.login_count_1h]),
      [
        ['a', 1],
        ['b', 2],
      ],
    );
  });

  it('decides a whole batch with the rule set current when it started', async () => {
    const { rules, pipeline } = setup('MEDIUM');
    const pending = pipeline.decide('p', [login('a', 0), login('b', 1)]);
    rules.activate({ version: 4, rules: [] });
    const batch = await pending;
    assert.deepEqual(
      batch.verdicts.map((v) => v.rules_version),
      [3, 3],
    );
    const next = await pipeline.decide('p', [login('c', 2)]);
    assert.equal(next.verdicts[0].rules_version, 4);
    assert.deepEqual(next.verdicts[0].rules, []);
  });

  it('uses an event the edge already validated instead of decoding it again', async () => {
    const { sinks, pipeline } = setup('MEDIUM');
    const event = {
      event_id: 'pre',
      user_id: 'u',
      event_type: 'login',
      event_time: Date.UTC(2026, 10, 20, 10),
      ip_address: undefined,
      device_id: undefined,
      location_city: undefined,
      amount: undefined,
    };
    await pipeline.process('p', [{ value: 'not parsed again', source: {}, event }]);
    assert.equal(sinks.verdicts.written[0].event_id, 'pre');
    assert.equal(sinks.rejects.kept.length, 0);
  });

  describe('future-dated events (MAX_EVENT_TIME_SKEW, default 5m)', () => {
    it('rejects an event dated days or millennia ahead of the clock, with its reason, and it moves no watermark', async () => {
      const { sinks, pipeline } = setup('MEDIUM');
      const batch = await pipeline.process('p', [
        login('a', 0),
        loginAt('two-days', CLOCK + 2 * DAY),
        loginAt('far', 8.64e15), // year 275760, the last epoch millisecond
        login('b', 5),
      ]);
      assert.deepEqual(
        batch.outcomes.map((o) => o.kind),
        ['accepted', 'rejected', 'rejected', 'accepted'],
        'b, five minutes after a, is not late',
      );
      assert.deepEqual(batch.counts, { accepted: 2, late: 0, duplicate: 0, rejected: 2, rejectedByReason: { event_time_ahead: 2 } });
      assert.deepEqual(
        sinks.verdicts.written.map((v) => [v.event_id, v.late, v.features.login_count_1h]),
        [
          ['a', false, 1],
          ['b', false, 2],
        ],
        'the rejected events changed no state',
      );
      assert.deepEqual(
        sinks.rejects.kept.map((r) => [r.source.offset, r.errors[0].path]),
        [
          ['two-days', 'event_time'],
          ['far', 'event_time'],
        ],
      );
      assert.equal(
        sinks.rejects.kept[0].errors[0].message,
        "is 2026-11-22T10:30:00.000Z, more than 5m after the engine's clock (2026-11-20T10:30:00.000Z); future-dated events are rejected (MAX_EVENT_TIME_SKEW)",
      );
      assert.equal(sinks.rejects.kept[0].raw, loginAt('two-days', CLOCK + 2 * DAY).value as string, 'kept with its original text');
    });

    it('accepts up to the skew ahead, inclusive, and checks events the edge already validated too', async () => {
      const { pipeline } = setup('MEDIUM');
      const edge = { ...login('x', 0), event: undefined };
      const preValidated: InboundMessage = {
        value: 'not parsed again',
        source: {},
        event: {
          event_id: 'pre',
          user_id: 'u',
          event_type: 'login',
          event_time: CLOCK + DAY,
          ip_address: undefined,
          device_id: undefined,
          location_city: undefined,
          amount: undefined,
        },
      };
      const batch = await pipeline.process('p', [
        edge,
        loginAt('at-limit', CLOCK + 5 * MINUTE),
        loginAt('past-limit', new Date(CLOCK + 5 * MINUTE + 1).toISOString()),
        preValidated,
      ]);
      assert.deepEqual(
        batch.outcomes.map((o) => o.kind),
        ['accepted', 'accepted', 'rejected', 'rejected'],
      );
    });

    it('reads the clock for every batch (a fake clock moving forward)', async () => {
      let clock = CLOCK;
      const { pipeline } = setup('MEDIUM', { now: () => clock });
      const early = await pipeline.process('p', [loginAt('soon', CLOCK + 10 * MINUTE)]);
      assert.equal(early.outcomes[0].kind, 'rejected');
      clock += 6 * MINUTE;
      const later = await pipeline.process('p', [loginAt('soon', CLOCK + 10 * MINUTE)]);
      assert.equal(later.outcomes[0].kind, 'accepted', 'the same event, once the clock caught up');
    });

    it('keeps an accepted event_id a duplicate after a far-future attempt (the dedup sweep is not moved)', async () => {
      const { pipeline } = setup('MEDIUM');
      await pipeline.process('p', [login('first', 0), loginAt('attack', CLOCK + 400 * DAY)]);
      // Enough accepted events for the in-memory store to sweep its dedup memory (every 8192).
      const fillers = Array.from({ length: 9000 }, (_, i) => loginAt(`filler-${i}`, CLOCK - MINUTE, `filler-${i}`));
      await pipeline.process('p', fillers);
      const again = await pipeline.process('p', [login('first', 0)]);
      assert.deepEqual(again.outcomes, [{ kind: 'duplicate', event_id: 'first' }]);
    });

    it('validate() names the same reason before any state changes (HTTP answers 400 with it)', async () => {
      const { sinks, pipeline } = setup('MEDIUM');
      const result = pipeline.validate(loginAt('v', CLOCK + DAY).value);
      assert.ok(!result.ok);
      assert.equal(result.reason, 'event_time_ahead');
      assert.match(result.errors[0].message, /more than 5m after the engine's clock/);
      const invalid = pipeline.validate('{}');
      assert.ok(!invalid.ok);
      assert.equal(invalid.reason, 'invalid');
      assert.ok(pipeline.validate(login('ok', 0).value).ok);
      assert.equal(sinks.rejects.kept.length, 0, 'validate keeps nothing: the edge reports');
    });

    it('judges against a fixed reference time when one is given (replay --now), decided_at still from the clock', async () => {
      const { sinks, pipeline } = setup('MEDIUM', { eventTimeReference: () => Date.UTC(2026, 10, 20, 10, 2) });
      const batch = await pipeline.process('p', [login('a', 0), login('b', 30)]);
      assert.deepEqual(
        batch.outcomes.map((o) => o.kind),
        ['accepted', 'rejected'],
      );
      assert.equal(sinks.verdicts.written[0].decided_at, '2026-11-20T10:30:00.000Z');
    });
  });
});
