import { BENCH_TOPIC_SPECS, benchKafka } from '@risk/infra/kafka/kafka.bench';
import { KafkaMockCluster } from '@test/support/kafka-mock';
import { fmt, line } from './stats';

/** Through librdkafka's mock cluster over TCP, in-memory state and sinks. */
export async function benchKafkaSection(lines: readonly string[]): Promise<void> {
  const cluster = await KafkaMockCluster.start({ topics: [...BENCH_TOPIC_SPECS] });
  try {
    const events = lines.slice(0, 100_000);
    const result = await benchKafka({ brokers: [...cluster.brokers], events });
    process.stdout.write(
      `\nKafka (librdkafka mock cluster, 3 brokers, over TCP): ${fmt(events.length)} events, in-memory state and sinks\n`,
    );
    line('throughput', `${fmt(result.eventsPerSec)} events/s   (target ≥ 20,000)`);
    line(
      'event → alert received, at 5,000 events/s',
      `p50 ${fmt(result.alertP50Ms, 1)} ms   p99 ${fmt(result.alertP99Ms, 1)} ms   (target p99 < 50 ms)`,
    );
  } finally {
    await cluster.stop();
  }
}
