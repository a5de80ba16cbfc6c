import { SnoozeStore, type Snooze, type SnoozeAuditEntry, type SnoozeAuditPage } from '@risk/domain';
import type { RedisClient, RedisScript } from './redis.client';
import { RedisChannelFollowers } from './redis-channel-followers';

/*
 * Every key shares the hash tag {snoozes}: each script touches one slot, so
 * it runs on Redis Cluster too. Documents are JSON built by the caller; the
 * scripts splice them, never re-encode them.
 */

/** KEYS: items, expiries, audit. ARGV: id, snooze, expires ms, now ms, max active, audit entry, channel. */
const CREATE = `
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('LPUSH', KEYS[3], ARGV[6])
redis.call('PUBLISH', ARGV[7], 'create')
return 1
`;

/** KEYS: items, expiries, audit. ARGV: id, audit entry without its snooze (a JSON object), channel. */
const REMOVE = `
local snooze = redis.call('HGET', KEYS[1], ARGV[1])
if not snooze then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], string.sub(ARGV[2], 1, -2) .. ',"snooze":' .. snooze .. '}')
redis.call('PUBLISH', ARGV[3], 'delete')
return snooze
`;

/** KEYS: audit. ARGV: offset, limit. */
const AUDIT = `
local total = redis.call('LLEN', KEYS[1])
local first = tonumber(ARGV[1])
return {total, redis.call('LRANGE', KEYS[1], first, first + tonumber(ARGV[2]) - 1)}
`;

/**
 * Snoozes shared by the fleet:
 *
 *   <prefix>{snoozes}:items     hash  id → snooze document
 *   <prefix>{snoozes}:expiries  sorted set  id by expiry (epoch ms), to drop expired ones on the next create
 *   <prefix>{snoozes}:audit     list, newest first (never trimmed: the record of who held back which alerts)
 *
 * A create or delete writes its audit entry and publishes on
 * `<prefix>snoozes:changed` in the same script; every instance reloads on it.
 */
export class RedisSnoozeStore extends SnoozeStore {
  readonly channel: string;
  private readonly keys: { items: string; expiries: string; audit: string };
  private readonly createScript: RedisScript;
  private readonly removeScript: RedisScript;
  private readonly auditScript: RedisScript;
  private readonly followers: RedisChannelFollowers;

  constructor(
    private readonly client: RedisClient,
    keyPrefix: string,
  ) {
    super();
    this.keys = { items: `${keyPrefix}{snoozes}:items`, expiries: `${keyPrefix}{snoozes}:expiries`, audit: `${keyPrefix}{snoozes}:audit` };
    this.channel = `${keyPrefix}snoozes:changed`;
    this.followers = new RedisChannelFollowers(client, this.channel);
    this.createScript = client.defineScript('snooze_create', CREATE);
    this.removeScript = client.defineScript('snooze_remove', REMOVE);
    this.auditScript = client.defineScript('snooze_audit', AUDIT);
  }

  async list(): Promise<Snooze[]> {
    return Object.values(await this.client.hgetall(this.keys.items)).map((text) => JSON.parse(text) as Snooze);
  }

  async create(snooze: Snooze, maxActive: number, now: number): Promise<boolean> {
    const entry: SnoozeAuditEntry = { at: snooze.created_at, actor: snooze.created_by, action: 'create', snooze };
    const created = await this.createScript.run(
      [this.keys.items, this.keys.expiries, this.keys.audit],
      [snooze.id, JSON.stringify(snooze), Date.parse(snooze.expires_at), now, maxActive, JSON.stringify(entry), this.channel],
    );
    return created === 1;
  }

  async remove(id: string, actor: string, at: string, reason?: string): Promise<Snooze | undefined> {
    const removed = await this.removeScript.run(
      [this.keys.items, this.keys.expiries, this.keys.audit],
      [id, JSON.stringify({ at, actor, action: 'delete', ...(reason === undefined ? {} : { reason }) }), this.channel],
    );
    return typeof removed === 'string' ? (JSON.parse(removed) as Snooze) : undefined;
  }

  async audit(limit: number, offset: number): Promise<SnoozeAuditPage> {
    if (limit <= 0) return { total: 0, items: [] };
    const [total, items] = (await this.auditScript.run([this.keys.audit], [offset, limit])) as [number, string[]];
    return { total, items: items.map((text) => JSON.parse(text) as SnoozeAuditEntry) };
  }

  subscribe(listener: () => void): Promise<() => Promise<void>> {
    return this.followers.follow(() => listener());
  }

  override close(): Promise<void> {
    return this.followers.close();
  }
}
