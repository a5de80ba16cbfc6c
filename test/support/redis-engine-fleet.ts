import { join } from 'node:path';
import { after, before } from 'node:test';
import { API_KEYS, tempDir } from '../admin/admin-support';
import { ENGINE_MAIN, startEngineProcess, type EngineProcess } from './engine-process';
import { TestRedisServer } from './redis-server';

export interface RedisEngineFleetOptions {
  /** Prefix of the temporary directory holding each instance's DATA_DIR. */
  readonly dataPrefix: string;
  /** REDIS_KEY_PREFIX; the engine's default when absent. */
  readonly keyPrefix?: string;
  readonly instances: number;
}

export interface RedisEngineFleet {
  /** The real redis-server every instance shares (started before the suite's tests). */
  readonly redis: TestRedisServer;
  /** The running instances, in order; a test restarting one puts `start(i)`'s answer in its place. */
  readonly engines: EngineProcess[];
  /** Starts instance `i` (again) with its environment: the shared Redis, its own DATA_DIR, the test API keys. */
  readonly start: (i: number) => Promise<EngineProcess>;
}

/**
 * Engine processes sharing one redis-server, for the suite it is called in:
 * started before its tests (the first alone, as it seeds version 1; the
 * others then find it), stopped after them with the server and the data.
 */
export function redisEngineFleetForSuite(options: RedisEngineFleetOptions): RedisEngineFleet {
  const data = tempDir(options.dataPrefix);
  let redis: TestRedisServer | undefined;
  const engines: EngineProcess[] = [];
  const server = (): TestRedisServer => {
    if (redis === undefined) throw new Error('the fleet starts in the suite’s before hook');
    return redis;
  };
  const start = (i: number): Promise<EngineProcess> =>
    startEngineProcess(ENGINE_MAIN, {
      REDIS_URL: server().url,
      ...(options.keyPrefix === undefined ? {} : { REDIS_KEY_PREFIX: options.keyPrefix }),
      DATA_DIR: join(data.path, `e${i}`),
      API_KEYS,
    });

  before(async () => {
    redis = await TestRedisServer.start();
    engines.push(await start(0));
    const others = Array.from({ length: options.instances - 1 }, (_, i) => i + 1);
    engines.push(...(await Promise.all(others.map(start))));
  });
  after(async () => {
    await Promise.all(engines.map((engine) => engine.stop()));
    await redis?.dispose();
    data.remove();
  });
  return {
    get redis() {
      return server();
    },
    engines,
    start,
  };
}
