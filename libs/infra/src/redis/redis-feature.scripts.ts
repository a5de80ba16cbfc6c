/**
 * The three small Lua scripts behind RedisFeatureStore. None of them knows
 * what a feature means: they claim a partition, compare-and-set entity
 * blobs, and commit a partition's dedup records. Feature values and
 * acceptance are computed in TypeScript (the domain's entity-features.ts
 * and acceptance.ts), the same code as the in-memory store.
 */

/** Bytes of the entity header the compare-and-set compares (see redis-entity.codec.ts). */
const HEADER = 5;
/**
 * An entity's group byte when the batch only read it (its header is checked,
 * nothing written; no group: no TTL to set), plus TRUSTED when trusted.
 */
export const CHECK_ONLY = 128;

/** Whether a group byte is an entity the batch only read (checked, not written). */
export function isCheckOnly(group: number): boolean {
  return group === CHECK_ONLY || group === CHECK_ONLY + TRUSTED;
}

/**
 * Lua's unpack() is bounded by the C stack (about 8,000 values): long lists
 * go in chunks.
 */
const CHUNKED = `
local CHUNK = 1000
local function callRange(cmd, key, list, from, to)
  for i = from, to, CHUNK do
    redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, to)))
  end
end
`;

/**
 * Claims a partition for one batch, so that one writer at a time decides its
 * dedup and watermark (two engines taking HTTP events, or a Kafka consumer
 * that lost its partition but has not noticed yet).
 * KEYS: the partition's lock. ARGV: owner, lock time in ms.
 * Returns 0 when claimed (or already held by `owner`), else the lock's remaining ms (≥ 1).
 */
export const CLAIM_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then
  local left = redis.call('PTTL', KEYS[1])
  if left < 1 then left = 1 end
  return left
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 0
`;

/**
 * A written entity's group byte is its entity group (1 to MAX_ENTITY_KEYS,
 * checked once per feature set by featureSetPlan) plus these flags, so groups
 * fit in 6 bits. Added to an entity's group byte when the client knows its
 * header holds as long as no other writer wrote an entity since its own
 * previous write (single node, see WRITE_AND_COMMIT_SCRIPT): then it is not
 * read.
 */
const TRUSTED = 64;
/**
 * Added (with TRUSTED: 193 to 255) to a trusted written entity's group byte
 * when its write keeps the key's TTL (single node, redis-entity-ttl.ts). A
 * flag in the byte the script reads anyway, not an argument of its own: a
 * string.byte per entity cost more than the TTLs it kept in a fresh process.
 */
const KEEP_TTL = 128;

/**
 * Compare-and-set of the entities of one slot, all or none. Expects locals
 * E (the expected headers, ${HEADER} bytes per entity, zeros for a key that did
 * not exist), GROUPS (per entity one byte: ${CHECK_ONLY} when the batch only read
 * it, else its entity group, 1-based; plus ${TRUSTED} when trusted; a trusted
 * written entity plus ${KEEP_TTL} more when its write keeps the key's TTL), FAST
 * (true: the trusted entities are not checked and the flagged TTLs kept), TTL
 * (ARGV[TTL + group] is the group's TTL in ms) and ENT (the first entity
 * argument: per entity its key, then its new blob unless it is only checked).
 * Leaves ENTITY_END, the argument after the last entity's.
 * Every entity not skipped must still hold the header the client computed
 * from: all are checked first (GETRANGE of the header), then the changed ones
 * written (SET … PX); on a mismatch nothing is written and the script
 * returns { position }: the client re-reads and recomputes. So a batch's
 * values and writes in one slot follow one order of all batches.
 * Why this shape (instructions Redis executes, redis-callgrind): every
 * redis.call costs ~3,500 instructions besides the command itself, and every
 * string entering Lua is hashed byte by byte and allocated (Redis's Lua
 * hashes whole strings); so each blob enters once, as its own argument (no
 * packed argument unpacked into copies, no old blob returned by SET … GET),
 * and the GETRANGE bounds are strings (a Lua number argument costs a %.17g).
 * Checking a written entity with SET … GET instead of GETRANGE + SET, or
 * leaving out the empty argument of an entity only read, measured the same.
 * A write that keeps the TTL (redis-entity-ttl.ts) is SET … XX KEEPTTL,
 * which leaves the key's entry in Redis's expires table alone; a key that
 * is gone (deleted outside the engine) is then written with PX, so that no
 * entity key ever lives without a TTL.
 */
const ENTITY_WRITES = `
local ABSENT = string.rep('\\0', ${HEADER})
local sbyte, ssub = string.byte, string.sub
local n = #GROUPS
local at = ENT
for k = 1, n do
  local g = sbyte(GROUPS, k)
  if not FAST or g % ${CHECK_ONLY} < ${TRUSTED} then
    local h = redis.call('GETRANGE', ARGV[at], '0', '${HEADER - 1}')
    if h == '' then h = ABSENT end
    if h ~= ssub(E, ${HEADER} * k - ${HEADER - 1}, ${HEADER} * k) then return { k } end
  end
  at = at + ((g == ${CHECK_ONLY} or g == ${CHECK_ONLY + TRUSTED}) and 1 or 2)
