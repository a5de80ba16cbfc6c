import { createHash } from 'node:crypto';
import {
  RiskEngineError,
  buildEntityGroups,
  featureId,
  type EntityGroup,
  type EntityState,
  type FeatureDefinition,
  type StateSettings,
} from '@risk/domain';
import {
  decodeLegacyEntity,
  legacyEntityGroups,
  legacyFeatureId,
  parseLegacyEntityKey,
  type LegacyEntity,
  type LegacySection,
} from './legacy-redis-layout';
import { ABSENT_VERSION, EntityCodec, nextVersion } from './redis-entity.codec';
import { entityTtlMs } from './redis-entity-ttl';
import { RedisFeatureStore } from './redis-feature.store';
import { STATE_LAYOUT_VERSION, legacyEntityPattern, stateLayoutMarker } from './redis-state-layout';
import { escapeGlob } from './redis-keys';
import { type PipelineCall, type RedisClient } from './redis.client';

/**
 * `risk-engine migrate-state`: converts the entity state of the first Redis
 * store (generated Lua, keys `<prefix>{<code>:<value>}:e<layout>`, decoded by
 * legacy-redis-layout.ts) into the current layout (`<prefix>{<code>:<value>}:s`,
 * redis-entity.codec.ts), then marks the prefix (`<prefix>state-layout` = 2)
 * so that the engine starts. Partition keys (`:st`, `:dd`, `:ord`) keep their
 * format and are left as they are.
 *
 * Per old entity key, in one script (old and new key share the hash tag, so
 * one slot): the old value must still be the one decoded (else the key is
 * reported, not touched: an engine of the old version is still writing); the
 * new key is written only if it does not exist (a re-run, or a newer engine
 * wrote it: never overwritten), with the old key's remaining TTL; the old key
 * is deleted. Old keys of other feature definitions (a layout these
 * definitions do not produce: state the old store no longer read either) are
 * deleted. Keys that do not decode are left in place and reported, and the
 * prefix is then NOT marked: the engine keeps refusing until they are dealt
 * with. Safe to re-run: what was migrated is gone from the old layout.
 */
export interface StateMigrationOptions {
  readonly keyPrefix: string;
  /** The engine's feature definitions (rules/features.json); unused with `discard`. */
  readonly definitions: readonly FeatureDefinition[];
  /** The engine's settings: only the TTL of an old key that had none comes from them. */
  readonly settings: StateSettings;
  /** Deletes the old entity keys instead of converting them. */
  readonly discard?: boolean;
}

export interface StateMigrationReport {
  /** Old entity keys converted and written to the new layout. */
  readonly migrated: number;
  /** Old entity keys whose new key already existed (kept as it was); the old key was deleted. */
  readonly alreadyMigrated: number;
  /** Old entity keys of these definitions without any state left (nothing to write); deleted. */
  readonly empty: number;
  /** Old entity keys of other feature definitions (a layout these definitions do not produce); deleted. */
  readonly foreignLayout: number;
  /** `discard`: old entity keys deleted. */
  readonly discarded: number;
  /** Old entity keys left in place: undecodable, or changed while being migrated. */
  readonly failed: number;
  /** Up to 20 of the failed keys, with the reason. */
  readonly failures: readonly string[];
  /** Old applied records (`:ap`) deleted: the new store names its own the same way and cannot read them. */
  readonly appliedRecords: number;
  /** Whether the prefix is now marked as the current layout (false when some keys failed). */
  readonly marked: boolean;
}

/** Entity entries are not trimmed by the migration: the engine ignores (and later trims) what its windows no longer reach. */
const KEEP_ALL_MS = 1e15;

/**
 * KEYS: old entity key, new entity key. ARGV: sha1 of the old value as decoded,
 * new value, TTL (ms) when the old key has none.
 * Returns 1 written, 2 the new key existed (kept), 0 the old key changed or disappeared (nothing done).
 */
const MIGRATE_ENTITY_SCRIPT = `
local old = redis.call('GET', KEYS[1])
if not old or redis.sha1hex(old) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = tonumber(ARGV[3]) end
local result = 2
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ttl)
  result = 1
end
redis.call('DEL', KEYS[1])
return result
`;

