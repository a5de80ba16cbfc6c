import { NotFoundError } from '@risk/domain';
import {
  RuleSetStore,
  StaleWriteError,
  versionRecord,
  auditedFeatures,
  type AuditEntry,
  type AuditPage,
  type RuleSetChange,
  type RuleSetVersion,
  type RuleSetVersionSummary,
} from '@risk/domain/rules/lifecycle';
import type { RedisClient, RedisScript } from './redis.client';
import { RedisChannelFollowers } from './redis-channel-followers';

/*
 * Every key shares the hash tag {rules}, so each script touches one slot and
 * also runs on Redis Cluster. Documents are JSON built by the caller; the
 * scripts only splice in the numbers they decide (version, previous version),
 * so no JSON is re-encoded by Lua's cjson (which would turn [] into {}).
 */

/** KEYS: active, versions, summaries, audit. ARGV: based_on, version body, summary body, audit body, channel. */
const COMMIT = `
local active = tonumber(redis.call('GET', KEYS[1]) or '0')
if active ~= tonumber(ARGV[1]) then return {0, active} end
local n = redis.call('HLEN', KEYS[2]) + 1
if redis.call('HSETNX', KEYS[2], n, '{"version":' .. n .. ',' .. string.sub(ARGV[2], 2)) == 0 then
  return redis.error_reply('ERR rule set version ' .. n .. ' already exists')
end
redis.call('HSET', KEYS[3], n, '{"version":' .. n .. ',' .. string.sub(ARGV[3], 2))
redis.call('SET', KEYS[1], n)
redis.call('LPUSH', KEYS[4], '{"version":' .. n .. ',"previous_version":' .. active .. ',' .. string.sub(ARGV[4], 2))
redis.call('PUBLISH', ARGV[5], n)
return {1, n}
`;

/** KEYS: active, summaries, audit. ARGV: version, expected ('' = any), audit body, channel. */
const ACTIVATE = `
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {-1, 0} end
local active = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[2] ~= '' and tonumber(ARGV[2]) ~= active then return {0, active} end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[3], '{"version":' .. ARGV[1] .. ',"previous_version":' .. active .. ',' .. string.sub(ARGV[3], 2))
redis.call('PUBLISH', ARGV[4], ARGV[1])
return {1, active}
`;

/** KEYS: audit. ARGV: offset, limit. The list is newest first (LPUSH). */
const AUDIT = `
local total = redis.call('LLEN', KEYS[1])
local first = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[1], first, first + tonumber(ARGV[2]) - 1)
return {total, items}
`;

/** Parsed versions kept in memory: they never change, and instances re-read the active one often. */
const CACHE_SIZE = 64;

/**
 * Rule set versions in Redis, shared by every instance:
 *
 *   <prefix>{rules}:versions   hash  version → the immutable version document
 *   <prefix>{rules}:summaries  hash  version → its summary (for listings without the rules)
 *   <prefix>{rules}:active     string, the active version
 *   <prefix>{rules}:audit      list, newest first
 *
 * `commit` and `activate` are Lua scripts: the compare-and-set on the active
 * pointer, the writes and the PUBLISH on `<prefix>rules:activated` happen
 * atomically, so every instance is told about exactly the versions that won.
 */
export class RedisRuleSetStore extends RuleSetStore {
  readonly channel: string;
  private readonly keys: { active: string; versions: string; summaries: string; audit: string };
  private readonly commitScript: RedisScript;
  private readonly activateScript: RedisScript;
  private readonly auditScript: RedisScript;
  private readonly cache = new Map<number, RuleSetVersion>();
  private readonly followers: RedisChannelFollowers;

  constructor(
    private readonly client: RedisClient,
    keyPrefix: string,
    private readonly options: { ownsClient?: boolean; now?: () => Date } = {},
  ) {
    super();
    this.keys = {
      active: `${keyPrefix}{rules}:active`,
      versions: `${keyPrefix}{rules}:versions`,
      summaries: `${keyPrefix}{rules}:summaries`,
      audit: `${keyPrefix}{rules}:audit`,
    };
    this.channel = `${keyPrefix}rules:activated`;
    this.followers = new RedisChannelFollowers(client, this.channel);
    this.commitScript = client.defineScript('rules_commit', COMMIT);
    this.activateScript = client.defineScript('rules_activate', ACTIVATE);
    this.auditScript = client.defineScript('rules_audit', AUDIT);
  }

