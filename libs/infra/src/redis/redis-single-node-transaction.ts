import { constantArgs, type CommandArg } from './redis-command.encoding';
import type { Unit } from './redis-entity-states';
import { isCheckOnly } from './redis-feature.scripts';

/** Keys of a partition's acceptance state (RedisFeatureStore.partitionKeys; the hash tag keeps them in one slot). */
export interface PartitionKeys {
  readonly state: string;
  readonly dedup: string;
  readonly order: string;
  readonly lock: string;
}

/** Encoded once: two entity writes per event on the bench stream. */
const SET = constantArgs('set');
const KEEP_TTL = constantArgs('xx', 'keepttl');
const PX = constantArgs('px');

/** WRITE_AND_COMMIT_SCRIPT's arguments, 0-based (ARGV[n] is n - 1; see redis-feature.scripts.ts). */
const BASE = 1;
const MAX = 2;
const DEDUP_TTL = 3;
const EXPIRE = 4;
const RECORDS = 5;
const SET_FIELD = 6;
const SET_NAMES = 7;
const NEW_TOKEN = 11;
const GROUP_COUNT = 12;
const GROUP_TTLS = 13;

/** A write that keeps its key's TTL (`SET … XX KEEPTTL`): if EXEC answers that the key was gone, it is written again with one. */
export interface KeptWrite {
  /** Its reply's position in EXEC's answer. */
  readonly reply: number;
  readonly key: string;
  readonly blob: Buffer;
  readonly ttl: string;
}

/**
 * The same writes as one WRITE_AND_COMMIT_SCRIPT call that gets through with
 * the token it expects (answer 'OK'), as plain commands for MULTI … EXEC,
 * taken from that call's arguments `args` (so both paths write the same
 * bytes): each written entity's `SET` (`XX KEEPTTL` when its group byte says
 * so, else `PX` its group's TTL; an entity only read is not written), then
 * the commit: the expired dedup records (their event_ids from the order
 * entries the batch read, `head`) and order entries, the new dedup records
 * and order entries with their TTLs, the version, watermark and feature set
 * names, the claim released, the new token. What the script checks (claim,
 * version, headers) the WATCH proves instead (WriteChain.watch).
 */
export function transactionOf(
  args: readonly CommandArg[],
  units: readonly Unit[],
  groups: Buffer,
  keep: Uint8Array,
  keys: PartitionKeys,
  tokenKey: string,
  head: readonly string[],
): { commands: CommandArg[][]; kept: KeptWrite[] } {
  const commands: CommandArg[][] = [];
  const kept: KeptWrite[] = [];
  let at = GROUP_TTLS + Number(args[GROUP_COUNT]);
  for (let i = 0; i < units.length; i++) {
    const key = args[at] as string;
    if (isCheckOnly(groups[i])) {
      at++;
      continue;
    }
    const blob = args[at + 1] as Buffer;
    const ttl = args[GROUP_TTLS + units[i].index] as string;
    if (keep[i] === 1) {
      kept.push({ reply: commands.length, key, blob, ttl });
      commands.push([SET, key, blob, KEEP_TTL]);
    } else commands.push([SET, key, blob, PX, ttl]);
    at += 2;
  }
  const expire = Number(args[EXPIRE]);
  if (expire > 0) {
    const ids: string[] = [keys.dedup];
    for (let i = 0; i < expire; i++) ids.push(head[i].slice(head[i].indexOf(',') + 1));
    commands.push(['hdel', ...ids], ['ltrim', keys.order, expire, -1]);
  }
  const state: CommandArg[] = ['hset', keys.state, 'ver', String(Number(args[BASE]) + 1)];
  if (args[MAX] !== '') state.push('max', args[MAX]);
  if (Number(args[RECORDS]) > 0) {
    state.push(args[SET_FIELD], args[SET_NAMES]);
    const ttl = args[DEDUP_TTL];
    commands.push(
      ['hset', keys.dedup, args[at]],
      ['rpush', keys.order, args[at + 1]],
      ['pexpire', keys.dedup, ttl],
      ['pexpire', keys.order, ttl],
    );
  }
  commands.push(state, ['del', keys.lock], ['set', tokenKey, args[NEW_TOKEN]]);
  return { commands, kept };
}
