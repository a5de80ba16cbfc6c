/**
 * One engine instance for the crash test, run as a child process:
 *   node crash-worker.js <brokers> <topicPrefix> <verdictFile> <journalFile> <delayMs>
 * Verdicts are appended to its own NDJSON file (one line per verdict; a
 * redelivered event is written again, i.e. an upsert keyed by event_id).
 * Feature state lives in a journal shared by successive instances, standing
 * in for Redis: it survives the kill. Prints `{"joined":[...]}` on every
 * assignment; SIGTERM stops it gracefully (exit 0).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FeatureStore, MemoryFeatureStore, VerdictSink, type StateInput, type StateOutcome, type Verdict } from '@risk/domain';
import { KafkaAlertPublisher } from '@risk/infra/kafka/kafka-alert.publisher';
import { KafkaDeadLetterSink } from '@risk/infra/kafka/kafka-dead-letter.sink';
import { KafkaEventConsumer } from '@risk/infra/kafka/kafka-event.consumer';
import { buildPipeline, newFeatureStore, testClient } from './kafka-test-kit';

/**
 * The in-memory store made durable by a write-ahead journal of `apply` calls:
 * the memory store is deterministic, so replaying the calls in order rebuilds
 * its exact state, including which message ids were accepted.
 */
class JournaledFeatureStore extends FeatureStore {
  constructor(
    private readonly inner: MemoryFeatureStore,
    private readonly journal: string,
  ) {
    super();
    if (!existsSync(journal)) return;
    const lines = readFileSync(journal, 'utf8').split('\n');
    const complete: string[] = [];
    for (const line of lines) {
      if (line === '') continue;
      let entry: { partition: string; inputs: StateInput[] };
      try {
        entry = JSON.parse(line) as { partition: string; inputs: StateInput[] };
      } catch {
        break; // a line torn by the kill: that apply never counted
      }
      inner.applySync(entry.partition, entry.inputs);
      complete.push(line);
    }
    writeFileSync(journal, complete.map((l) => l + '\n').join(''));
  }

  apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
    const outcomes = this.inner.applySync(partition, inputs);
    appendFileSync(this.journal, JSON.stringify({ partition, inputs }) + '\n');
    return Promise.resolve(outcomes);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

class NdjsonVerdictSink extends VerdictSink {
  constructor(
    private readonly file: string,
    private readonly delayMs: number,
  ) {
    super();
  }

  async write(verdicts: readonly Verdict[]): Promise<void> {
    await new Promise((r) => setTimeout(r, this.delayMs));
    appendFileSync(this.file, verdicts.map((v) => JSON.stringify(v) + '\n').join(''));
  }
}

async function main(): Promise<void> {
  const [brokers, prefix, verdictFile, journalFile, delayMs] = process.argv.slice(2);
  const client = testClient(brokers.split(','), `crash-worker-${process.pid}`);
  const pipeline = buildPipeline(new JournaledFeatureStore(newFeatureStore(), journalFile), {
    verdicts: new NdjsonVerdictSink(verdictFile, Number(delayMs)),
    alerts: new KafkaAlertPublisher({ client, topic: `${prefix}-alerts` }),
    rejects: new KafkaDeadLetterSink({ client, topic: `${prefix}-dlq` }),
  });
  const consumer = new KafkaEventConsumer(
    {
      client,
      topic: `${prefix}-events`,
      groupId: `${prefix}-engine`,
      maxBatchEvents: 10,
      maxBytesPerPartition: 1024 * 1024,
      maxWaitTimeMs: 50,
      heartbeatIntervalMs: 300,
      sessionTimeoutMs: 6000,
      rebalanceTimeoutMs: 6000,
    },
    pipeline,
    client.logger,
  );
  const report = (): void =>
    void consumer.waitForAssignment(600_000).then(
      (parts) => {
        process.stdout.write(JSON.stringify({ joined: parts }) + '\n');
        report();
      },
      () => undefined,
    );
  report();
  process.once('SIGTERM', () => {
    void consumer
      .stop()
      .then(() => client.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          process.stderr.write(`stop failed: ${String(error)}\n`);
          process.exit(1);
        },
      );
  });
  await consumer.start();
}

main().catch((error: unknown) => {
  process.stderr.write(`crash worker failed: ${String(error)}\n`);
  process.exit(1);
});
