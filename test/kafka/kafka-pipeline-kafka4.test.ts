import { KAFKA_4_VERSION } from '../support/kafka-broker';
import { describeKafkaPipeline } from './kafka-pipeline.suite';

// Kafka 4.0 removed the old protocol versions (KIP-896): the same cases against the 4.x line, with kafkajs 2.2.4.
describeKafkaPipeline(KAFKA_4_VERSION);
