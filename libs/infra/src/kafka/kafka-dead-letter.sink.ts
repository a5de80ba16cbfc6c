import { RejectSink, type RejectedMessage } from '@risk/domain';
import type { KafkaClient, OutboundRecord } from './kafka.client';

export interface KafkaDeadLetterSinkOptions {
  readonly client: KafkaClient;
  /** KAFKA_DLQ_TOPIC. */
  readonly topic: string;
}

/** Header names on dead letters (docs/kafka.md). */
export const DLQ_HEADERS = {
  reason: 'dlq-reason',
  stage: 'dlq-stage',
  sourceTopic: 'source-topic',
  sourcePartition: 'source-partition',
  sourceOffset: 'source-offset',
} as const;

/**
 * SPEC §1: rejected input goes to the dead-letter topic untouched (original
 * bytes and key) with why and where from in headers, so it can be inspected,
 * fixed and re-produced to the input topic. Resolves once acknowledged.
 */
export class KafkaDeadLetterSink extends RejectSink {
  readonly topic: string;

  constructor(private readonly options: KafkaDeadLetterSinkOptions) {
    super();
    this.topic = options.topic;
  }

  async reject(messages: readonly RejectedMessage[]): Promise<void> {
    await this.options.client.producer().send(this.topic, messages.map(toRecord));
  }
}

function toRecord(message: RejectedMessage): OutboundRecord {
  const headers: Record<string, string> = {
    [DLQ_HEADERS.reason]: JSON.stringify(message.errors),
    [DLQ_HEADERS.stage]: message.stage ?? 'validation',
  };
  const { topic, partition, offset, line } = message.source;
  if (topic !== undefined) headers[DLQ_HEADERS.sourceTopic] = topic;
  if (partition !== undefined) headers[DLQ_HEADERS.sourcePartition] = String(partition);
  if (offset !== undefined) headers[DLQ_HEADERS.sourceOffset] = offset;
  if (line !== undefined) headers['source-line'] = String(line);
  return { key: message.key ?? null, value: message.raw, headers };
}
