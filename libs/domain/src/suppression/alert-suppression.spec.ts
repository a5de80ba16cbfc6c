import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { TEST_MAX_EVENT_TIME_SKEW_MS, TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import { LOGIN_COUNT_FEATURES as features } from '@test/support/login-count-rules';
import { MemoryFeatureStore } from '../features/memory-feature.store';
import { AlertPublisher, RejectSink, VerdictSink } from '../pipeline/ports';
import { RiskPipeline, type InboundMessage } from '../pipeline/risk-pipeline';
import type { RuleCooldown, RuleDefinition } from '../rules/rule';
import { RuleSetHolder } from '../rules/rule-set-holder';
import { knownFacts } from '../rules/rule-files';
import { validateRule } from '../rules/rule-validator';
import type { Alert, RiskLevel, Verdict } from '../verdicts/verdict';
import { AlertSuppressor } from './alert-suppressor';
import { MemoryCooldownStore } from './memory-cooldown.store';
import { SnoozeBook, type Snooze } from './snooze';

function rule(id: string, level: RiskLevel, minAmount: number, cooldown?: RuleCooldown): RuleDefinition {
  return {
    id,
    name: id,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'amount', operator: 'greaterThan', value: minAmount }] },
    event: { type: 'risk', params: { risk_level: level, score: 50, reason: id } },
    ...(cooldown === undefined ? {} : { cooldown }),
  };
}

