import type { KafkaClient } from '@risk/infra/kafka/kafka.client';

/** The Kafka client when KAFKA_BROKERS is set; shared by the consumer and the producers. */
export abstract class KafkaConnection {
  abstract readonly client: KafkaClient | undefined;
}
