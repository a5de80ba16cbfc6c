import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { RiskEngineError } from '@risk/domain';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from '../support/redis-server';

/** Stores each ARGV[i] under KEYS[i] and answers the key count and the last argument. */
const STORE_ALL = `
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
return { #KEYS, ARGV[#ARGV] }
`;

describe('RedisClient scripts (a single node: the command encoded by the client wrapper)', () => {
  let server: TestRedisServer;
  let client: RedisClient;
  before(async () => {
    server = await TestRedisServer.start();
    client = new RedisClient({ url: server.url, commandTimeoutMs: 5_000 });
    await client.waitReady();
  });
  after(async () => {
    await client.quit();
    await server.dispose();
  });

  it('sends keys and arguments byte for byte: binary Buffers, multi-byte text, numbers, empty values, thousands of them', async () => {
    const script = client.defineScript('store_all', STORE_ALL);
    const keys: string[] = [];
    const args: (string | number | Buffer)[] = [];
    for (let i = 0; i < 3_000; i++) {
      keys.push(`enc:{k}:${i}:é`);
      args.push(i % 3 === 0 ? Buffer.from([i & 255, 13, 10, 0, 255]) : i % 3 === 1 ? `v${i}\r\n€😀` : i === 2 ? '' : i * 1.5);
    }
    // Twice: EVAL on the connection's first use, then EVALSHA.
    for (let round = 0; round < 2; round++) {
      assert.deepEqual(await script.run(keys, args), [3_000, String(args[2_999])]);
    }
    const stored = (await client.pipelined([{ command: 'mget', args: keys, buffers: true }]))[0] as Buffer[];
    stored.forEach((value, i) => {
      const arg = args[i];
      assert.deepEqual(value, Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), 'utf8'), `argument ${i}`);
    });
  });

  it('runs the script again after the server forgot it (SCRIPT FLUSH: NOSCRIPT answered to EVALSHA)', async () => {
    const script = client.defineScript('store_all_again', STORE_ALL);
    assert.deepEqual(await script.run(['flush:a'], ['1']), [1, '1']);
    execFileSync('redis-cli', ['-p', String(server.port), 'SCRIPT', 'FLUSH']);
    assert.deepEqual(await script.run(['flush:a'], ['2']), [1, '2']);
    assert.equal(await client.get('flush:a'), '2');
  });

  it('runs plain commands in a pipeline, in order, with UTF-8 or Buffer replies as asked', async () => {
    const answers = await client.pipelined([
      { command: 'hset', args: ['pipe:h', 'a', 'é€😀', 'n', 42] },
      { command: 'hmget', args: ['pipe:h', 'a', 'missing', 'n'] },
      { command: 'hmget', args: ['pipe:h', 'a'], buffers: true },
      { command: 'hdel', args: ['pipe:h', 'n'] },
      { command: 'hlen', args: ['pipe:h'] },
      { command: 'lrange', args: ['pipe:none', 0, -1] },
    ]);
    assert.deepEqual(answers, [2, ['é€😀', null, '42'], [Buffer.from('é€😀')], 1, 1, []]);
  });

  it('maps a script error to a coded, non-retriable error', async () => {
    const script = client.defineScript('fails', `return redis.error_reply('ERR nope')`);
    await assert.rejects(
      script.run(['x'], []),
      (error: unknown) => error instanceof RiskEngineError && error.code === 'REDIS_ERROR' && !error.retriable,
    );
  });
});
