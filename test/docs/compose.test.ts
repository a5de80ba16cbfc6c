import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('docker-compose.yml', () => {
  it('is valid for docker-compose and wires every service the engine needs', () => {
    const result = spawnSync('docker-compose', ['config'], {
      cwd: process.cwd(),
      encoding: 'utf8',
      env: { ...process.env, RISK_ENGINE_API_KEYS: '' },
    });
    assert.equal(result.status, 0, result.stderr);
    const config = result.stdout;
    for (const service of ['kafka:', 'kafka-init:', 'redis:', 'elasticsearch:', 'engine:'])
      assert.match(config, new RegExp(`^  ${service}`, 'm'));
    assert.match(config, /KAFKA_PROCESS_ROLES: broker,controller/, 'Kafka runs in KRaft mode');
    for (const variable of ['KAFKA_BROKERS', 'REDIS_URL', 'ELASTICSEARCH_NODE']) assert.match(config, new RegExp(`${variable}: `));
    assert.match(config, /condition: service_healthy/);
  });
});
