import { strict as assert } from 'node:assert';
import { after, before, describe, it } from 'node:test';
import { runCli } from '@test/support/cli';
import { TestRedisServer } from '@test/support/redis-server';

describe('replay --state redis://', () => {
  let redis: TestRedisServer;
  before(async () => {
    redis = await TestRedisServer.start();
  });
  after(async () => redis.dispose());

  it('gives the same verdicts as the in-memory replay, and leaves no keys behind', async () => {
    const generated = await runCli(['generate', '--events', '8000', '--seed', '11']);
    assert.equal(generated.status, 0);
    const memory = await runCli(['replay', '--input', '-', '--output', '-'], generated.stdout);
    const withRedis = await runCli(['replay', '--input', '-', '--output', '-', '--state', redis.url], generated.stdout);
    assert.equal(withRedis.status, 0, withRedis.stderr);
    const strip = (text: string): string => text.replace(/"decided_at":"[^"]*"/g, '');
    assert.ok(memory.stdout.split('\n').length > 7000);
    assert.equal(strip(withRedis.stdout), strip(memory.stdout));
    assert.equal(withRedis.stderr.replace(/; [\d.]+ s, \d+ events\/s/, ''), memory.stderr.replace(/; [\d.]+ s, \d+ events\/s/, ''));
    // A replay runs under a private key prefix, deleted at the end: a second run starts empty, so nothing is a duplicate.
    const again = await runCli(['replay', '--input', '-', '--output', '-', '--state', redis.url], generated.stdout);
    assert.equal(strip(again.stdout), strip(memory.stdout));
  });

  it('exits 2 when the Redis URL is unusable or unreachable', async () => {
    assert.equal((await runCli(['replay', '--input', '-', '--output', '-', '--state', 'http://x'], '')).status, 2);
    assert.equal((await runCli(['replay', '--input', '-', '--output', '-', '--state', 'redis://127.0.0.1:1'], '')).status, 2);
  });
});
