import { kafkaVersionFromEnv } from '../support/kafka-broker';
import { describeKafkaPipeline } from './kafka-pipeline.suite';

// The line docker-compose.yml pins (3.8.0), or KAFKA_VERSION.
describeKafkaPipeline(kafkaVersionFromEnv());