/** KEYS: one key. Deletes it; returns how many keys were deleted. */
const DELETE_SCRIPT = `return redis.call('UNLINK', KEYS[1])`;

const MAX_FAILURES_LISTED = 20;

export async function migrateState(client: RedisClient, options: StateMigrationOptions): Promise<StateMigrationReport> {
  const { keyPrefix, discard = false } = options;
  const marker = stateLayoutMarker(keyPrefix);
  const wasMarked = (await client.get(marker)) === STATE_LAYOUT_VERSION;
  const deleteKey = client.defineScript('migrate_delete', DELETE_SCRIPT);
  const migrateEntity = client.defineScript('migrate_entity', MIGRATE_ENTITY_SCRIPT);
  const isLegacy = (key: string): boolean => parseLegacyEntityKey(key, keyPrefix) !== undefined;
  const counts = { migrated: 0, alreadyMigrated: 0, empty: 0, foreignLayout: 0, discarded: 0, failed: 0 };
  const failures: string[] = [];
  const fail = (key: string, reason: string): void => {
    counts.failed++;
    if (failures.length < MAX_FAILURES_LISTED) failures.push(`${key}: ${reason}`);
  };
  const deleteAll = async (keys: readonly string[]): Promise<number> => {
    const answers = await client.pipelined(keys.map((key): PipelineCall => ({ script: deleteKey, keys: [key], args: [] })));
    return answers.reduce<number>((sum, n) => sum + Number(n), 0);
  };

  if (discard) {
    await client.scanMatching(legacyEntityPattern(keyPrefix), async (page) => {
      counts.discarded += await deleteAll(page.filter(isLegacy));
    });
  } else {
    const converter = new LegacyConverter(client, options);
    // Old state exists but none of it is of these definitions: most likely the wrong --rules. Refuse before deleting anything.
    const pattern = legacyEntityPattern(keyPrefix);
    if (
      (await client.findMatching(pattern, 1, isLegacy)).length > 0 &&
      (await client.findMatching(pattern, 1, converter.owns)).length === 0
    ) {
      throw new RiskEngineError(
        'STATE_MIGRATION_NO_MATCH',
        `the old entity keys under ${JSON.stringify(keyPrefix)} all belong to other feature definitions than these ` +
          `(${options.definitions.map((d) => d.name).join(', ')}): wrong --rules? Nothing was changed. ` +
          `Run with the rules the old engines ran with, or with --discard to drop the old state.`,
        false,
      );
    }
    await client.scanMatching(pattern, async (page) => {
      const keys = page.filter(isLegacy);
      if (keys.length === 0) return;
      const values = (await client.pipelined(
        keys.map((key): PipelineCall => ({ command: 'get', args: [key], buffers: true })),
      )) as (Buffer | null)[];
      const writes: { key: string; call: PipelineCall }[] = [];
      const foreign: string[] = [];
      const empty: string[] = [];
      keys.forEach((key, i) => {
        const value = values[i];
        if (value === null) return; // expired meanwhile, or listed twice by SCAN and already migrated
        let converted: { key: string; blob: Buffer; ttlMs: number } | 'foreign' | 'empty';
        try {
          converted = converter.convert(key, value);
        } catch (error) {
          fail(key, (error as Error).message);
          return;
        }
        if (converted === 'foreign') foreign.push(key);
        else if (converted === 'empty') empty.push(key);
        else {
          const sha1 = createHash('sha1').update(value).digest('hex');
          writes.push({
            key,
            call: { script: migrateEntity, keys: [key, converted.key], args: [sha1, converted.blob, String(converted.ttlMs)] },
          });
        }
      });
      const answers = await client.pipelined(writes.map((w) => w.call));
      answers.forEach((answer, i) => {
        const n = Number(answer);
        if (n === 1) counts.migrated++;
        else if (n === 2) counts.alreadyMigrated++;
        else fail(writes[i].key, 'changed while being migrated (is an engine of the old version still running?); run again');
      });
      counts.foreignLayout += await deleteAll(foreign);
      counts.empty += await deleteAll(empty);
    });
  }

  // The old applied records share their names with the new store's and cannot be read by it. They matter only within an
  // hour of a crash of an old engine. Once the prefix is marked, a new engine may be running: its records stay.
  let appliedRecords = 0;
  if (!wasMarked) {
    for (const pattern of [`${escapeGlob(keyPrefix)}{*}:ap`, `${escapeGlob(keyPrefix)}{*}:ap:*`]) {
      await client.scanMatching(pattern, async (page) => {
        appliedRecords += await deleteAll(page);
      });
    }
  }
  const marked = counts.failed === 0;
  if (marked) await client.set(marker, STATE_LAYOUT_VERSION);
  return { ...counts, failures, appliedRecords, marked };
}

