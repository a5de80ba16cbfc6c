import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TestKafkaCluster } from '@test/support/kafka-broker';
import { startEngineProcess } from '@test/support/engine-process';
import { BENCH_TOPIC_SPECS, benchKafka, type ExternalLatencyEngine, type LatencyEngineSettings } from './kafka-adapters.bench';
import { fmt, line } from './stats';

/**
 * Through a real Apache Kafka broker (one KRaft node from the Maven jars,
 * `KAFKA_VERSION` or 3.8.0, on loopback), in-memory state and sinks.
 * Throughput is measured in the bench's process, for the engine and for a
 * plain kafkajs consume-and-produce loop on the same topic; the event → alert
 * latency twice: with the consumer in the bench's process (sharing its event
 * loop with the load generator and the alert reader), and on the service
 * itself (`node main.js` with KAFKA_BROKERS set, its own process), as deployed.
 */
export async function benchKafkaSection(lines: readonly string[]): Promise<void> {
  const cluster = await TestKafkaCluster.start({ topics: [...BENCH_TOPIC_SPECS] });
  try {
    const events = lines.slice(0, 100_000);
    const result = await benchKafka({ brokers: [...cluster.brokers], events, startLatencyEngine: startServiceProcess });
    process.stdout.write(
      `\nKafka (Apache Kafka ${cluster.version}, one KRaft broker on loopback, started in ${fmt(cluster.startupMs / 1000, 1)} s): ` +
        `${fmt(events.length)} events, in-memory state and sinks\n`,
    );
    const percentOf = (raw: number): string => `${fmt((100 * result.eventsPerSec) / raw)} %`;
    line('throughput, engine', `${fmt(result.eventsPerSec)} events/s   (target ≥ 20,000)`);
    line(
      '  plain kafkajs consume → commit',
      `${fmt(result.raw.commitOnlyEventsPerSec)} events/s   (same topic, same run; engine at ${percentOf(result.raw.commitOnlyEventsPerSec)})`,
    );
    line(
      '  plain kafkajs consume → produce each → commit',
      `${fmt(result.raw.copyEventsPerSec)} events/s   (engine at ${percentOf(result.raw.copyEventsPerSec)}; the engine produces only alerts)`,
    );
    line(
      'event → alert received, at 2,000 events/s',
      `p50 ${fmt(result.alertP50Ms, 1)} ms   p99 ${fmt(result.alertP99Ms, 1)} ms   (target p99 < 50 ms; consumer in the bench process, ${fmt(result.latencyAlerts)} alerts)`,
    );
    if (result.service !== undefined) {
      line(
        '  the same, service in its own process',
        `p50 ${fmt(result.service.alertP50Ms, 1)} ms   p99 ${fmt(result.service.alertP99Ms, 1)} ms   (${fmt(result.service.alerts)} alerts)`,
      );
    }
  } finally {
    await cluster.stop();
  }
}

/** The engine service (dist/apps/engine/src/main.js) consuming the latency topics; progress read from its /metrics. */
async function startServiceProcess(settings: LatencyEngineSettings): Promise<ExternalLatencyEngine> {
  const dataDir = mkdtempSync(join(tmpdir(), 'risk-bench-kafka-'));
  const engine = await startEngineProcess(join(__dirname, '..', '..', 'engine', 'src', 'main.js'), {
    KAFKA_BROKERS: settings.brokers.join(','),
    KAFKA_GROUP_ID: settings.groupId,
    KAFKA_EVENTS_TOPIC: settings.topics.events,
    KAFKA_ALERTS_TOPIC: settings.topics.alerts,
    KAFKA_DLQ_TOPIC: settings.topics.deadLetters,
    KAFKA_MAX_WAIT: `${settings.maxWaitTimeMs}ms`,
    KAFKA_MAX_BATCH_EVENTS: String(settings.maxBatchEvents),
    RULES_DIR: join(process.cwd(), 'rules'),
    DATA_DIR: dataDir,
  });
  return {
    progress: async () => {
      const metrics = await (await fetch(`${engine.url}/metrics`)).text();
      return {
        consumed: sumOf(metrics, /^risk_engine_messages_consumed_total\{source="kafka"\} (\S+)$/gm),
        alerts: sumOf(metrics, /^risk_engine_alerts_total\{[^}]*\} (\S+)$/gm),
      };
    },
    stop: async () => {
      await engine.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function sumOf(text: string, pattern: RegExp): number {
  let sum = 0;
  for (const match of text.matchAll(pattern)) sum += Number(match[1]);
  return sum;
}
