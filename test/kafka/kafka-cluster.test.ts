import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Alert } from '@risk/domain';
import { KafkaAlertPublisher } from '@risk/infra/kafka/kafka-alert.publisher';
import { KafkaDeadLetterSink } from '@risk/infra/kafka/kafka-dead-letter.sink';
import { KafkaEventConsumer } from '@risk/infra/kafka/kafka-event.consumer';
import { KafkaClient } from '@risk/infra/kafka/kafka.client';
import { TestKafkaCluster } from '../support/kafka-broker';
import {
  allCommitted,
  buildPipeline,
  conflictingVerdicts,
  interleave,
  isAlertDue,
  loginStorm,
  newFeatureStore,
  produceEvents,
  quietLogger,
  readTopic,
  RecordingVerdictSink,
  waitFor,
  type TestEvent,
} from './kafka-test-kit';

/**
 * Three KRaft nodes (each broker and controller), topics replicated three
 * times with min.insync.replicas 2: a consumer group of two engine instances
 * whose partitions are led by different brokers, and one broker killed and
 * started again while events keep flowing.
 */
describe('Kafka cluster of three brokers: a group of two engines, a broker restarted mid-stream', () => {
  let cluster: TestKafkaCluster;
  let client: KafkaClient;

  before(async () => {
    cluster = await TestKafkaCluster.start({ nodes: 3, topics: ['cl-events:6', 'cl-alerts:3', 'cl-dlq:3'] });
    // Patient retries: producing continues across the leader elections of the restart.
    client = new KafkaClient({
      brokers: cluster.allBrokers,
      clientId: 'cluster-test',
      logger: quietLogger,
      retry: { retries: 10, initialRetryTimeMs: 100, maxRetryTimeMs: 1000 },
    });
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  /** Sends in slices until each slice is acknowledged (a slice can fail while its partition has no leader). */
  async function produceThroughOutage(events: readonly TestEvent[]): Promise<void> {
    for (let i = 0; i < events.length; i += 50) {
      const slice = events.slice(i, i + 50);
      await waitFor(
        `slice ${i} acknowledged`,
        () =>
          produceEvents(client, 'cl-events', slice).then(
            () => true,
            () => false,
          ),
        60_000,
      );
    }
  }

  it('decides every event exactly once across two instances while a broker is killed and restarted', async () => {
    const featureStore = newFeatureStore();
    const store = new RecordingVerdictSink('A', 5);
    const settings = {
      client,
      topic: 'cl-events',
      groupId: 'cl',
      maxWaitTimeMs: 100,
      maxBatchEvents: 20,
      maxBytesPerPartition: 1024 * 1024,
      heartbeatIntervalMs: 300,
      sessionTimeoutMs: 6000,
      rebalanceTimeoutMs: 10_000,
      retry: { initialMs: 50, maxMs: 500 },
    };
    const instance = (name: string): KafkaEventConsumer =>
      new KafkaEventConsumer(
        settings,
        buildPipeline(featureStore, {
          verdicts: store.as(name),
          alerts: new KafkaAlertPublisher({ client, topic: 'cl-alerts' }),
          rejects: new KafkaDeadLetterSink({ client, topic: 'cl-dlq' }),
        }),
        quietLogger,
      );
    const before = interleave(loginStorm('cl1', 40, 8));
    const during = interleave(loginStorm('cl2', 40, 8));
    const afterRestart = interleave(loginStorm('cl3', 40, 8));
    const all = [...before, ...during, ...afterRestart];
    await produceEvents(client, 'cl-events', before);

    const a = instance('A');
    const b = instance('B');
    await a.start();
    await b.start();
    try {
      await waitFor('the six partitions split between A and B', () => {
        const [aParts, bParts] = [a.assignment, b.assignment];
        return aParts.length > 0 && bParts.length > 0 && [...aParts, ...bParts].sort().join() === '0,1,2,3,4,5';
      });
      await waitFor('the group under way', () => store.distinctIds > 0);

      // kill -9: no controlled shutdown, its partitions lose their leader until the controller fences it.
      await cluster.stopNode(1, { kill: true });
      await produceThroughOutage(during);
      await cluster.startNode(1);
      await produceThroughOutage(afterRestart);

      await waitFor('every event decided', () => store.distinctIds === all.length, 120_000);
      await waitFor('offsets committed up to the end', () => allCommitted(client, 'cl', 'cl-events'), 60_000);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }

    assert.deepEqual(conflictingVerdicts(store.writes.map((w) => w.verdict)), []);
    const byId = new Map(store.writes.map((w) => [w.verdict.event_id, w.verdict]));
    assert.deepEqual([...byId.keys()].sort(), all.map((e) => e.event_id).sort());
    assert.ok(store.writes.some((w) => w.instance === 'A') && store.writes.some((w) => w.instance === 'B'), 'both instances decided');

    // The restarted broker serves again: a client that knows only it reads the alerts topic's offsets.
    const restartedOnly = new KafkaClient({ brokers: [cluster.allBrokers[1]], clientId: 'restarted-only', logger: quietLogger });
    try {
      assert.equal((await restartedOnly.topicOffsets('cl-alerts')).size, 3);
    } finally {
      await restartedOnly.close();
    }

    // At-least-once: read every record on the topic, repeats included, then check coverage and keys.
    const due = [...byId.values()].filter(isAlertDue);
    const produced = [...(await client.highWatermarks('cl-alerts')).values()].reduce((sum, high) => sum + Number(high), 0);
    assert.ok(produced >= due.length, `${produced} alert records for ${due.length} alerts`);
    const records = await readTopic(client, 'cl-alerts', produced, 60_000);
    const alerted = new Set<string>();
    for (const record of records) {
      const alert = JSON.parse(record.value.toString('utf8')) as Alert;
      assert.equal(record.key, alert.user_id, 'alerts are keyed by user_id');
      alerted.add(alert.alert_id);
    }
    assert.deepEqual(
      due.filter((v) => !alerted.has(v.event_id)).map((v) => v.event_id),
      [],
    );
  });
});
