import type { KafkaConfig } from '../config/engine-config';
import type { JsonLogger } from '../logging/json-logger';
import { KafkaClient } from '../kafka/kafka.client';

export interface OpenedKafka {
  /** Shared by the consumer and the producers; connects on first use. */
  readonly client: KafkaClient;
  /** Disconnects the shared producer (the consumer is stopped by its owner, in an earlier shutdown phase). */
  close(): Promise<void>;
}

export function openKafka(config: KafkaConfig, logger: JsonLogger): OpenedKafka {
  const client = new KafkaClient({
    brokers: config.brokers,
    clientId: config.clientId,
    ssl: config.ssl,
    sasl: config.sasl,
    logger: logger.child('kafkajs'),
  });
  return { client, close: () => client.close() };
}
