import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { RiskPipeline } from '@risk/domain';
import { KafkaEventConsumer } from '@risk/infra/kafka/kafka-event.consumer';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { EngineSettings } from '../engine/engine.tokens';
import { ReadinessRegistry } from '../health/readiness';
import { KafkaConnection } from '../engine/kafka-connection';

/**
 * Consumes the events topic when KAFKA_BROKERS is set: kafkajs batch
 * consumption straight into the pipeline; offsets are committed only after
 * the batch's verdicts are written and its alerts acknowledged.
 */
@Injectable()
export class KafkaIngestService implements OnApplicationBootstrap {
  private consumer: KafkaEventConsumer | undefined;

  constructor(
    private readonly settings: EngineSettings,
    private readonly connection: KafkaConnection,
    private readonly pipeline: RiskPipeline,
    private readonly metrics: EngineMetrics,
    private readonly lifecycle: EngineLifecycle,
    private readonly readiness: ReadinessRegistry,
    private readonly logger: JsonLogger,
  ) {}

  get stats(): ReturnType<KafkaEventConsumer['stats']> | undefined {
    return this.consumer?.stats();
  }

  async onApplicationBootstrap(): Promise<void> {
    const kafka = this.settings.config.kafka;
    const client = this.connection.client;
    if (kafka === undefined || client === undefined) return;
    const log = this.logger.child('kafka');
    if (kafka.createTopics) {
      // Off by default: production topics are usually managed outside the service.
      await client.ensureTopics([{ topic: kafka.eventsTopic }, { topic: kafka.alertsTopic }, { topic: kafka.deadLetterTopic }]);
    }
    const consumer = new KafkaEventConsumer(
      {
        client,
        topic: kafka.eventsTopic,
        groupId: kafka.groupId,
        maxBatchEvents: kafka.maxBatchEvents,
        maxBytesPerPartition: kafka.maxBatchBytes,
        maxWaitTimeMs: kafka.maxWaitMs,
        metrics: this.metrics,
      },
      this.pipeline,
      log,
    );
    this.consumer = consumer;
    this.lifecycle.register({ stopIntake: () => consumer.stop() });
    this.readiness.add({
      name: 'kafka',
      check: async () => {
        const offsets = await withTimeout(client.topicOffsets(kafka.eventsTopic), 5_000);
        return { ok: true, detail: { topic: kafka.eventsTopic, partitions: offsets.size, assigned: consumer.assignment } };
      },
    });
    await consumer.start();
    log.info('consuming', { topic: kafka.eventsTopic, group: kafka.groupId });
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
