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
 * Compare-and-set of the entities of one slot, all or none. Expects locals
 * E (the expected headers, ${HEADER} bytes per entity, zeros for a key that did
 * not exist), GROUPS (the entity group of each entity, one byte, 1-based), P
 * (the entities packed: key as struct 'Hc0', new blob as 'I4c0' — empty: the
 * batch only read it, check it only — and applied-record entries as 'I4c0'),
 * TTL (ARGV[TTL + group] is the group's TTL in ms) and `entries` (a table
 * collecting applied-record entries, or nil).
 * Each entity must still hold the header the client computed from; on the
 * first mismatch every key written so far is restored and the script
 * returns { position }: the client re-reads and recomputes. So a batch's
 * values and writes in one slot follow one order of all batches.
 * SET … GET reads and writes in one call: a conflict is rare, and restoring
 * costs only then (a restored key gets a full TTL again).
 */
const ENTITY_WRITES = `
local sunpack, ssub, sbyte = struct.unpack, string.sub, string.byte
local ABSENT = string.rep('\\0', ${HEADER})
local ekeys, olds, written = {}, {}, {}
local k, pos, n = 0, 1, #P
while pos <= n do
  k = k + 1
  local key, blob, applied
  key, blob, applied, pos = sunpack('<Hc0I4c0I4c0', P, pos)
  ekeys[k] = key
  local want = ssub(E, ${HEADER} * (k - 1) + 1, ${HEADER} * k)
  local have
  if blob == '' then
    have = redis.call('GETRANGE', key, 0, ${HEADER - 1})
    if have == '' then have = ABSENT end
  else
    local old = redis.call('SET', key, blob, 'PX', ARGV[TTL + sbyte(GROUPS, k)], 'GET')
    olds[k], written[k] = old, true
    have = ABSENT
    if old then have = ssub(old, 1, ${HEADER}) end
    if entries and applied ~= '' then entries[#entries + 1] = applied end
  end
  if have ~= want then
    for j = 1, k do
      if written[j] then
        local o = olds[j]
        if o then redis.call('SET', ekeys[j], o, 'PX', ARGV[TTL + sbyte(GROUPS, j)]) else redis.call('DEL', ekeys[j]) end
      end
    end
    return { k }
  end
end
`;

/**
 * Cluster only (one call per slot, see ENTITY_WRITES): then appends the
 * written entities' applied-record entries (answers for events a retry may
 * resend) to the slot's applied record, replaced when it belongs to another
 * base, and returns {}.
 * KEYS: the applied record (the entity keys travel packed in P: every key of
 * a call is in its slot; ~1,000 instructions and a client-side string saved
 * per entity).
 * ARGV: the applied record's header ("<base>\\n"), its TTL in ms, E, GROUPS, P,
 * then each group's TTL.
 */
export const WRITE_ENTITIES_SCRIPT = `
local E, GROUPS, P, TTL = ARGV[3], ARGV[4], ARGV[5], 5
local entries = {}
${ENTITY_WRITES}
if #entries > 0 then
  local header, add = ARGV[1], table.concat(entries)
  if redis.call('GETRANGE', KEYS[1], 0, #header - 1) == header then
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
 * KEYS: as COMMIT_SCRIPT. ARGV: ARGV[1..8] as COMMIT_SCRIPT, then E, GROUPS,
 * P (see ENTITY_WRITES), the number of groups G, each group's TTL, then the
 * records and order entries.
 * Returns 'OK', 'LOST', 'STALE', or { position } of an entity another writer
 * changed first (nothing written).
 */
export const WRITE_AND_COMMIT_SCRIPT = `
local E, GROUPS, P, TTL = ARGV[9], ARGV[10], ARGV[11], 12
local REC = 13 + tonumber(ARGV[12])
local entries = nil
${COMMIT_CHECK}
${ENTITY_WRITES}
${COMMIT_APPLY}
return 'OK'
`;