  /** The key of the active pointer (tests write it directly to simulate a lost notification). */
  get activeKey(): string {
    return this.keys.active;
  }

  async activeVersion(): Promise<number | undefined> {
    const text = await this.client.get(this.keys.active);
    return text === null ? undefined : Number(text);
  }

  async getVersion(version: number): Promise<RuleSetVersion | undefined> {
    const cached = this.cache.get(version);
    if (cached !== undefined) return cached;
    const text = await this.client.hget(this.keys.versions, String(version));
    if (text === null) return undefined;
    const parsed = JSON.parse(text) as RuleSetVersion;
    if (this.cache.size >= CACHE_SIZE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(version, parsed);
    return parsed;
  }

  async listVersions(): Promise<RuleSetVersionSummary[]> {
    const [all, active] = await Promise.all([this.client.hgetall(this.keys.summaries), this.activeVersion()]);
    return Object.values(all)
      .map((text) => JSON.parse(text) as Omit<RuleSetVersionSummary, 'active'>)
      .sort((a, b) => b.version - a.version)
      .map((summary) => ({ ...summary, active: summary.version === active }));
  }

  async commit(change: RuleSetChange): Promise<RuleSetVersion> {
    const at = (this.options.now ?? (() => new Date()))();
    const record = versionRecord(change, at);
    const summary = {
      created_at: record.created_at,
      created_by: record.created_by,
      based_on: record.based_on,
      action: record.action,
      rule_id: record.rule_id,
      rule_count: record.rules.length,
    };
    const audit = {
      at: record.created_at,
      actor: change.actor,
      action: change.action,
      rule_id: record.rule_id,
      before: change.before,
      after: change.after,
      ...auditedFeatures(change),
    };
    const [ok, value] = (await this.commitScript.run(
      [this.keys.active, this.keys.versions, this.keys.summaries, this.keys.audit],
      [change.basedOn, JSON.stringify(record), JSON.stringify(summary), JSON.stringify(audit), this.channel],
    )) as [number, number];
    if (ok !== 1) throw new StaleWriteError(change.basedOn, value === 0 ? undefined : value);
    const version: RuleSetVersion = { version: value, ...record };
    this.cache.set(value, version);
    return version;
  }

  async activate(version: number, actor: string, expected?: number): Promise<AuditEntry> {
    const at = (this.options.now ?? (() => new Date()))().toISOString();
    const body = { at, actor, action: 'activate' as const, rule_id: null, before: null, after: null };
    const [ok, previous] = (await this.activateScript.run(
      [this.keys.active, this.keys.summaries, this.keys.audit],
      [version, expected === undefined ? '' : expected, JSON.stringify(body), this.channel],
    )) as [number, number];
    if (ok === -1) throw new NotFoundError('rule set version', version);
    if (ok === 0) throw new StaleWriteError(expected ?? 0, previous === 0 ? undefined : previous);
    return { version, previous_version: previous, ...body };
  }

  async audit(limit: number, offset: number): Promise<AuditPage> {
    if (limit <= 0) return { total: 0, items: [] };
    const [total, items] = (await this.auditScript.run([this.keys.audit], [offset, limit])) as [number, string[]];
    return { total, items: items.map((text) => JSON.parse(text) as AuditEntry) };
  }

  subscribe(listener: (version: number | undefined) => void): Promise<() => Promise<void>> {
    return this.followers.follow((message) => {
      const version = Number(message);
      listener(message !== undefined && Number.isInteger(version) ? version : undefined);
    });
  }

  async close(): Promise<void> {
    await this.followers.close();
    if (this.options.ownsClient === true) await this.client.quit();
  }
}
