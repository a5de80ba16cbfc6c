import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import type { KafkaClient } from '@risk/infra/kafka/kafka.client';
import { quietLogger, testConfig } from '@test/support/engine-process';
import { TestKafkaCluster } from '@test/support/kafka-broker';
import { loginStorm, produceEvents, readTopic, testClient, waitFor } from '@test/kafka/kafka-test-kit';

const TOPICS = ['user-events', 'risk-alerts', 'user-events-dlq'];

/**
 * The service itself with KAFKA_BROKERS set, against a real Kafka broker that
 * starts with no topic at all: KAFKA_CREATE_TOPICS makes the engine create
 * them; then events in on user-events, verdicts queryable over HTTP, alerts
 * out on risk-alerts, malformed messages on the dead-letter topic.
 */
describe('engine consuming from Kafka', () => {
  let cluster: TestKafkaCluster;
  let engine: RunningEngine;
  let client: KafkaClient;

  before(async () => {
    cluster = await TestKafkaCluster.start();
    client = testClient(cluster.brokers, 'engine-e2e-test');
    engine = await startEngine(
      testConfig({ KAFKA_BROKERS: cluster.brokers.join(','), KAFKA_GROUP_ID: 'engine-e2e', KAFKA_CREATE_TOPICS: 'true' }),
      quietLogger(),
    );
  });

  it('creates its topics on the broker (KAFKA_CREATE_TOPICS)', async () => {
    for (const topic of TOPICS) {
      const offsets = await client.topicOffsets(topic);
      assert.equal(offsets.size, 3, `${topic} has the engine's 3 partitions`);
    }
  });
  after(async () => {
    await client?.close();
    await engine?.close();
    await cluster?.stop();
  });

  it('decides events from the topic, publishes alerts and dead-letters malformed messages', async () => {
    const events = loginStorm('k', 3, 7);
    await produceEvents(client, 'user-events', events);
    await client.producer().send('user-events', [{ key: 'bad', value: '{"event_id": "broken"' }]);

    let verdicts: { event_id: string; risk_level: string }[] = [];
    await waitFor('all verdicts', async () => {
      verdicts = ((await (await fetch(`${engine.url}/verdicts?size=1000`)).json()) as { items: typeof verdicts }).items;
      return verdicts.length === events.length;
    });
    const due = verdicts.filter((v) => v.risk_level !== 'LOW').map((v) => v.event_id);
    assert.ok(due.length > 0, 'the login storm raises alerts');
    // Alerts are recorded locally once Kafka acknowledged them, possibly just after the verdicts.
    await waitFor('all alerts', async () => {
      const recent = (await (await fetch(`${engine.url}/alerts?limit=1000`)).json()) as { items: unknown[] };
      return recent.items.length === due.length;
    });
    const alerts = await readTopic(client, 'risk-alerts', due.length);
    assert.deepEqual(new Set(alerts.map((a) => (JSON.parse(a.value.toString()) as { alert_id: string }).alert_id)), new Set(due));
    for (const alert of alerts) assert.equal(alert.key, JSON.parse(alert.value.toString()).user_id, 'alerts are keyed by user_id');

    const [dead] = await readTopic(client, 'user-events-dlq', 1);
    assert.equal(dead.value.toString(), '{"event_id": "broken"', 'the original bytes are kept');
    assert.match(dead.headers['dlq-reason'] ?? '', /not valid JSON/);

    const ready = (await (await fetch(`${engine.url}/ready`)).json()) as { checks: Record<string, { ok: boolean }> };
    assert.equal(ready.checks.kafka?.ok, true);
    const metrics = await (await fetch(`${engine.url}/metrics`)).text();
    assert.match(metrics, /risk_engine_events_total\{outcome="rejected",source="kafka"\} 1/);
    assert.match(metrics, new RegExp(`risk_engine_messages_consumed_total\\{source="kafka"\\} ${events.length + 1}`));
    assert.match(metrics, /risk_engine_processing_latency_seconds_count\{source="kafka"\} [1-9]/);
    assert.match(metrics, /risk_engine_consumer_lag\{topic="user-events",partition="\d"\} 0/);
  });
});