/** Old entity (decoded) → the current layout's key, blob and TTL. */
class LegacyConverter {
  private readonly store: RedisFeatureStore;
  private readonly groups: EntityGroup[];
  private readonly codecs: EntityCodec[];
  /** TTL of an old key that had none: the group's retention under the engine's settings. */
  private readonly ttls: number[];
  private readonly layouts: Set<string>;
  private readonly decodeSettings: StateSettings;

  constructor(
    client: RedisClient,
    private readonly options: StateMigrationOptions,
  ) {
    const { definitions, settings, keyPrefix } = options;
    for (const definition of definitions) {
      // The sections are matched by feature id: the old store's fingerprint must be the current one.
      if (legacyFeatureId(definition) !== featureId(definition)) {
        throw new RiskEngineError('STATE_MIGRATION_FEATURE_ID', `feature ${definition.name}: old and new feature ids differ`, false);
      }
    }
    this.decodeSettings = { ...settings, allowedLatenessMs: KEEP_ALL_MS };
    this.store = new RedisFeatureStore(client, definitions, settings, { keyPrefix });
    this.groups = buildEntityGroups(definitions, this.decodeSettings);
    this.codecs = this.groups.map((group) => new EntityCodec(group));
    this.ttls = buildEntityGroups(definitions, settings).map((group) => entityTtlMs(group.retentionMs));
    this.layouts = new Set(legacyEntityGroups(definitions).map((g) => `${g.code}:${g.layout}`));
  }

  /** Whether an old entity key has one of these definitions' layouts. */
  readonly owns = (key: string): boolean => {
    const parsed = parseLegacyEntityKey(key, this.options.keyPrefix);
    return parsed !== undefined && this.layouts.has(`${parsed.code}:${parsed.layout}`);
  };

  /** Throws `LEGACY_STATE_CORRUPT` when the bytes do not fit the key's layout. */
  convert(key: string, value: Buffer): { key: string; blob: Buffer; ttlMs: number } | 'foreign' | 'empty' {
    const { definitions, keyPrefix } = this.options;
    const legacy = decodeLegacyEntity(key, value, definitions, this.decodeSettings, keyPrefix);
    if (legacy === undefined) return 'foreign';
    if (legacy.newest === undefined || legacy.sections.length === 0) return 'empty';
    const index = this.groups.findIndex((g) => g.entity === legacy.entity);
    const state = entityState(this.groups[index], legacy, legacy.newest);
    return {
      key: this.store.entityKey(legacy.entity, legacy.value),
      blob: this.codecs[index].encode(state, nextVersion(ABSENT_VERSION)),
      ttlMs: this.ttls[index],
    };
  }
}

/** The decoded sections in the group's slots, by feature id. */
export function entityState(group: EntityGroup, legacy: LegacyEntity, newest: number): EntityState {
  const byId = new Map<string, LegacySection>(legacy.sections.map((s) => [s.featureId, s]));
  return {
    series: group.windowed.map((slot) => {
      const section = byId.get(slot.id);
      if (section?.kind !== 'series' || section.times.length === 0) return undefined;
      return { times: [...section.times], values: [...section.values], sliding: undefined };
    }),
    latest: group.changed.map((slot) => {
      const section = byId.get(slot.id);
      return section?.kind === 'latest' ? { value: section.value, time: section.time } : undefined;
    }),
    newest,
  };
}
