import { randomBytes } from 'node:crypto';
import { DependencyUnavailableError, FeatureStore, type StateInput, type StateOutcome } from '@risk/domain';
import { RedisFeatureStore } from '@risk/infra/redis/redis-feature.store';
import type { RedisClient } from '@risk/infra/redis/redis.client';
import { openRedis } from '@risk/infra/wiring/open-redis';
import { parseArgs } from './args';
import type { ReplayIo } from './replay.command';
import { REPLAY_CLEAN_USAGE, type StateFactory, type StateRelease } from './replay-state';

export { REPLAY_CLEAN_USAGE } from './replay-state';

/** One Redis command that gets no answer within this long fails the replay (a stopped server never answers). */
const COMMAND_TIMEOUT_MS = 10_000;

/** Replay's and replay-clean's client: a command unanswered for 10 s fails the command instead of hanging it. */
function openReplayRedis(url: string): Promise<RedisClient> {
  return openRedis({ url, clusterNodes: undefined }, { readyTimeoutMs: COMMAND_TIMEOUT_MS, commandTimeoutMs: COMMAND_TIMEOUT_MS });
}
/** How long the cleanup waits for a lost connection to come back. */
const RECONNECT_WAIT_MS = 5_000;
/** Longest time spent deleting the replay's keys before giving up and printing how to do it. */
const CLEANUP_TIMEOUT_MS = 20_000;

/**
 * `replay --state redis://…`: the Redis backend under a key prefix of its
 * own, so a replay starts from empty state and never touches a live
 * engine's keys; the keys are deleted when the replay ends.
 *
 * A replay cannot survive losing its state, so it does not wait for Redis:
 * a command that fails or times out fails the replay (exit 2). A server
 * restarted without persistence answers again but has forgotten everything,
 * so a marker key is checked after every batch and its absence fails the
 * replay too, instead of silently deciding on empty windows.
 */
export const redisStateFactory: StateFactory = async (url, features, settings) => {
  let client: RedisClient;
  try {
    // A failed open disconnects: the client would otherwise reconnect forever and the process never exit.
    client = await openReplayRedis(url);
  } catch (error) {
    return { ok: false, message: `cannot open state ${url}: ${(error as Error).message}` };
  }
  const prefix = `replay-${randomBytes(4).toString('hex')}:`;
  const marker = `${prefix}marker`;
  const marked = await client.set(marker, String(process.pid)).then(
    () => undefined,
    (error: Error) => error,
  );
  if (marked !== undefined) {
    client.disconnect();
    return { ok: false, message: `cannot open state ${url}: ${marked.message}` };
  }
  // No checkLayout(): the prefix is fresh and random, so there is no old layout to find, and its SCAN would walk
  // the whole keyspace of the server (possibly a production one).
  const redisStore = new RedisFeatureStore(client, features, settings, { keyPrefix: prefix, answersWithoutMessageId: false });
  const checkMarker = async (): Promise<void> => {
    if ((await client.get(marker)) === null) {
      throw new DependencyUnavailableError(
        'redis',
        `Redis lost this replay's state (keys under ${prefix}): the server restarted without persistence, or the keys were deleted`,
      );
    }
  };
  // Every batch's write and marker check so far, still on their way (see applyAhead): the end of the run waits for
  // them, so that a failure of any fails the run; once one is known to have failed, the next batch fails at once.
  let pending: Promise<void> = Promise.resolve();
  let failure: Error | undefined;
  const store = new (class extends FeatureStore {
    async apply(partition: string, inputs: readonly StateInput[]): Promise<StateOutcome[]> {
      if (failure !== undefined) throw failure;
      // The replay cannot be retried and writes its outputs only once complete: its batches take the store's
      // outcomes before Redis has written them, and the rules run while it does.
      const { outcomes, durable } = await redisStore.applyAhead(partition, inputs);
      // The marker GET is sent now, behind the batch's script on the same connection: Redis runs it after the
      // write, and its round trip overlaps the write's instead of following it.
      pending = Promise.all([pending, durable, checkMarker()]).then(() => undefined);
      pending.catch((error: Error) => {
        failure ??= error;
      });
      return outcomes;
    }
    close(): Promise<void> {
      return redisStore.close();
    }
  })();
  return {
    ok: true,
    state: {
      store,
      settle: () => pending,
      description: `Redis state ${url} (keys under ${prefix})`,
      release: () => releaseRedisState(client, redisStore, url, prefix),
    },
  };
};

async function releaseRedisState(client: RedisClient, store: RedisFeatureStore, url: string, prefix: string): Promise<StateRelease> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<Error>((resolve) => {
    timer = setTimeout(() => resolve(new Error(`no answer within ${CLEANUP_TIMEOUT_MS / 1000} s`)), CLEANUP_TIMEOUT_MS);
  });
  // After a restart the client reconnects within a second or so: worth a short wait, then the keys can go.
  const cleanup = store
    .close()
    .then(() => client.waitReady(RECONNECT_WAIT_MS))
    .then(() => client.deleteMatching(`${prefix}*`))
    .then(
      () => undefined,
      (error: Error) => error,
    );
  const failure = await Promise.race([cleanup, deadline]);
  clearTimeout(timer);
  if (failure === undefined) {
    await client.quit();
    return { clean: true };
  }
  client.disconnect();
  return { clean: false, message: cleanupInstructions(url, prefix, failure) };
}

export function cleanupInstructions(url: string, prefix: string, failure: Error): string {
  return (
    `could not delete this replay's Redis keys (prefix ${prefix}): ${failure.message}\n` +
    `they expire on their own (state retention), or delete them once Redis answers again with:\n` +
    `  npx risk-engine replay-clean --state ${url} --prefix ${prefix}\n` +
    `or:\n` +
    `  redis-cli -u ${url} --scan --pattern '${prefix}*' | xargs -r -d '\\n' redis-cli -u ${url} unlink`
  );
}

/** `risk-engine replay-clean`: deletes the keys a failed `replay --state` left behind. */
export async function runReplayClean(argv: readonly string[], io: ReplayIo): Promise<number> {
  let args: Map<string, string>;
  try {
    args = parseArgs(argv, ['state', 'prefix']);
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${REPLAY_CLEAN_USAGE}\n`);
    return 2;
  }
  const url = args.get('state');
  const prefix = args.get('prefix');
  // Only a replay's own prefix: a typo must not wipe a live engine's keys.
  if (url === undefined || !/^rediss?:\/\//.test(url) || prefix === undefined || !/^replay-[0-9a-f]{8}:$/.test(prefix)) {
    io.stderr.write(
      `--state redis://… and --prefix replay-<8 hex digits>: (as printed by the failed replay) are required\n${REPLAY_CLEAN_USAGE}\n`,
    );
    return 2;
  }
  let client: RedisClient;
  try {
    client = await openReplayRedis(url);
  } catch (error) {
    io.stderr.write(`replay-clean: ${url}: ${(error as Error).message}\n`);
    return 2;
  }
  const deleted = await client.deleteMatching(`${prefix}*`).then(
    (count) => count,
    (error: Error) => error,
  );
  if (deleted instanceof Error) {
    client.disconnect();
    io.stderr.write(`replay-clean: ${url}: ${deleted.message}\n`);
    return 2;
  }
  await client.quit();
  io.stderr.write(`replay-clean: deleted ${deleted} keys under ${prefix}\n`);
  return 0;
}
