import { createHash } from 'node:crypto';
import type { EventField, FeatureDefinition, StateSettings } from '@risk/domain';

/**
 * The Lua behind RedisFeatureStore, generated from the feature definitions:
 * the scripts are generic over count / distinct / sum / changed, entity key,
 * event-type filter and window; only a constant table describing the
 * definitions (and the settings) is spliced in, so a definition change gives
 * new scripts, never new code.
 *
 * Semantics mirror MemoryFeatureStore line by line (see docs/redis.md).
 */

/** Short, stable key codes for the entity fields (they end up in every entity key). */
export const FIELD_CODES: Record<EventField, string> = {
  event_id: 'eid',
  user_id: 'u',
  event_type: 'type',
  ip_address: 'ip',
  device_id: 'dev',
  location_city: 'city',
  amount: 'amt',
};

/** One entity field (user_id, ip_address, ...) and the features keyed on it. */
export interface EntityGroup {
  /** 1-based, as the Lua table index. */
  readonly index: number;
  readonly entity: EventField;
  /** Event fields the group's features read, in the order the client sends them. */
  readonly fields: readonly EventField[];
  /** The group's features, in definition order, with their position in the full definition list. */
  readonly features: readonly { readonly definition: FeatureDefinition; readonly position: number; readonly id: string }[];
  readonly hasWindowed: boolean;
  readonly hasChanged: boolean;
  /** PX of the entity's window key: its longest horizon, at least the pending timeout. */
  readonly windowKeyTtlMs: number;
}

export function buildGroups(definitions: readonly FeatureDefinition[], settings: StateSettings, pendingTimeoutMs: number): EntityGroup[] {
  const byEntity = new Map<EventField, { fields: EventField[]; features: EntityGroup['features'][number][] }>();
  definitions.forEach((definition, position) => {
    let group = byEntity.get(definition.entity);
    if (group === undefined) {
      group = { fields: [], features: [] };
      byEntity.set(definition.entity, group);
    }
    if (definition.field !== undefined && definition.aggregate !== 'count' && !group.fields.includes(definition.field)) {
      group.fields.push(definition.field);
    }
    group.features.push({ definition, position, id: featureId(definition) });
  });
  let index = 0;
  return [...byEntity].map(([entity, group]) => {
    const windowed = group.features.filter((f) => f.definition.aggregate !== 'changed');
    const horizon = windowed.reduce((max, f) => Math.max(max, f.definition.windowMs + settings.allowedLatenessMs), 0);
    return {
      index: ++index,
      entity,
      fields: group.fields,
      features: group.features,
      hasWindowed: windowed.length > 0,
      hasChanged: windowed.length < group.features.length,
      windowKeyTtlMs: Math.max(horizon, pendingTimeoutMs),
    };
  });
}

/**
 * State is keyed by a fingerprint of the definition, not its name: a feature
 * redefined under the same name starts from empty state instead of reading
 * series built for another filter or window.
 */
function featureId(definition: FeatureDefinition): string {
  const { name, entity, aggregate, field, eventTypes, windowMs } = definition;
  return createHash('sha1')
    .update(JSON.stringify([name, entity, aggregate, field ?? null, eventTypes ?? null, windowMs]))
    .digest('hex')
    .slice(0, 8);
}

/** A Lua string literal for any text: every byte outside a safe set becomes \ddd. */
function lua(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += /[A-Za-z0-9_.:\- ]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `\\${String(byte).padStart(3, '0')}`;
  }
  return `${out}"`;
}

const NUMBER_HELPERS = `
local function upper(ts, x)
  local n = #ts
  if n == 0 or ts[n] <= x then return n + 1 end
  local lo, hi = 1, n + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if ts[mid] <= x then lo = mid + 1 else hi = mid end
  end
  return lo
end
-- Shortest text that reads back as the same double (the client parses it with Number()).
local function num(x)
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
`;

/**
 * RT1, one call per batch on the partition's slot: expires old dedup records,
 * picks the batch token, then for each input in order decides
 * duplicate / redelivered / accepted and the late flag, exactly as
 * MemoryFeatureStore.applyOne does, and records accepted ids as pending.
 *
 * KEYS: state hash, dedup hash, dedup order list, pending hash.
 * ARGV: triples (event_id, messageId or '', event_time).
 * Returns { token, code per input }: 'D', 'A<late>', 'P<late>' (accepted
 * before, outcome not yet final), 'R<late><values>' (accepted before, final).
 */
