import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { MemoryFeatureStore } from '../features/memory-feature.store';
import { parseFeatureDefinitions } from '../features/feature-definition';
import type { RuleDefinition } from '../rules/rule';
import { RuleSetHolder } from '../rules/rule-set-holder';
import type { Alert, RiskLevel, Verdict } from '../verdicts/verdict';
import { AlertPublisher, RejectSink, VerdictSink, type RejectedMessage } from './ports';
import { RiskPipeline, type InboundMessage } from './risk-pipeline';

const features = parseFeatureDefinitions({
  features: [{ name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' }],
});

function rule(id: string, level: RiskLevel, threshold: number): RuleDefinition {
  return {
    id,
    name: id,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'login_count_1h', operator: 'greaterThanInclusive', value: threshold }] },
    event: { type: 'risk', params: { risk_level: level, score: 10, reason: id } },
  };
}

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

function setup(threshold: RiskLevel) {
  const sinks = { verdicts: new Verdicts(), alerts: new Alerts(), rejects: new Rejects() };
  const rules = new RuleSetHolder({ version: 3, rules: [rule('medium', 'MEDIUM', 2), rule('high', 'HIGH', 3)] });
  const pipeline = new RiskPipeline(new MemoryFeatureStore(features), rules, sinks, { alertThreshold: threshold, now: () => 0 });
  return { sinks, rules, pipeline };
}

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
    assert.deepEqual(batch.counts, { accepted: 1, late: 0, duplicate: 0, rejected: 1 });
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
});