class Verdicts extends VerdictSink {
  written: Verdict[] = [];
  write(verdicts: readonly Verdict[]): Promise<void> {
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
  reject(): Promise<void> {
    return Promise.resolve();
  }
}

const T0 = Date.UTC(2026, 10, 20, 10, 0);
const MINUTE = 60_000;
const CLOCK = T0 + 24 * 60 * MINUTE;

function payment(id: string, minute: number, extra: Record<string, unknown> = {}): InboundMessage {
  return {
    value: JSON.stringify({ event_id: id, user_id: 'u', event_type: 'payment', event_time: T0 + minute * MINUTE, amount: 500, ...extra }),
    source: { topic: 'user-events', partition: 0, offset: id },
    messageId: `user-events/0/${id}`,
  };
}

function setup(rules: RuleDefinition[], options: { snoozes?: SnoozeBook; now?: number } = {}) {
  const sinks = { verdicts: new Verdicts(), alerts: new Alerts(), rejects: new Rejects() };
  const pipeline = new RiskPipeline(
    new MemoryFeatureStore(features, TEST_STATE_SETTINGS),
    new RuleSetHolder({ version: 1, rules }),
    sinks,
    {
      alertThreshold: 'MEDIUM',
      maxEventTimeSkewMs: TEST_MAX_EVENT_TIME_SKEW_MS,
      now: () => options.now ?? CLOCK,
      suppressor: new AlertSuppressor(new MemoryCooldownStore(), options.snoozes),
    },
  );
  /** Decides one event per batch; answers which were alerted (true) or suppressed (the kind). */
  const run = async (...messages: InboundMessage[]): Promise<(true | string)[]> => {
    const out: (true | string)[] = [];
    for (const message of messages) {
      const batch = await pipeline.process('p', [message]);
      const outcome = batch.outcomes[0];
      assert.ok(outcome.kind === 'accepted' || outcome.kind === 'late');
      out.push(outcome.alert !== undefined ? true : (outcome.verdict.suppression?.kind ?? 'no alert'));
    }
    return out;
  };
  return { sinks, pipeline, run };
}

const COOLDOWN_30M: RuleCooldown = { key: 'user_id', duration: '30m' };

describe('alert suppression: cooldowns (docs/suppression.md)', () => {
  it('alerts once per entity per cooldown of event time: [start, start + duration), per user', async () => {
    const { run, sinks } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M)]);
    const other = payment('o-1', 10, { user_id: 'u-2' });
    assert.deepEqual(await run(payment('p-1', 0), payment('p-2', 10), other, payment('p-3', 30), payment('p-4', 35)), [
      true,
      'cooldown',
      true,
      true,
      'cooldown',
    ]);
    assert.deepEqual(
      sinks.alerts.published.map((a) => a.alert_id),
      ['p-1', 'o-1', 'p-3'],
    );
    // Suppressed verdicts are still written, with the contract's shape and order.
    assert.equal(sinks.verdicts.written.length, 5);
    const suppressed = sinks.verdicts.written.find((v) => v.event_id === 'p-2')!;
    assert.deepEqual(Object.keys(suppressed).slice(-4), ['rules_version', 'suppressed', 'suppression', 'decided_at']);
    assert.equal(suppressed.suppressed, true);
    assert.equal(suppressed.risk_level, 'HIGH');
    assert.deepEqual(
      { ...suppressed.suppression, reason: undefined },
      {
        kind: 'cooldown',
        reason: undefined,
        rule_id: 'big',
        entity: 'user_id:u',
        until: '2026-11-20T10:30:00.000Z',
      },
    );
    assert.match(suppressed.suppression!.reason, /rule big already alerted for user_id:u at 2026-11-20T10:00:00.000Z \(event p-1\)/);
    const ordinary = sinks.verdicts.written.find((v) => v.event_id === 'p-1')!;
    assert.equal('suppressed' in ordinary, false);
    assert.equal('suppression' in ordinary, false);
  });

  it('counts suppressed verdicts by kind in the batch', async () => {
    const { pipeline } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M)]);
    const batch = await pipeline.process('p', [payment('p-1', 0), payment('p-2', 1), payment('p-3', 2)]);
    assert.deepEqual(batch.counts.suppressedByKind, { cooldown: 2 });
    assert.deepEqual(
      batch.alerts.map((a) => a.alert_id),
      ['p-1'],
    );
    assert.equal(batch.verdicts.filter((v) => v.suppressed === true).length, 2);
  });

  it('a suppressed alert does not restart the cooldown', async () => {
    const { run } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M)]);
    assert.deepEqual(await run(payment('p-1', 0), payment('p-2', 20), payment('p-3', 35)), [true, 'cooldown', true]);
  });

  it('judges events arriving out of order by the cooldown start at or before their event time', async () => {
    const { run } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M)]);
    // p-0 (09:50) arrives after p-1 (10:00): no alert at or before 09:50, so it alerts and starts its own cooldown,
    // which holds back p-00 (09:55); p-1's cooldown still holds back p-2 (10:25); p-3 (10:40) alerts; p-4 (10:10),
    // arriving last, is still held back by p-1's.
    assert.deepEqual(
      await run(payment('p-1', 0), payment('p-0', -10), payment('p-00', -5), payment('p-2', 25), payment('p-3', 40), payment('p-4', 10)),
      [true, true, 'cooldown', 'cooldown', true, 'cooldown'],
    );
  });

  it('a redelivered batch decided again gets the same suppression outcomes', async () => {
    const { pipeline } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M)]);
    // p-3 starts a second cooldown in the same batch: deciding again must still judge p-2 by p-1's.
    const batch = [payment('p-1', 0), payment('p-2', 5), payment('p-3', 40), payment('p-4', 45)];
    const first = await pipeline.decide('p', batch);
    const again = await pipeline.decide('p', batch);
    const summary = (d: typeof first) => d.verdicts.map((v) => [v.event_id, v.suppressed === true, v.suppression?.reason ?? null]);
    assert.deepEqual(summary(again), summary(first));
    assert.deepEqual(
      again.alerts.map((a) => a.alert_id),
      ['p-1', 'p-3'],
    );
    assert.deepEqual(
      first.alerts.map((a) => a.alert_id),
      ['p-1', 'p-3'],
    );
  });

  it('an alert goes out when any alerting rule is not held back, and it starts the cooldowns of the others', async () => {
    const { run } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M), rule('huge', 'HIGH', 1000)]);
    // p-1 fires both: alerts (huge has no cooldown) and starts big's cooldown; p-2 fires big only.
    assert.deepEqual(await run(payment('p-1', 0, { amount: 5000 }), payment('p-2', 5), payment('p-3', 6, { amount: 5000 })), [
      true,
      'cooldown',
      true,
    ]);
  });

  it('rules below the alert threshold do not count; shadow rules never alert', async () => {
    const shadow = { ...rule('shadow-big', 'HIGH', 100), mode: 'shadow' as const };
    const { run } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M), rule('low', 'LOW', 0), shadow]);
    assert.deepEqual(await run(payment('p-1', 0), payment('p-2', 5)), [true, 'cooldown']);
  });

  it('an event without the cooldown key is not held back by the cooldown', async () => {
    const { run } = setup([rule('big', 'HIGH', 100, { key: 'ip_address', duration: '30m' })]);
    assert.deepEqual(
      await run(payment('p-1', 0, { ip_address: '10.0.0.1' }), payment('p-2', 1, { ip_address: '10.0.0.1' }), payment('p-3', 2)),
      [true, 'cooldown', true],
    );
  });
});

