import { AlertPublisher, type Alert } from '@risk/domain';
import type { KafkaClient, OutboundRecord } from './kafka.client';

export interface KafkaAlertPublisherOptions {
  readonly client: KafkaClient;
  /** KAFKA_ALERTS_TOPIC. */
  readonly topic: string;
}

/**
 * SPEC §6: alerts to Kafka, key = user_id (a user's alerts share a
 * partition), value = the alert JSON, header `alert_id`. `publish` resolves
 * once all in-sync replicas acknowledged (acks = -1), so the consumer can
 * commit its input after it. Delivery is at-least-once: a redelivered input
 * or a producer retry can publish an alert again, and consumers deduplicate
 * by `alert_id`.
 */
export class KafkaAlertPublisher extends AlertPublisher {
  readonly topic: string;

  constructor(private readonly options: KafkaAlertPublisherOptions) {
    super();
    this.topic = options.topic;
  }

  async publish(alerts: readonly Alert[]): Promise<void> {
    const records: OutboundRecord[] = alerts.map((alert) => ({
      key: alert.user_id,
      value: JSON.stringify(alert),
      headers: { alert_id: alert.alert_id },
    }));
    await this.options.client.producer().send(this.topic, records);
  }
}