export function acceptScript(settings: StateSettings, pendingTimeoutMs: number, dedupKeyTtlMs: number): string {
  return `
local LATENESS = ${settings.allowedLatenessMs}
local RETENTION = ${settings.dedupRetentionMs}
local PENDING_TIMEOUT = ${pendingTimeoutMs}
local DEDUP_TTL = ${dedupKeyTtlMs}
${NUMBER_HELPERS}
local st, dd, ord, pend = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local max = tonumber(redis.call('HGET', st, 'max'))
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

-- A pending id whose batch was never redelivered (e.g. an HTTP client that
-- gave up) must not pin the token forever.
if redis.call('HLEN', pend) > 0 then
  local all = redis.call('HGETALL', pend)
  for i = 1, #all, 2 do
    if now - tonumber(all[i + 1]) > PENDING_TIMEOUT then redis.call('HDEL', pend, all[i]) end
  end
end
local token
if redis.call('HLEN', pend) == 0 then
  token = redis.call('HINCRBY', st, 'tok', 1)
else
  token = tonumber(redis.call('HGET', st, 'tok')) or 0
end

-- Dedup retention in event time, oldest accepted first (as MemoryFeatureStore's sweep).
if max then
  local cutoff = max - RETENTION
  for _ = 1, 2000 do
    local id = redis.call('LINDEX', ord, 0)
    if not id then break end
    local rec = redis.call('HGET', dd, id)
    if rec then
      local c = string.find(rec, ',', 3, true)
      if tonumber(string.sub(rec, 3, c - 1)) > cutoff then break end
      redis.call('HDEL', dd, id)
    end
    redis.call('LPOP', ord)
  end
end

local out = { tostring(token) }
for i = 1, #ARGV, 3 do
  local id, msg, ts = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local rec = redis.call('HGET', dd, id)
  if rec then
    local c = string.find(rec, ',', 3, true)
    local x = string.find(rec, '\\031', c + 1, true)
    local was = string.sub(rec, c + 1, (x or 0) - 1)
    if msg ~= '' and was == msg then
      if x then
        out[#out + 1] = 'R' .. string.sub(rec, 2, 2) .. string.sub(rec, x + 1)
      else
        out[#out + 1] = 'P' .. string.sub(rec, 2, 2)
      end
    else
      out[#out + 1] = 'D'
    end
  else
    local t = tonumber(ts)
    local late = '0'
    if max and t < max - LATENESS then late = '1' end
    if not max or t > max then max = t end
    redis.call('HSET', dd, id, 'P' .. late .. ts .. ',' .. msg)
    redis.call('RPUSH', ord, id)
    if msg ~= '' then redis.call('HSET', pend, id, num(now)) end
    out[#out + 1] = 'A' .. late
  end
end
if max then redis.call('HSET', st, 'max', num(max)) end
redis.call('PEXPIRE', dd, DEDUP_TTL)
redis.call('PEXPIRE', ord, DEDUP_TTL)
if redis.call('EXISTS', pend) == 1 then redis.call('PEXPIRE', pend, DEDUP_TTL) end
return out
`;
}

/**
 * RT3, one call per batch on the partition's slot: stores the first outcome
 * of each accepted event (so a redelivery gets it back without touching the
 * entities) and clears its pending mark.
 * KEYS: dedup hash, pending hash. ARGV: pairs (event_id, encoded values).
 */
export const FINALIZE_SCRIPT = `
local dd, pend = KEYS[1], KEYS[2]
for i = 1, #ARGV, 2 do
  local rec = redis.call('HGET', dd, ARGV[i])
  if rec and string.sub(rec, 1, 1) == 'P' then
    redis.call('HSET', dd, ARGV[i], 'F' .. string.sub(rec, 2) .. '\\031' .. ARGV[i + 1])
  end
  redis.call('HDEL', pend, ARGV[i])
end
return #ARGV / 2
`;

/**
 * RT2, per entity (all entities of a slot in one call): applies the entity's
 * accepted events of the batch in order and returns, per event, the values
 * of the entity's features joined by ','. Idempotent per (entity, partition,
 * batch token): an event already applied under the current token returns its
 * stored values and changes nothing, so a batch retried after a crash
 * between the steps is neither lost nor counted twice.
 *
 * KEYS: per unit, the window key, then the latest-values key when the group has `changed` features.
 * ARGV: partition, token, then per unit: group index, event count, and per
 * event: event_id, event_time, event_type, the group's field values ('' = absent).
 */
