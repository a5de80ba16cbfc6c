import type { FeatureDefinition } from '@risk/domain';
import { CONFIG_TABLE, loadConfig } from '@risk/infra/config/engine-config';
import type { RedisClient } from '@risk/infra/redis/redis.client';
import { migrateState, type StateMigrationReport } from '@risk/infra/redis/redis-state-migration';
import { describeRedisTarget, openRedis, type RedisTarget } from '@risk/infra/wiring/open-redis';
import { loadRulesDirFeatures } from '@risk/infra/wiring/rules-dir-features';
import { UsageError, parseArgs } from './args';
import { MIGRATE_STATE_USAGE } from './migrate-state-usage';
import type { ReplayIo } from './replay.command';

/** Longest wait for the connection and for any one command (a SCAN page, a pipeline of one page's keys). */
const TIMEOUT_MS = 10_000;

/**
 * `risk-engine migrate-state`: converts the feature state that the first
 * Redis store (generated Lua) left under a key prefix into the current
 * layout, or drops it with `--discard`, then marks the prefix so that the
 * engine starts (it refuses while old state is there). The work is
 * redis-state-migration.ts; this parses, opens and prints.
 * Exit 0 when the prefix is marked; 1 when keys were left (listed) or the
 * old state is of other definitions; 2 for unusable arguments, rules or Redis.
 */
export async function runMigrateState(argv: readonly string[], io: ReplayIo): Promise<number> {
  const discard = argv.includes('--discard');
  let args: Map<string, string>;
  let target: RedisTarget;
  try {
    args = parseArgs(
      argv.filter((arg) => arg !== '--discard'),
      ['redis', 'redis-cluster', 'key-prefix', 'rules'],
    );
    const url = args.get('redis');
    const cluster = args.get('redis-cluster');
    if ((url === undefined) === (cluster === undefined)) throw new UsageError('one of --redis or --redis-cluster is required');
    if (url !== undefined && !/^rediss?:\/\//.test(url)) throw new UsageError('--redis must be a redis:// URL');
    const nodes = cluster
      ?.split(',')
      .map((node) => node.trim())
      .filter((node) => node !== '');
    if (nodes !== undefined && nodes.length === 0) throw new UsageError('--redis-cluster needs host:port seeds');
    target = { url, clusterNodes: nodes };
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n${MIGRATE_STATE_USAGE}\n`);
    return 2;
  }
  // The service's defaults (REDIS_KEY_PREFIX, the retentions), from the one config table; no environment is read.
  const defaults = loadConfig({});
  const keyPrefix = args.get('key-prefix') ?? CONFIG_TABLE.REDIS_KEY_PREFIX.default;
  let definitions: readonly FeatureDefinition[] = [];
  if (!discard) {
    const rulesDir = args.get('rules') ?? 'rules';
    try {
      // Without features.json, the shipped defaults, as the service and replay do (issue 13 item 4).
      definitions = loadRulesDirFeatures(rulesDir, (message) => io.stderr.write(`migrate-state: ${message}\n`));
    } catch (error) {
      io.stderr.write(`migrate-state: cannot load the feature definitions from ${rulesDir}: ${(error as Error).message}\n`);
      return 2;
    }
  }
  const where = describeRedisTarget(target);
  let client: RedisClient;
  try {
    client = await openRedis(target, { readyTimeoutMs: TIMEOUT_MS, commandTimeoutMs: TIMEOUT_MS });
  } catch (error) {
    io.stderr.write(`migrate-state: cannot reach Redis at ${where}: ${(error as Error).message}\n`);
    return 2;
  }
  let report: StateMigrationReport;
  try {
    report = await migrateState(client, { keyPrefix, definitions, settings: defaults.state, discard });
  } catch (error) {
    client.disconnect();
    io.stderr.write(`migrate-state: ${where} ${JSON.stringify(keyPrefix)}: ${(error as Error).message}\n`);
    return 1;
  }
  await client.quit();
  const counts = discard
    ? `discarded ${report.discarded}`
    : `migrated ${report.migrated}, already migrated ${report.alreadyMigrated}, empty ${report.empty}, ` +
      `foreign layout ${report.foreignLayout} (deleted), failed ${report.failed}`;
  io.stdout.write(
    `migrate-state ${where} prefix ${JSON.stringify(keyPrefix)}: ${counts}; old applied records deleted ${report.appliedRecords}\n`,
  );
  if (!report.marked) {
    io.stderr.write(
      `migrate-state: ${report.failed} old entity keys were left in place, the engine will keep refusing to start:\n` +
        report.failures.map((failure) => `  ${failure}\n`).join('') +
        `run again once no engine of the old version runs, or delete those keys, or use --discard\n`,
    );
    return 1;
  }
  io.stdout.write(`migrate-state: the prefix holds the current state layout; the engine can start\n`);
  return 0;
}
