import type { EsVersionedDoc } from './elasticsearch.client';
import { applyRiskProfileUpdate, type RiskProfileUpdate, type StoredRiskProfile } from '../verdict-query/risk-profile';

/** One user's pending profile updates in a bulk, with whatever the caller tracks per update. */
export interface ProfileGroup<T> {
  readonly userId: string;
  readonly updates: readonly { readonly update: RiskProfileUpdate; readonly owner: T }[];
}

/** A conditional write of one whole profile document: NDJSON action + source. */
export interface ProfileWrite<T> {
  readonly userId: string;
  readonly owners: readonly T[];
  readonly ndjson: string;
}

/**
 * Read-modify-write of profiles under optimistic concurrency control: applies
 * each group's updates (TypeScript, `risk-profile.ts`) to the profile as read
 * by `mget`, and plans one conditional write per changed profile: `index` with
 * `if_seq_no` / `if_primary_term` of the read, or `create` when the user had
 * none. Either fails with 409 if another writer got there first; the caller
 * then reads again and recomputes. Groups whose every update was already
 * counted (a replay) need no write at all.
 */
export function planProfileWrites<T>(
  index: string,
  groups: readonly ProfileGroup<T>[],
  current: ReadonlyMap<string, EsVersionedDoc<StoredRiskProfile>>,
  maxRecent: number,
): { writes: ProfileWrite<T>[]; unchanged: T[] } {
  const writes: ProfileWrite<T>[] = [];
  const unchanged: T[] = [];
  for (const group of groups) {
    const read = current.get(group.userId);
    let profile = read?.found === true ? read.source : undefined;
    let changed = false;
    for (const { update } of group.updates) {
      const outcome = applyRiskProfileUpdate(profile, update, maxRecent);
      if (outcome.kind === 'updated') {
        profile = outcome.profile;
        changed = true;
      }
    }
    const owners = group.updates.map((u) => u.owner);
    if (!changed || profile === undefined) {
      unchanged.push(...owners);
      continue;
    }
    const meta =
      read?.found === true
        ? { index: { _index: index, _id: group.userId, if_seq_no: read.seqNo, if_primary_term: read.primaryTerm } }
        : { create: { _index: index, _id: group.userId } };
    writes.push({ userId: group.userId, owners, ndjson: `${JSON.stringify(meta)}\n${JSON.stringify(profile)}\n` });
  }
  return { writes, unchanged };
}
