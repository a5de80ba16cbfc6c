import { execFileSync } from 'node:child_process';
import { after, before } from 'node:test';
import { RedisClient } from '@risk/infra/redis/redis.client';
import { TestRedisServer } from './redis-server';

/** A test file's private redis-server and a client connected to it (see `sharedRedis`). */
export interface SharedRedis {
  readonly server: TestRedisServer;
  readonly client: RedisClient;
  /** `redis-cli` against the server, the independent client: its trimmed output. */
  cli(...args: string[]): string;
}

/**
 * Registers a test file's `before` and `after` hooks: one private
 * redis-server on a free port with a ready client, stopped after the file's
 * tests. Use the returned object's fields inside tests (they are set once
 * `before` has run). A server that cannot start fails `before`, and with it
 * every test of the file, saying why.
 */
export function sharedRedis(commandTimeoutMs = 2_000): SharedRedis {
  let server: TestRedisServer | undefined;
  let client: RedisClient | undefined;
  before(async () => {
    server = await TestRedisServer.start();
    client = new RedisClient({ url: server.url, commandTimeoutMs });
    await client.waitReady();
  });
  after(async () => {
    await client?.quit();
    await server?.dispose();
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('sharedRedis: used before its before() hook ran');
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get client() {
      return started(client);
    },
    cli: (...args) => execFileSync('redis-cli', ['-p', String(started(server).port), ...args], { encoding: 'utf8' }).trim(),
  };
}
