/** A page of an audit trail kept oldest first, answered newest first (as the Redis stores' LRANGE on their newest-first lists). */
export function newestFirstPage<T>(trail: readonly T[], limit: number, offset: number): { total: number; items: T[] } {
  const items: T[] = [];
  for (let i = trail.length - 1 - offset; i >= 0 && items.length < limit; i--) items.push(trail[i]);
  return { total: trail.length, items };
}