function snooze(partial: Partial<Snooze>): Snooze {
  return {
    id: 'sz-1',
    key: 'ip_address',
    value: '10.0.0.1',
    rule_id: null,
    reason: 'known office NAT',
    created_by: 'analyst',
    created_at: new Date(CLOCK - 60 * MINUTE).toISOString(),
    expires_at: new Date(CLOCK + 60 * MINUTE).toISOString(),
    ...partial,
  };
}

describe('alert suppression: snoozes (docs/suppression.md)', () => {
  const office = { ip_address: '10.0.0.1' };

  it("a snooze of every rule holds back the entity's alerts, and names no rule", async () => {
    const book = new SnoozeBook();
    book.replace([snooze({})]);
    const { run, sinks } = setup([rule('big', 'HIGH', 100)], { snoozes: book });
    assert.deepEqual(await run(payment('p-1', 0, office), payment('p-2', 1, { ip_address: '10.0.0.2' })), ['snooze', true]);
    const held = sinks.verdicts.written[0];
    assert.equal(held.suppression?.rule_id, null);
    assert.equal(held.suppression?.entity, 'ip_address:10.0.0.1');
    assert.equal(held.suppression?.until, new Date(CLOCK + 60 * MINUTE).toISOString());
    assert.match(held.suppression?.reason ?? '', /snoozed for ip_address:10.0.0.1 by analyst .*known office NAT/);
  });

  it('a snooze of one rule holds back that rule only', async () => {
    const book = new SnoozeBook();
    book.replace([snooze({ rule_id: 'big' })]);
    const { run, sinks } = setup([rule('big', 'HIGH', 100), rule('huge', 'HIGH', 1000)], { snoozes: book });
    assert.deepEqual(await run(payment('p-1', 0, office), payment('p-2', 1, { ...office, amount: 5000 })), ['snooze', true]);
    assert.equal(sinks.verdicts.written[0].suppression?.rule_id, 'big');
  });

  it('runs on the wall clock: an expired snooze holds nothing back', async () => {
    const book = new SnoozeBook();
    book.replace([snooze({ expires_at: new Date(CLOCK - 1).toISOString() })]);
    const { run } = setup([rule('big', 'HIGH', 100)], { snoozes: book });
    assert.deepEqual(await run(payment('p-1', 0, office)), [true]);
  });

  it('a snoozed rule starts no cooldown; one snoozed and one on cooldown hold the alert back together', async () => {
    const book = new SnoozeBook();
    book.replace([snooze({ rule_id: 'huge' })]);
    const { run, sinks } = setup([rule('big', 'HIGH', 100, COOLDOWN_30M), rule('huge', 'HIGH', 1000, COOLDOWN_30M)], { snoozes: book });
    assert.deepEqual(
      await run(payment('p-1', 0, office), payment('p-2', 1, { ...office, amount: 5000 }), payment('p-3', 2, { amount: 5000 })),
      [true, 'cooldown', true],
    );
    // p-2: big on cooldown, huge snoozed: suppressed, described by the first rule (big); p-3 has no IP: huge alerts.
    assert.match(sinks.verdicts.written[1].suppression!.reason, /rule big already alerted.*; rule huge snoozed/);
  });
});

