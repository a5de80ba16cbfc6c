import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DependencyUnavailableError, isRetriable, type Alert } from '@risk/domain';
import { KafkaAlertPublisher } from './kafka-alert.publisher';
import { KafkaDeadLetterSink } from './kafka-dead-letter.sink';
import { KafkaClient, toEngineError, type KafkaProducer, type OutboundRecord } from './kafka.client';

/** A client whose shared producer records sends instead of talking to a broker. */
function recordingClient(): { client: KafkaClient; sent: { topic: string; records: readonly OutboundRecord[] }[] } {
  const sent: { topic: string; records: readonly OutboundRecord[] }[] = [];
  const client = new KafkaClient({ brokers: ['127.0.0.1:9'], clientId: 'spec' });
  const producer = {
    send: (topic: string, records: readonly OutboundRecord[]) => {
      sent.push({ topic, records });
      return Promise.resolve();
    },
  } as unknown as KafkaProducer;
  client.producer = () => producer;
  return { client, sent };
}

describe('Kafka sinks', () => {
  it('dead-letters the original bytes and key with reason, stage and source in headers', async () => {
    const { client, sent } = recordingClient();
    const raw = Buffer.from([0x7b, 0xff, 0x00]);
    await new KafkaDeadLetterSink({ client, topic: 'user-events-dlq' }).reject([
      {
        raw,
        key: Buffer.from('u-1'),
        errors: [{ path: '$', message: 'not valid JSON' }],
        source: { topic: 'user-events', partition: 2, offset: '41' },
      },
      { raw: '{"a":1}', key: null, errors: [{ path: 'event_id', message: 'required' }], source: { line: 3 }, stage: 'verdict-sink' },
    ]);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].topic, 'user-events-dlq');
    const [first, second] = sent[0].records;
    assert.equal(first.value, raw);
    assert.deepEqual(first.key, Buffer.from('u-1'));
    assert.deepEqual(first.headers, {
      'dlq-reason': '[{"path":"$","message":"not valid JSON"}]',
      'dlq-stage': 'validation',
      'source-topic': 'user-events',
      'source-partition': '2',
      'source-offset': '41',
    });
    assert.equal(second.key, null);
    assert.deepEqual(second.headers, {
      'dlq-reason': '[{"path":"event_id","message":"required"}]',
      'dlq-stage': 'verdict-sink',
      'source-line': '3',
    });
  });

  it('publishes alerts keyed by user_id with an alert_id header', async () => {
    const { client, sent } = recordingClient();
    const alert = { event_id: 'e-1', user_id: 'u-1', alert_id: 'e-1', risk_level: 'HIGH' } as unknown as Alert;
    await new KafkaAlertPublisher({ client, topic: 'alerts-x' }).publish([alert]);
    assert.equal(sent[0].topic, 'alerts-x');
    assert.deepEqual(sent[0].records, [{ key: 'u-1', value: JSON.stringify(alert), headers: { alert_id: 'e-1' } }]);
  });

  it('maps broker failures to retriable errors and refused records to permanent ones', () => {
    const lost = toEngineError(Object.assign(new Error('Connection error'), { type: 'NETWORK_EXCEPTION' }), 'produce');
    assert.ok(lost instanceof DependencyUnavailableError);
    assert.equal(isRetriable(lost), true);
    const wrapped = Object.assign(new Error('retries exceeded'), {
      originalError: Object.assign(new Error('too large'), { type: 'MESSAGE_TOO_LARGE' }),
    });
    const refused = toEngineError(wrapped, 'produce');
    assert.equal(isRetriable(refused), false);
    assert.equal(refused.code, 'KAFKA_MESSAGE_TOO_LARGE');
  });
});
