import { RiskEngineError } from '@risk/domain';
import { parseLegacyEntityKey } from './legacy-redis-layout';
import { escapeGlob } from './redis-keys';
import { type RedisClient } from './redis.client';

/**
 * Which layout of the feature state a Redis key prefix holds: the marker key
 * `<prefix>state-layout` says '2' once the prefix is known to hold no entity
 * of the first (generated-Lua) layout, either because there was none or
 * because `risk-engine migrate-state` converted or discarded them. See
 * docs/redis.md, "Upgrading from the Lua layout".
 */
export const STATE_LAYOUT_VERSION = '2';

/** Stop counting old entity keys for the refusal message past this many. */
const COUNT_LIMIT = 1000;

export function stateLayoutMarker(keyPrefix: string): string {
  return `${keyPrefix}state-layout`;
}

/** SCAN pattern of the old entity keys `<prefix>{<code>:<value>}:e<layout>` (confirm each with parseLegacyEntityKey). */
export function legacyEntityPattern(keyPrefix: string): string {
  return `${escapeGlob(keyPrefix)}{*}:e*`;
}

/**
 * Resolves when the prefix holds state of the current layout (marker set, or
 * no old entity key found: the marker is then set). Otherwise throws a
 * non-retriable `STATE_LAYOUT_OUTDATED` naming what was found and the
 * command that migrates it: an engine must never compute from empty state
 * while the old state sits unused under other keys.
 */
export async function checkStateLayout(client: RedisClient, keyPrefix: string): Promise<void> {
  const marker = stateLayoutMarker(keyPrefix);
  if ((await client.get(marker)) === STATE_LAYOUT_VERSION) return;
  const found = await client.findMatching(
    legacyEntityPattern(keyPrefix),
    COUNT_LIMIT,
    (key) => parseLegacyEntityKey(key, keyPrefix) !== undefined,
  );
  if (found.length === 0) {
    await client.set(marker, STATE_LAYOUT_VERSION);
    return;
  }
  const count = found.length >= COUNT_LIMIT ? `${COUNT_LIMIT} or more` : String(found.length);
  const command = migrateCommand(client, keyPrefix);
  throw new RiskEngineError(
    'STATE_LAYOUT_OUTDATED',
    `Redis holds feature state in the old layout of the generated-Lua store (${count} old entity keys under the prefix ` +
      `${JSON.stringify(keyPrefix)}, e.g. ${found[0]}); this engine would compute every feature from empty state. ` +
      `Stop every engine of the old version, then convert that state with:\n` +
      `  ${command}\n` +
      `(add --discard to drop the old state instead, --rules <dir> if the features are not in rules/), and start the engine again.`,
    false,
    { found: found.length, example: found[0], command },
  );
}

/** The `migrate-state` command line for this client's target (a password in the URL is not printed). */
export function migrateCommand(client: RedisClient, keyPrefix: string): string {
  const { url, clusterNodes } = client.options;
  const target =
    clusterNodes !== undefined && clusterNodes.length > 0
      ? `--redis-cluster ${clusterNodes.join(',')}`
      : `--redis ${(url ?? 'redis://<host>:<port>').replace(/^(rediss?:\/\/[^:@/]*):[^@/]*@/, '$1:<password>@')}`;
  return `npx risk-engine migrate-state ${target} --key-prefix ${shellWord(keyPrefix)}`;
}

function shellWord(text: string): string {
  return /^[\w:./@%+=,-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}
