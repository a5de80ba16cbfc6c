/**
 * How long an entity key lives in Redis, and when a write may leave its TTL
 * as it is (issue 12: Redis CPU per event).
 *
 * Refreshing the TTL at every write (`SET … PX`) makes Redis drop and
 * re-insert the key's entry in its expires table: with the argument parsing,
 * about a third of a SET (redis-callgrind: ~3,700 instructions of it, and a
 * third of the script's instruction-cache misses). So a key gets its group's
 * retention **plus a slack** as TTL when a write refreshes it, and a write
 * that this process sends within the slack (less a margin) of its own last
 * refresh keeps the TTL (`SET … XX KEEPTTL`): the key then still lives at
 * least the retention after that write. An idle key is thus kept for the
 * retention and at most one slack more.
 *
 * Only a single node's writes keep a TTL, and only when the write token shows
 * that no other writer wrote since this process's previous write (FAST, see
 * redis-single-node-write.ts): then nothing but this process set the key's
 * TTL since its refresh. A key deleted outside the engine meanwhile is
 * written again with a TTL (`XX` fails, then `PX`).
 */

/** The longest slack: an idle key outlives its retention by at most this much. */
const MAX_SLACK_MS = 3_600_000;
/**
 * A refresh is counted from when its write was computed; the write reaches
 * Redis later (queued behind the process's other writes, at most a command
 * timeout). The keep window ends this long before the slack does.
 */
const KEEP_MARGIN_MS = 300_000;

/** Beyond the retention, at most an hour and at most the retention itself. */
function slackMs(retentionMs: number): number {
  return Math.min(MAX_SLACK_MS, retentionMs);
}

/** The TTL a write that refreshes it gives an entity key of a group with this retention. */
export function entityTtlMs(retentionMs: number): number {
  const retention = Math.max(retentionMs, 1);
  return retention + slackMs(retention);
}

/**
 * How long after computing a write that refreshed the TTL this process may
 * keep it (0: never): the slack less a margin, at most half the slack.
 */
export function keepTtlWindowMs(retentionMs: number): number {
  const slack = slackMs(Math.max(retentionMs, 1));
  return Math.max(0, slack - Math.max(KEEP_MARGIN_MS, slack / 2));
}
