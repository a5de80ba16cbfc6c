/** A time in epoch ms, or the clock to read it from: read only when a found entry has an expiry. */
export type Clock = number | (() => number);

/**
 * Whether an entry with this expiry matches at `now`: undefined (no entry)
 * and NaN (no range ends at this trie node) never do, +Infinity always does.
 */
export function inForce(expiry: number | undefined, now: Clock): boolean {
  if (expiry === undefined || expiry !== expiry) return false;
  return expiry === Number.POSITIVE_INFINITY || expiry > (typeof now === 'number' ? now : now());
}
