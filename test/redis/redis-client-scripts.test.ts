import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RiskEngineError } from '@risk/domain';
import { sharedRedis } from '../support/redis-fixture';

/** Stores each ARGV[i] under KEYS[i] and answers the key count and the last argument. */
const STORE_ALL = `
for i = 1, #KEYS do redis.call('SET', KEYS[i], ARGV[i]) end
return { #KEYS, ARGV[#ARGV] }
`;

describe('RedisClient scripts (a single node: the command encoded by the client wrapper)', () => {
  const redis = sharedRedis(5_000);

  it('sends keys and arguments byte for byte: binary Buffers, multi-byte text, numbers, empty values, thousands of them', async () => {
    const script = redis.client.defineScript('store_all', STORE_ALL);
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
    const stored = (await redis.client.pipelined([{ command: 'mget', args: keys, buffers: true }]))[0] as Buffer[];
    stored.forEach((value, i) => {
      const arg = args[i];
      assert.deepEqual(value, Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), 'utf8'), `argument ${i}`);
    });
  });

  it('runs the script again after the server forgot it (SCRIPT FLUSH: NOSCRIPT answered to EVALSHA)', async () => {
    const script = redis.client.defineScript('store_all_again', STORE_ALL);
    assert.deepEqual(await script.run(['flush:a'], ['1']), [1, '1']);
    redis.cli('SCRIPT', 'FLUSH');
    assert.deepEqual(await script.run(['flush:a'], ['2']), [1, '2']);
    assert.equal(await redis.client.get('flush:a'), '2');
  });

  it('runs plain commands in a pipeline, in order, with UTF-8 or Buffer replies as asked', async () => {
    const answers = await redis.client.pipelined([
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
    const script = redis.client.defineScript('fails', `return redis.error_reply('ERR nope')`);
    await assert.rejects(
      script.run(['x'], []),
      (error: unknown) => error instanceof RiskEngineError && error.code === 'REDIS_ERROR' && !error.retriable,
    );
  });
});
