import { CooldownStore, MAX_STARTS_PER_COOLDOWN, cooldownKey, type CooldownAnswer, type CooldownClaim } from '@risk/domain';
import { retry } from '../retry/retry';
import type { RedisClient, RedisScript, ScriptCall } from './redis.client';

/**
 * `judgeClaim` (libs/domain/src/suppression/cooldown-store.ts) on one key:
 * a sorted set of the rule+entity's cooldown starts (member = the event_id
 * whose alert started it, score = its event time).
 * KEYS[1]: the starts. ARGV: event time, event_id, duration, ttl, most
 * starts kept. Old starts are not trimmed by event time: a batch decided
 * again may span any stretch of event time and must find every start it made;
 * the count bound and the key's expiry keep the set small.
 * Answers {0} (not running; started unless it was this event's own) or
 * {1, start, event_id} (running).
 */
const CLAIM = `
local t = tonumber(ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then return {0} end
local latest = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[1], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
if #latest > 0 and t < tonumber(latest[2]) + tonumber(ARGV[3]) then return {1, latest[2], latest[1]} end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[5]) + 1))
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
return {0}
`;

/**
 * Wall-clock slack on each key's expiry beyond the cooldown and the allowed
 * lateness: a consumer that stalls between two events of an entity (a
 * restart, a paused partition) must still find the cooldown.
 */
const EXPIRY_SLACK_MS = 3_600_000;

export interface RedisCooldownStoreOptions {
  readonly keyPrefix: string;
  /** ALLOWED_LATENESS: starts are kept this long (event time) after their cooldown ends, for late events. */
  readonly latenessMs: number;
  /** Attempts per batch on a retriable Redis error before the error is passed on (claims are idempotent). Default 3. */
  readonly attempts?: number;
}

/**
 * Cooldowns shared by every instance: one key per rule and entity
 * (`<prefix>cooldown:<rule id length>:<rule id>:<field>:<value>`), each claim
 * one small script on its one key, so it runs on Redis Cluster too; a batch's
 * claims go in one round trip (one pipeline per master, in order), and two
 * instances claiming the same cooldown are serialised by Redis. Keys expire
 * (wall clock) after the cooldown, the allowed lateness and an hour of slack.
 */
export class RedisCooldownStore extends CooldownStore {
  private readonly script: RedisScript;
  private readonly attempts: number;

  constructor(
    private readonly client: RedisClient,
    private readonly options: RedisCooldownStoreOptions,
  ) {
    super();
    this.script = client.defineScript('cooldown_claim', CLAIM);
    this.attempts = options.attempts ?? 3;
  }

  keyOf(claim: Pick<CooldownClaim, 'ruleId' | 'field' | 'value'>): string {
    return `${this.options.keyPrefix}cooldown:${cooldownKey(claim)}`;
  }

  async claim(claims: readonly CooldownClaim[]): Promise<CooldownAnswer[]> {
    if (claims.length === 0) return [];
    const calls: ScriptCall[] = claims.map((claim) => ({
      script: this.script,
      keys: [this.keyOf(claim)],
      args: [
        claim.eventTime,
        claim.eventId,
        claim.durationMs,
        claim.durationMs + this.options.latenessMs + EXPIRY_SLACK_MS,
        MAX_STARTS_PER_COOLDOWN,
      ],
    }));
    // A retry may meet claims the failed attempt applied: they answer as before (own start, or the same running one).
    const replies = (await retry(() => this.client.runScripts(calls), {
      initialMs: 50,
      maxMs: 500,
      maxAttempts: this.attempts,
    })) as [number, string?, string?][];
    return replies.map(([running, startedAt, startedBy]) =>
      running === 1 ? { running: true, startedAt: Number(startedAt), startedBy: startedBy! } : { running: false },
    );
  }
}
