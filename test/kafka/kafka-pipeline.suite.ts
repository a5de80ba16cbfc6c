import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { DependencyUnavailableError, VerdictSink, type Alert, type Verdict } from '@risk/domain';
import { KafkaAlertPublisher } from '@risk/infra/kafka/kafka-alert.publisher';
import { KafkaDeadLetterSink } from '@risk/infra/kafka/kafka-dead-letter.sink';
import { KafkaEventConsumer, type KafkaConsumerMetrics } from '@risk/infra/kafka/kafka-event.consumer';
import type { KafkaClient } from '@risk/infra/kafka/kafka.client';
import { TestKafkaCluster } from '../support/kafka-broker';
import {
  buildPipeline,
  conflictingVerdicts,
  interleave,
  isAlertDue,
  loadAlertSchema,
  loginStorm,
  newFeatureStore,
  produceEvents,
  quietLogger,
  readTopic,
  RecordingVerdictSink,
  T0,
  testClient,
  waitFor,
  allCommitted,
} from './kafka-test-kit';

const TOPICS = [
  'user-events',
  'risk-alerts',
  'user-events-dlq',
  'rb-events',
  'rb-alerts',
  'rb-dlq',
  'kc-events',
  'kc-alerts',
  'kc-dlq',
  'out-events',
  'out-alerts',
  'out-dlq',
];

/**
 * The Kafka adapters against one real Apache Kafka broker (KRaft) of
 * `version`; run by kafka-pipeline.test.ts (the line docker-compose.yml pins)
 * and kafka-pipeline-kafka4.test.ts (Kafka 4.x, which dropped old protocol versions).
 */