end
local ENTITY_END = at
at = ENT
for k = 1, n do
  local g = sbyte(GROUPS, k)
  if g == ${CHECK_ONLY} or g == ${CHECK_ONLY + TRUSTED} then
    at = at + 1
  else
    if not (FAST and g > ${KEEP_TTL + TRUSTED} and redis.call('SET', ARGV[at], ARGV[at + 1], 'XX', 'KEEPTTL')) then
      redis.call('SET', ARGV[at], ARGV[at + 1], 'PX', ARGV[TTL + g % ${TRUSTED}])
    end
    at = at + 2
  end
end
`;

/**
 * Cluster only (one call per slot, see ENTITY_WRITES): then appends the
 * written entities' applied-record entries (answers for events a retry may
 * resend) to the slot's applied record, replaced when it belongs to another
 * base, and returns {}.
 * KEYS: the applied record (the entity keys travel in ARGV: every key of a
 * call is in its slot).
 * ARGV: the applied record's header ("<base>\\n"), its TTL in ms, E, GROUPS, the
 * slot's applied-record entries (concatenated: the slot is written whole or
 * not at all), the number of groups G, each group's TTL, then the entities'
 * arguments (see ENTITY_WRITES).
 */
export const WRITE_ENTITIES_SCRIPT = `
local E, GROUPS, TTL, FAST = ARGV[3], ARGV[4], 6, false
local ENT = 7 + tonumber(ARGV[6])
${ENTITY_WRITES}
local add = ARGV[5]
if add ~= '' then
  local header = ARGV[1]
  if redis.call('GETRANGE', KEYS[1], '0', tostring(#header - 1)) == header then
    redis.call('APPEND', KEYS[1], add)
  else
    redis.call('SET', KEYS[1], header .. add)
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {}
`;

/** The claim and the version the batch was decided on (KEYS and ARGV[1..2] as in COMMIT_SCRIPT). */
const COMMIT_CHECK = `
local st, dd, ord, lk = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('GET', lk) ~= ARGV[1] then return 'LOST' end
local ver = tonumber(redis.call('HGET', st, 'ver')) or 0
if ver ~= tonumber(ARGV[2]) then return 'STALE' end
`;

/** The partition's update (ARGV[3..8] as in COMMIT_SCRIPT; the records from ARGV[REC]). */
const COMMIT_APPLY = `
${CHUNKED}
local expire = tonumber(ARGV[5])
if expire > 0 then
  local head = redis.call('LRANGE', ord, 0, expire - 1)
  local ids = {}
  for i = 1, #head do
    local c = string.find(head[i], ',', 1, true)
    ids[i] = string.sub(head[i], c + 1)
  end
  callRange('HDEL', dd, ids, 1, #ids)
  redis.call('LTRIM', ord, expire, -1)
end
local r = tonumber(ARGV[6])
if r > 0 then
  redis.call('HSET', st, ARGV[7], ARGV[8])
  callRange('HSET', dd, ARGV, REC, REC - 1 + 2 * r)
  callRange('RPUSH', ord, ARGV, REC + 2 * r, #ARGV)
  redis.call('PEXPIRE', dd, ARGV[4])
  redis.call('PEXPIRE', ord, ARGV[4])
end
if ARGV[3] ~= '' then
  redis.call('HSET', st, 'ver', tostring(ver + 1), 'max', ARGV[3])
else
  redis.call('HSET', st, 'ver', tostring(ver + 1))
end
redis.call('DEL', lk)
`;

/**
 * Ends a batch on its partition (cluster: after the entity writes): checks
 * the claim and the commit version the batch was decided on, forgets expired
 * event_ids (the oldest `expire` entries of the order list, which the client
 * read and judged), stores the accepted events' dedup records with their
 * first outcomes, moves the watermark, bumps the version and releases the
 * claim.
 * KEYS: state hash, dedup hash, order list, lock.
 * ARGV: owner, expected version, new watermark ('' = unchanged), dedup TTL in ms,
 * expire count, record count r, the feature set's field and names (the
 * records' values follow that set's order), then r (event_id, record) pairs,
 * then the order entries.
 * Returns 'OK', 'LOST' (the claim expired and was taken) or 'STALE' (the version moved).
 */
export const COMMIT_SCRIPT = `
local REC = 9
${COMMIT_CHECK}
${COMMIT_APPLY}
return 'OK'
`;

/**
 * A single node: the entity writes and the commit in one atomic script, so
 * there is no moment where entities hold a batch its partition does not
 * (no applied records needed), and one round trip less.
 * The write token (KEYS[5]) is set by every call that gets through, to the
 * client's fresh token ARGV[12] when it held ARGV[11] (the token of the
 * client's own previous write: no other writer wrote an entity since, so the
 * entities the client trusts are not checked), else to ARGV[12] .. '!' after
 * checking every entity (writes the client had chained on this one then find
 * another token and check all theirs). See redis-single-node-write.ts.
 * Only then (FAST) do the writes flagged KEEP_TTL keep their keys' TTL: no
 * other writer set it since the client's own refresh (redis-entity-ttl.ts).
 * KEYS: as COMMIT_SCRIPT, then the write token. ARGV: ARGV[1..8] as
 * COMMIT_SCRIPT, then E, GROUPS, the expected and the new token, the
 * number of groups G, each group's TTL, the entities' arguments (see
 * ENTITY_WRITES), then the records and order entries.
 * Returns 'OK' (trusted entities not checked), 'CHECKED' (all checked),
 * 'LOST', 'STALE', or { position } of an entity another writer changed first
 * (nothing written).
 */
export const WRITE_AND_COMMIT_SCRIPT = `
local E, GROUPS, TTL = ARGV[9], ARGV[10], 13
local ENT = 14 + tonumber(ARGV[13])
${COMMIT_CHECK}
local FAST = ARGV[11] ~= '' and redis.call('GET', KEYS[5]) == ARGV[11]
${ENTITY_WRITES}
local REC = ENTITY_END
${COMMIT_APPLY}
if FAST then
  redis.call('SET', KEYS[5], ARGV[12])
  return 'OK'
end
redis.call('SET', KEYS[5], ARGV[12] .. '!')
return 'CHECKED'
`;

/**
 * The write scripts' entity arguments for slot writes (see ENTITY_WRITES),
 * appended to `into`: per entity its key, then its new blob unless the batch
 * only read it, taken from the slot's pack (key as u16 length + UTF-8, blob
 * and applied-record entries as u32 length + bytes; see SlotWrite) without
 * copying. Returns GROUPS (per entity its group byte) and the written
 * entities' applied-record entries, concatenated. `trusted` (by unit, over
 * all the writes): the units a FAST call does not check; `keep`: the trusted
 * written units whose write a FAST call makes keep the key's TTL.
 */
export function entityWriteArgs(
  writes: readonly {
    readonly pack: { readonly buffer: Buffer; readonly at: number };
    readonly units: readonly { readonly key: string; readonly index: number }[];
  }[],
  into: (string | Buffer)[],
  trusted?: Uint8Array,
  keep?: Uint8Array,
): { groups: Buffer; applied: Buffer } {
  let count = 0;
  for (const w of writes) count += w.units.length;
  const groups = Buffer.allocUnsafe(count);
  const applied: Buffer[] = [];
  let g = 0;
  for (const { pack, units } of writes) {
    const { buffer, at: end } = pack;
    let pos = 0;
    for (let k = 0; pos < end; k++) {
      pos += 2 + buffer.readUInt16LE(pos);
      const blobLength = buffer.readUInt32LE(pos);
      pos += 4;
      const unit = units[k];
      into.push(unit.key);
      const trust = trusted !== undefined && trusted[g] === 1 ? TRUSTED : 0;
      if (blobLength === 0) {
        groups[g++] = CHECK_ONLY + trust;
      } else {
        groups[g] = unit.index + 1 + trust + (trust !== 0 && keep !== undefined && keep[g] === 1 ? KEEP_TTL : 0);
        g++;
        into.push(buffer.subarray(pos, pos + blobLength));
      }
      pos += blobLength;
      const appliedLength = buffer.readUInt32LE(pos);
      pos += 4;
      if (appliedLength > 0) applied.push(buffer.subarray(pos, pos + appliedLength));
      pos += appliedLength;
    }
  }
  return { groups, applied: applied.length === 1 ? applied[0] : Buffer.concat(applied) };
}