describe('MemoryCooldownStore', () => {
  it('keeps at most maxEntries cooldowns, forgetting the oldest started first', async () => {
    const store = new MemoryCooldownStore({ maxEntries: 3 });
    const claim = (value: string, eventTime: number) => ({
      ruleId: 'r',
      field: 'user_id',
      value,
      eventId: `e-${value}`,
      eventTime,
      durationMs: 1e9,
    });
    await store.claim([claim('a', 1), claim('b', 2), claim('c', 3), claim('d', 4)]);
    assert.equal(store.size, 3);
    // "a" was forgotten: a new claim for it starts again; "d" is still running.
    const [a, d] = await store.claim([
      { ...claim('a', 5), eventId: 'x' },
      { ...claim('d', 5), eventId: 'y' },
    ]);
    assert.equal(a.running, false);
    assert.equal(d.running, true);
  });

  it('drops cooldowns once the newest event time is past their end plus the lateness', async () => {
    const store = new MemoryCooldownStore({ latenessMs: 10 });
    const claims = Array.from({ length: 1100 }, (_, i) => ({
      ruleId: 'r',
      field: 'user_id',
      value: `u-${i}`,
      eventId: `e-${i}`,
      eventTime: i * 100,
      durationMs: 50,
    }));
    await store.claim(claims);
    assert.ok(store.size < 10, `kept ${store.size}`);
  });
});

describe('rule cooldown validation', () => {
  const facts = knownFacts(features, [{ name: 'merchant_id', type: 'string' } as never, { name: 'basket', type: 'number' } as never]);
  const base = rule('big', 'HIGH', 100);

  it('accepts a SPEC string field or a declared string field as the key, and durations from 1s to 30d', () => {
    assert.deepEqual(validateRule({ ...base, cooldown: { key: 'user_id', duration: '30m' } }, facts), []);
    assert.deepEqual(validateRule({ ...base, cooldown: { key: 'merchant_id', duration: '1s' } }, facts), []);
    assert.deepEqual(validateRule({ ...base, cooldown: { key: 'ip_address', duration: '30d' } }, facts), []);
  });

  it('names each bad property by its path', () => {
    const paths = (cooldown: unknown) => validateRule({ ...base, cooldown }, facts).map((e) => e.path);
    assert.deepEqual(paths('30m'), ['cooldown']);
    assert.deepEqual(paths({ key: 'login_count_1h', duration: '30m' }), ['cooldown.key']);
    assert.deepEqual(paths({ key: 'basket', duration: '30m' }), ['cooldown.key']);
    assert.deepEqual(paths({ key: 'amount', duration: '30m' }), ['cooldown.key']);
    assert.deepEqual(paths({ key: 'user_id', duration: '31d' }), ['cooldown.duration']);
    assert.deepEqual(paths({ key: 'user_id', duration: '500ms' }), ['cooldown.duration']);
    assert.deepEqual(paths({ key: 'user_id', duration: 'soon' }), ['cooldown.duration']);
    assert.deepEqual(paths({ key: 'user_id', duration: 1800000 }), ['cooldown.duration']);
    assert.deepEqual(paths({ key: 'user_id', duration: '30m', per: 'x' }), ['cooldown.per']);
  });
});

describe('MemoryCooldownStore starts per rule and entity', () => {
  it('keeps only the starts within the cooldown, the lateness and an hour of the newest', async () => {
    const store = new MemoryCooldownStore({ latenessMs: 10 * MINUTE });
    const at = (i: number, minute: number) => ({
      ruleId: 'r',
      field: 'user_id',
      value: 'u',
      eventId: `e-${i}`,
      eventTime: T0 + minute * MINUTE,
      durationMs: 30 * MINUTE,
    });
    // Alerts every 30 minutes for 10 hours: each starts a cooldown.
    const answers = await store.claim(Array.from({ length: 20 }, (_, i) => at(i, i * 30)));
    assert.ok(answers.every((a) => !a.running));
    // A late event 5 hours back is judged with what is still held: no start covers it any more, so it alerts.
    assert.deepEqual(await store.claim([at(100, 5 * 60 + 5)]), [{ running: false }]);
    // One just behind the newest start is still held back by it.
    assert.deepEqual(await store.claim([at(101, 19 * 30 + 5)]), [{ running: true, startedAt: T0 + 19 * 30 * MINUTE, startedBy: 'e-19' }]);
  });
});