export function describeKafkaPipeline(version: string): void {
  describe(`Kafka in and out (Apache Kafka ${version}, one KRaft broker)`, () => {
    let cluster: TestKafkaCluster;
    let client: KafkaClient;
    const validateAlert = new Ajv2020({ allErrors: true }).compile(loadAlertSchema());

    before(async () => {
      cluster = await TestKafkaCluster.start({ version, topics: TOPICS, partitions: 3 });
      client = testClient(cluster.brokers, 'kafka-test');
    });

    after(async () => {
      await client?.close();
      await cluster?.stop();
    });

    function assertValidAlert(alert: unknown): asserts alert is Alert {
      const valid = validateAlert(alert);
      assert.ok(valid, `alert does not match schemas/alert.schema.json: ${JSON.stringify(validateAlert.errors)}`);
    }

    it('decides events into verdicts, publishes alerts and dead-letters malformed input, committing only what was delivered', async () => {
      const events = interleave(loginStorm('io', 4, 7));
      const duplicate = { ...events[0], device_id: 'other-device' };
      const malformed: { key: string | null; value: string; reasonPath: string }[] = [
        { key: 'k-garbage', value: 'not json {', reasonPath: '$' },
        {
          key: 'io-u9',
          value: JSON.stringify({ event_id: 'bad-1', event_type: 'login', event_time: '2026-11-20T10:00:00Z' }),
          reasonPath: 'user_id',
        },
        {
          key: null,
          value: JSON.stringify({ event_id: 'bad-2', user_id: 'io-u9', event_type: 'login', event_time: 'yesterday' }),
          reasonPath: 'event_time',
        },
      ];
      await produceEvents(client, 'user-events', events);
      await client
        .producer()
        .send('user-events', [
          { key: duplicate.user_id, value: JSON.stringify(duplicate) },
          ...malformed.map((m) => ({ key: m.key, value: m.value })),
        ]);

      const verdicts = new RecordingVerdictSink();
      const recorded = { batches: 0, latencies: 0, lagSet: 0, alerts: 0 };
      const metrics: KafkaConsumerMetrics = {
        recordBatch: () => void recorded.batches++,
        recordLatency: (_source, seconds) => {
          assert.ok(seconds >= 0);
          recorded.latencies++;
        },
        setConsumerLag: () => void recorded.lagSet++,
        recordAlerts: (_level, count) => void (recorded.alerts += count),
      };
      const pipeline = buildPipeline(newFeatureStore(), {
        verdicts,
        alerts: new KafkaAlertPublisher({ client, topic: 'risk-alerts' }),
        rejects: new KafkaDeadLetterSink({ client, topic: 'user-events-dlq' }),
      });
      const consumer = new KafkaEventConsumer(
        {
          client,
          topic: 'user-events',
          groupId: 'engine',
          maxWaitTimeMs: 50,
          maxBatchEvents: 8,
          maxBytesPerPartition: 1024 * 1024,
          metrics,
        },
        pipeline,
        quietLogger,
      );
      await consumer.start();
      try {
        await waitFor('every valid event decided', () => verdicts.distinctIds === events.length);
        await waitFor('offsets committed up to the end', () => allCommitted(client, 'engine', 'user-events'));
      } finally {
        await consumer.stop();
      }

      const stats = consumer.stats();
      assert.equal(stats.consumed, events.length + 1 + malformed.length);
      assert.equal(stats.accepted + stats.late, events.length);
      assert.equal(stats.duplicate, 1);
      assert.equal(stats.rejected, malformed.length);
      assert.equal(recorded.latencies, events.length);
      assert.ok(recorded.batches > 0 && recorded.lagSet > 0);
      assert.ok(Object.values(stats.lag).length > 0 && Object.values(stats.lag).every((lag) => lag === 0), JSON.stringify(stats.lag));
      assert.deepEqual(conflictingVerdicts(verdicts.writes.map((w) => w.verdict)), []);

      const byId = new Map<string, Verdict>(verdicts.writes.map((w) => [w.verdict.event_id, w.verdict]));
      // The first of a duplicated event_id wins: its verdict still shows the original device.
      assert.equal(byId.get(duplicate.event_id)!.features.distinct_devices_1h, 1);
      assert.equal(byId.get('io-0-5')!.risk_level, 'MEDIUM');
      assert.equal(byId.get('io-0-ato')!.risk_level, 'HIGH');
      const due = [...byId.values()].filter(isAlertDue);
      assert.equal(recorded.alerts, due.length);
      assert.equal(stats.alerts, due.length);

      const alertRecords = await readTopic(client, 'risk-alerts', due.length);
      assert.equal(alertRecords.length, due.length);
      const alerts = new Map<string, Alert>();
      for (const record of alertRecords) {
        const alert: unknown = JSON.parse(record.value.toString('utf8'));
        assertValidAlert(alert);
        assert.equal(alert.alert_id, alert.event_id);
        assert.equal(record.key, alert.user_id);
        assert.equal(record.headers.alert_id, alert.alert_id);
        const verdict: Record<string, unknown> = { ...alert };
        delete verdict.alert_id;
        assert.deepEqual(verdict, byId.get(alert.event_id));
        alerts.set(alert.alert_id, alert);
      }
      assert.deepEqual([...alerts.keys()].sort(), due.map((v) => v.event_id).sort());
      // A user's alerts share a partition (keyed by user_id).
      const partitionOf = new Map<string, number>();
      for (const record of alertRecords) {
        const before = partitionOf.get(record.key!);
        if (before !== undefined) assert.equal(record.partition, before);
        partitionOf.set(record.key!, record.partition);
      }

      // The producer is idempotent: the broker stored every alert batch with a producer id and sequence numbers
      // (a plain producer's batches carry producerId -1), read back from the broker's own log segments.
      const alertPartitions = [...new Set(alertRecords.map((r) => r.partition))];
      for (const partition of alertPartitions) {
        const batches = (await cluster.dumpLog(0, 'risk-alerts', partition)).split('\n').filter((l) => l.includes('baseOffset:'));
        assert.ok(batches.length > 0, `no batch in risk-alerts-${partition}`);
        for (const batch of batches) {
          assert.match(batch, /producerId: \d+ producerEpoch: \d+/, batch);
          assert.match(batch, /baseSequence: \d+/, batch);
        }
      }

      const dead = await readTopic(client, 'user-events-dlq', malformed.length);
      assert.equal(dead.length, malformed.length);
      for (const m of malformed) {
        const letter = dead.find((d) => d.value.toString('utf8') === m.value);
        assert.ok(letter, `dead letter for ${m.value}`);
        assert.equal(letter.key, m.key);
        assert.equal(letter.headers['dlq-stage'], 'validation');
        assert.equal(letter.headers['source-topic'], 'user-events');
        assert.match(letter.headers['source-partition'], /^[0-2]$/);
        assert.match(letter.headers['source-offset'], /^\d+$/);
        const reasons = JSON.parse(letter.headers['dlq-reason']) as { path: string; message: string }[];
        assert.ok(reasons.length > 0 && reasons.every((r) => typeof r.message === 'string' && r.message.length > 0));
        assert.ok(
          reasons.some((r) => r.path === m.reasonPath),
          JSON.stringify(reasons),
        );
      }
    });

    it('rebalances onto a second instance without losing or re-deciding events', async () => {
      // Shared state and verdict store, as Redis and Elasticsearch would be. A real broker rebalances within
      // milliseconds, so A is held after its first write until B starts joining, and its writes stay slow: B joins
      // while A still has most of the first stream to decide.
      const featureStore = newFeatureStore();
      const store = new RecordingVerdictSink('A', 25);
      let releaseA: () => void = () => undefined;
      const aHeld = new Promise<void>((resolve) => (releaseA = resolve));
      const holdA = (): Promise<void> => (store.writes.length > 0 ? aHeld : Promise.resolve());
      const sinks = (name: string) => ({
        verdicts: store.as(name, 25, name === 'A' ? holdA : undefined),
        alerts: new KafkaAlertPublisher({ client, topic: 'rb-alerts' }),
        rejects: new KafkaDeadLetterSink({ client, topic: 'rb-dlq' }),
      });
      const settings = {
        client,
        topic: 'rb-events',
        groupId: 'rb',
        maxWaitTimeMs: 50,
        maxBatchEvents: 10,
        maxBytesPerPartition: 1024 * 1024,
        heartbeatIntervalMs: 200,
        sessionTimeoutMs: 10_000,
      };
      const first = interleave(loginStorm('rb1', 90, 8));
      const second = interleave(loginStorm('rb2', 30, 8));
      await produceEvents(client, 'rb-events', first);

      const a = new KafkaEventConsumer(settings, buildPipeline(featureStore, sinks('A')), quietLogger);
      const b = new KafkaEventConsumer(settings, buildPipeline(featureStore, sinks('B')), quietLogger);
      const aJoined = a.waitForAssignment(90_000);
      await a.start();
      try {
        assert.deepEqual(await aJoined, [0, 1, 2]);
        await waitFor('A under way', () => store.writes.length > 0);
        const bJoined = b.waitForAssignment(90_000);
        // Not awaited before the release: B's start completes only once A has rejoined the group.
        const bStarted = b.start();
        releaseA();
        await Promise.all([bStarted, bJoined]);
        // A may rejoin more than once (one generation per member that joins); the group settles on a split.
        await waitFor('the partitions split between A and B', () => {
          const [aParts, bParts] = [a.assignment, b.assignment];
          return aParts.length > 0 && bParts.length > 0 && [...aParts, ...bParts].sort().join() === '0,1,2';
        });
        await produceEvents(client, 'rb-events', second);
        const total = first.length + second.length;
        await waitFor('every event decided', () => store.distinctIds === total, 60_000);
        await waitFor('offsets committed up to the end', () => allCommitted(client, 'rb', 'rb-events'));
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
      assert.deepEqual(conflictingVerdicts(store.writes.map((w) => w.verdict)), []);
      assert.ok(store.writes.some((w) => w.instance === 'A'));
      const firstIds = new Set(first.map((e) => e.event_id));
      assert.ok(
        store.writes.some((w) => w.instance === 'B' && firstIds.has(w.verdict.event_id)),
        'B took over part of the stream A had started (events produced before it joined)',
      );
      const stats = [a.stats(), b.stats()];
      assert.equal(stats[0].duplicate + stats[1].duplicate, 0);
      assert.equal(stats[0].rejected + stats[1].rejected, 0);
    });

    it('holds the partition and commits nothing while the verdict store is down, then catches up', async () => {
      class FlakySink extends VerdictSink {
        down = true;
        failures = 0;
        readonly ids = new Set<string>();
        write(verdicts: readonly Verdict[]): Promise<void> {
          if (this.down) {
            this.failures++;
            return Promise.reject(new DependencyUnavailableError('elasticsearch', 'connection refused'));
          }
          for (const v of verdicts) this.ids.add(v.event_id);
          return Promise.resolve();
        }
      }
      const events = loginStorm('out', 3, 7);
      await produceEvents(client, 'out-events', events);
      const sink = new FlakySink();
      const pipeline = buildPipeline(newFeatureStore(), {
        verdicts: sink,
        alerts: new KafkaAlertPublisher({ client, topic: 'out-alerts' }),
        rejects: new KafkaDeadLetterSink({ client, topic: 'out-dlq' }),
      });
      const consumer = new KafkaEventConsumer(
        {
          client,
          topic: 'out-events',
          groupId: 'out',
          maxWaitTimeMs: 50,
          maxBatchEvents: 500,
          maxBytesPerPartition: 1024 * 1024,
          retry: { initialMs: 20, maxMs: 100 },
        },
        pipeline,
        quietLogger,
      );
      await consumer.start();
      try {
        await waitFor('delivery retried', () => sink.failures >= 5);
        const committed = await client.committedOffsets('out', 'out-events');
        assert.ok(
          [...committed.values()].every((offset) => offset === '-1'),
          `nothing committed while down: ${JSON.stringify([...committed])}`,
        );
        assert.equal(consumer.stats().commits, 0);
        assert.ok(consumer.stats().retries >= 5);
        sink.down = false;
        await waitFor('caught up', () => sink.ids.size === events.length);
        await waitFor('offsets committed up to the end', () => allCommitted(client, 'out', 'out-events'));
      } finally {
        await consumer.stop();
      }
      // Decided once, delivered after the outage: the retried batch was not decided again.
      const stats = consumer.stats();
      assert.equal(stats.accepted + stats.late, events.length);
      assert.equal(stats.duplicate, 0);
    });

    it('talks to an independent client: kcat produces the events and reads the alerts', async () => {
      const events = loginStorm('kc', 2, 7);
      const input = events.map((e) => `${e.user_id}\t${JSON.stringify(e)}`).join('\n') + '\n';
      await run('kcat', ['-P', '-b', cluster.brokers.join(','), '-t', 'kc-events', '-K', '\t', '-X', 'partitioner=murmur2_random'], input);

      const verdicts = new RecordingVerdictSink();
      const pipeline = buildPipeline(newFeatureStore(), {
        verdicts,
        alerts: new KafkaAlertPublisher({ client, topic: 'kc-alerts' }),
        rejects: new KafkaDeadLetterSink({ client, topic: 'kc-dlq' }),
      });
      const consumer = new KafkaEventConsumer(
        { client, topic: 'kc-events', groupId: 'kc', maxWaitTimeMs: 50, maxBatchEvents: 500, maxBytesPerPartition: 1024 * 1024 },
        pipeline,
        quietLogger,
      );
      await consumer.start();
      try {
        await waitFor('kcat events decided', () => verdicts.distinctIds === events.length);
      } finally {
        await consumer.stop();
      }
      const due = verdicts.writes.map((w) => w.verdict).filter(isAlertDue);
      assert.ok(due.length >= 3, `expected login-burst and device-and-city alerts, got ${due.length}`);

      const out = await run('kcat', ['-C', '-b', cluster.brokers.join(','), '-t', 'kc-alerts', '-o', 'beginning', '-e', '-q', '-J']);
      const lines = out.split('\n').filter((l) => l.trim() !== '');
      const received = lines.map((l) => JSON.parse(l) as { key: string; payload: string; headers?: string[] });
      assert.equal(received.length, due.length);
      for (const r of received) {
        const alert: unknown = JSON.parse(r.payload);
        assertValidAlert(alert);
        assert.equal(r.key, alert.user_id);
        assert.deepEqual(r.headers, ['alert_id', alert.alert_id]);
        assert.equal(Date.parse(alert.event_time) >= T0, true);
      }
      assert.deepEqual(received.map((r) => (JSON.parse(r.payload) as Alert).alert_id).sort(), due.map((v) => v.event_id).sort());
    });
  });
}

function run(command: string, args: readonly string[], stdin?: string): Promise<string> {
  if (stdin === undefined) {
    return new Promise((resolve, reject) => {
      execFile(command, args, { maxBuffer: 16 * 1024 * 1024, timeout: 30_000 }, (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`${command} failed: ${stderr || error.message}`));
        else resolve(stdout);
      });
    });
  }
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} exited ${String(code)}: ${stderr}`))));
    child.stdin.end(stdin);
  });
}
