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
 * Writes the new state of the entities of one slot: each key must still hold
 * the header (format and version) the client read or cached, else it is left
 * as it was and its position is answered; the client re-reads and recomputes
 * those entities only. Each written entity's applied-record entries (its
 * answers for events that can be redelivered) are appended to the slot's
 * applied record, which is replaced when it belongs to another base.
 *
 * SET … GET reads and writes in one call: a conflict is rare, and restoring
 * costs only then (the restored key gets a full TTL again, i.e. an entity
 * that lost a race is kept a little longer).
 *
 * KEYS: the applied record. The entity keys travel in one packed argument
 * (every key of a call is in the applied record's slot): ~1,000 instructions
 * and a client-side string per argument saved per entity.
 * ARGV: the applied record's header ("<base>\\n"), its TTL in ms, the
 * expected headers (${HEADER} bytes per entity, zeros for a key that did not
 * exist), the entity group of each entity (one byte each, 1-based), the
 * entities packed (per entity: key as struct 'Hc0', new blob as 'I4c0',
 * applied-record entries as 'I4c0'), then each group's TTL in ms.
 * Returns the 1-based positions of the entities not written.
 */
export const WRITE_ENTITIES_SCRIPT = `
local E, GROUPS, P = ARGV[3], ARGV[4], ARGV[5]
local sunpack, ssub, sbyte = struct.unpack, string.sub, string.byte
local ABSENT = string.rep('\\0', ${HEADER})
local failed, entries = {}, {}
local k, pos, n = 0, 1, #P
while pos <= n do
  k = k + 1
  local key, blob, applied
  key, blob, applied, pos = sunpack('<Hc0I4c0I4c0', P, pos)
  local ttl = ARGV[5 + sbyte(GROUPS, k)]
  local old = redis.call('SET', key, blob, 'PX', ttl, 'GET')
  local have = ABSENT
  if old then have = ssub(old, 1, ${HEADER}) end
  if have ~= ssub(E, ${HEADER} * (k - 1) + 1, ${HEADER} * k) then
    if old then redis.call('SET', key, old, 'PX', ttl) else redis.call('DEL', key) end
    failed[#failed + 1] = k
  elseif applied ~= '' then
    entries[#entries + 1] = applied
  end
end
if #entries > 0 then
  local header, add = ARGV[1], table.concat(entries)
  if redis.call('GETRANGE', KEYS[1], 0, #header - 1) == header then
    redis.call('APPEND', KEYS[1], add)
  else
    redis.call('SET', KEYS[1], header .. add)
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return failed
`;

/**
 * Ends a batch on its partition: checks the claim and the commit version the
 * batch was decided on, forgets expired event_ids (the oldest `expire`
 * entries of the order list, which the client read and judged), stores the
 * accepted events' dedup records with their first outcomes, moves the
 * watermark, bumps the version and releases the claim.
 * KEYS: state hash, dedup hash, order list, lock, and on a single node the
 * partition's applied record (its entries are not needed once committed).
 * ARGV: owner, expected version, new watermark ('' = unchanged), dedup TTL in ms,
 * expire count, record count r, then r (event_id, record) pairs, then the order entries.
 * Returns 'OK', 'LOST' (the claim expired and was taken) or 'STALE' (the version moved).
 */
export const COMMIT_SCRIPT = `
${CHUNKED}
local st, dd, ord, lk = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('GET', lk) ~= ARGV[1] then return 'LOST' end
local ver = tonumber(redis.call('HGET', st, 'ver')) or 0
if ver ~= tonumber(ARGV[2]) then return 'STALE' end
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
  callRange('HSET', dd, ARGV, 7, 6 + 2 * r)
  callRange('RPUSH', ord, ARGV, 7 + 2 * r, #ARGV)
  redis.call('PEXPIRE', dd, ARGV[4])
  redis.call('PEXPIRE', ord, ARGV[4])
end
if ARGV[3] ~= '' then
  redis.call('HSET', st, 'ver', tostring(ver + 1), 'max', ARGV[3])
else
  redis.call('HSET', st, 'ver', tostring(ver + 1))
end
redis.call('DEL', lk)
if KEYS[5] then redis.call('DEL', KEYS[5]) end
return 'OK'
`;