export function applyScript(groups: readonly EntityGroup[], settings: StateSettings): string {
  const table = groups
    .map((group) => {
      const features = group.features
        .map(({ definition, id }) => {
          const fieldIndex = definition.field === undefined ? 0 : group.fields.indexOf(definition.field) + 1;
          if (definition.aggregate === 'changed') return `{ k = 'c', id = ${lua(id)}, fi = ${fieldIndex} }`;
          const types =
            definition.eventTypes === undefined ? 'false' : `{ ${definition.eventTypes.map((t) => `[${lua(t)}] = true`).join(', ')} }`;
          const horizon = definition.windowMs + settings.allowedLatenessMs;
          return `{ k = 'w', id = ${lua(id)}, agg = '${definition.aggregate}', fi = ${fieldIndex}, types = ${types}, w = ${definition.windowMs}, h = ${horizon} }`;
        })
        .join(',\n      ');
      const changedIds = group.features.filter((f) => f.definition.aggregate === 'changed').map((f) => lua(f.id));
      return `  [${group.index}] = { nf = ${group.fields.length}, hasC = ${group.hasChanged}, ttl = ${group.windowKeyTtlMs}, cids = { ${changedIds.join(', ')} },
    feats = {
      ${features}
    } }`;
    })
    .join(',\n');
  return `
local G = {
${table}
}
local LATEST_TTL = ${settings.latestValueRetentionMs}
${NUMBER_HELPERS}
local function trim(s, h, hasV)
  local ts = s.t
  local n = #ts
  local cutoff = ts[n] - h
  if ts[1] > cutoff then return end
  local first = upper(ts, cutoff)
  local nt, nv = {}, {}
  for i = first, n do
    nt[#nt + 1] = ts[i]
    if hasV then nv[#nv + 1] = s.v[i] end
  end
  s.t = nt
  if hasV then s.v = nv end
end

local part, token = ARGV[1], ARGV[2]
local a, k = 3, 1
local out = {}
while a <= #ARGV do
  local g = G[tonumber(ARGV[a])]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local wkey = KEYS[k]
  k = k + 1
  local ckey
  if g.hasC then ckey = KEYS[k]; k = k + 1 end

  local raw = redis.call('GET', wkey)
  local st
  if raw then st = cmsgpack.unpack(raw) else st = {} end
  if not st.s then st.s = {} end
  if not st.ap then st.ap = {} end
  local ap = st.ap[part]
  if not ap or ap[1] ~= token then ap = { token, {} }; st.ap[part] = ap end
  local applied = ap[2]

  local latest, dirty = {}, {}
  if g.hasC then
    local vals = redis.call('HMGET', ckey, unpack(g.cids))
    for i, id in ipairs(g.cids) do
      local v = vals[i]
      if v then
        local sep = string.find(v, ',', 1, true)
        latest[id] = { tonumber(string.sub(v, 1, sep - 1)), string.sub(v, sep + 1) }
      end
    end
  end

  for _ = 1, n do
    local id, t, typ = ARGV[a], tonumber(ARGV[a + 1]), ARGV[a + 2]
    local base = a + 2
    a = a + 3 + g.nf
    local done = applied[id]
    if done then
      out[#out + 1] = done
    else
      local res = {}
      for fi, f in ipairs(g.feats) do
        if f.k == 'c' then
          local v = ARGV[base + f.fi]
          if v == '' then
            res[fi] = '0'
          else
            local known = latest[f.id]
            if not known then
              latest[f.id] = { t, v }
              dirty[f.id] = true
              res[fi] = '0'
            else
              if known[2] ~= v then res[fi] = '1' else res[fi] = '0' end
              -- Ties go to the later arrival (SPEC 3).
              if t >= known[1] then
                known[1] = t
                known[2] = v
                dirty[f.id] = true
              end
            end
          end
        else
          local s = st.s[f.id]
          local v = ''
          if f.fi > 0 then v = ARGV[base + f.fi] end
          local hasV = f.agg ~= 'count'
          if (not f.types or f.types[typ]) and (f.agg ~= 'distinct' or v ~= '') then
            if not s then
              if hasV then s = { t = {}, v = {} } else s = { t = {} } end
              st.s[f.id] = s
            end
            local at = upper(s.t, t)
            table.insert(s.t, at, t)
            if f.agg == 'sum' then
              table.insert(s.v, at, tonumber(v) or 0)
            elseif hasV then
              table.insert(s.v, at, v)
            end
          end
          if not s then
            res[fi] = '0'
          else
            local ts = s.t
            local e = upper(ts, t)
            local b = upper(ts, t - f.w)
            if f.agg == 'count' then
              res[fi] = num(e - b)
            elseif f.agg == 'sum' then
              local sum = 0
              for i = b, e - 1 do sum = sum + s.v[i] end
              res[fi] = num(sum)
            else
              local seen, c = {}, 0
              for i = b, e - 1 do
                local x = s.v[i]
                if not seen[x] then seen[x] = true; c = c + 1 end
              end
              res[fi] = num(c)
            end
            trim(s, f.h, hasV)
          end
        end
      end
      local text = table.concat(res, ',')
      applied[id] = text
      out[#out + 1] = text
    end
  end

  -- All of the entity's writes happen after its whole share of the batch is computed.
  redis.call('SET', wkey, cmsgpack.pack(st), 'PX', g.ttl)
  if g.hasC then
    local args = {}
    for id in pairs(dirty) do
      args[#args + 1] = id
      args[#args + 1] = num(latest[id][1]) .. ',' .. latest[id][2]
    end
    if #args > 0 then redis.call('HSET', ckey, unpack(args)) end
    if #args > 0 or next(latest) ~= nil then redis.call('PEXPIRE', ckey, LATEST_TTL) end
  end
end
return out
`;
}
