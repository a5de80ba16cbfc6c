import { strict as assert } from 'node:assert';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stateLayoutMarker } from '@risk/infra/redis/redis-state-layout';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { runCli } from '@test/support/cli';
import { TestRedisServer } from '@test/support/redis-server';

describe('migrate-state --rules <dir> without features.json (issue 13 item 4)', () => {
  let server: TestRedisServer;
  let client: RedisClient;
  const dir = mkdtempSync(join(tmpdir(), 'risk-migrate-nofeatures-'));

  before(async () => {
    server = await TestRedisServer.start();
    client = new RedisClient({ url: server.url });
    copyFileSync(join(process.cwd(), 'rules', 'login-burst.json'), join(dir, 'login-burst.json'));
  });
  after(async () => {
    await client.quit();
    await server.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses the shipped default features, saying so on stderr, as the service and replay do', async () => {
    const run = await runCli(['migrate-state', '--redis', server.url, '--key-prefix', 'nofeatures:', '--rules', dir]);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stderr, /^migrate-state: .* has no features\.json: using the shipped default features \(distinct_devices_1h, /m);
    assert.equal(await client.get(stateLayoutMarker('nofeatures:')), '2');
  });
});
