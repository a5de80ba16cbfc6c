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
  /** Whether a feature of the group filters on event_type (only then is the type sent). */
  readonly typed: boolean;
  /**
   * Fingerprint of the group's features (their definitions, in order), part of
   * the entity key: the sections of an entity are laid out by feature, so
   * state written under other definitions is never read, it expires.
   */
  readonly layout: string;
  /**
   * PX of the entity's hash, refreshed on every touch: how long an idle entity
   * is kept, as MemoryFeatureStore's sweep (its longest horizon, or the latest
   * value retention when the group has `changed` features).
   */
  readonly ttlMs: number;
}

export function buildGroups(definitions: readonly FeatureDefinition[], settings: StateSettings): EntityGroup[] {
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
    const hasChanged = windowed.length < group.features.length;
    return {
      index: ++index,
      entity,
      fields: group.fields,
      features: group.features,
      hasWindowed: windowed.length > 0,
      hasChanged,
      typed: group.features.some((f) => f.definition.eventTypes !== undefined),
      layout: createHash('sha1')
        .update(group.features.map((f) => f.id).join(','))
        .digest('hex')
        .slice(0, 6),
      ttlMs: Math.max(horizon, hasChanged ? settings.latestValueRetentionMs : 0, 1),
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
-- Shortest text that reads back as the same double (the client parses it with Number()).
local function num(x)
  if x == math.floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
`;

/**
 * Multi-argument commands over lists of any length: Lua's unpack() is bounded
 * by the C stack (about 8,000 values), so long lists go in chunks.
 */
const CHUNK_HELPERS = `
local CHUNK = 1000
local function callList(cmd, key, list)
  for i = 1, #list, CHUNK do
    redis.call(cmd, key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
  end
end
local function hmgetList(key, list)
  if #list <= CHUNK then return redis.call('HMGET', key, unpack(list)) end
  local out = {}
  for i = 1, #list, CHUNK do
    local part = redis.call('HMGET', key, unpack(list, i, math.min(i + CHUNK - 1, #list)))
    for j = 1, #part do out[#out + 1] = part[j] end
  end
  return out
end
`;

/**
 * RT1, one call per batch on the partition's slot: expires old dedup records,
 * picks the batch token, then for each input in order decides
 * duplicate / redelivered / accepted and the late flag, exactly as
 * MemoryFeatureStore.applyOne does, and records accepted ids as pending.
 * A fixed number of commands per batch: one HMGET for all ids, one HSET and
 * one RPUSH for all new records.
 *
 * Pending (accepted, outcome not final yet) is a counter in the state hash
 * (`pc`, with `pt` the wall-clock time it last left zero), not a set of ids:
 * the finalize step decrements it. While it is above zero the batch token is
 * kept, so that a redelivered batch finds the entities' applied records.
 *
 * KEYS: state hash, dedup hash, dedup order list.
 * ARGV: triples (event_id, messageId or '', event_time).
 * Returns { token, code per input }: 'D', 'A<late>', 'P<late>' (accepted
 * before, outcome not yet final), 'R<late><values>' (accepted before, final).
 */
export function acceptScript(settings: StateSettings, pendingTimeoutMs: number, dedupKeyTtlMs: number): string {
  return `
local LATENESS = ${settings.allowedLatenessMs}
local RETENTION = ${settings.dedupRetentionMs}
local PENDING_TIMEOUT = ${pendingTimeoutMs}
local DEDUP_TTL = '${dedupKeyTtlMs}'
${NUMBER_HELPERS}
${CHUNK_HELPERS}
local st, dd, ord = KEYS[1], KEYS[2], KEYS[3]
local state = redis.call('HMGET', st, 'max', 'tok', 'pc', 'pt')
local max = tonumber(state[1])
local token = tonumber(state[2]) or 0
local pending = tonumber(state[3]) or 0
local since = tonumber(state[4]) or 0
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local n = #ARGV / 3

-- Pending events whose batch was never redelivered (e.g. an HTTP client that
-- gave up) must not pin the token forever.
if pending > 0 and now - since > PENDING_TIMEOUT then pending = 0 end
if pending == 0 then token = token + 1 end

-- Dedup retention in event time, oldest accepted first (as MemoryFeatureStore's
-- sweep). The order list holds 'event_time,event_id', so the head can be
-- judged without reading the records.
if max then
  local cutoff = max - RETENTION
  local budget = 2000
  while budget > 0 do
    local want = math.min(budget, n + 32)
    local head = redis.call('LRANGE', ord, 0, want - 1)
    local ids = {}
    for i = 1, #head do
      local e = head[i]
      local c = string.find(e, ',', 1, true)
      if tonumber(string.sub(e, 1, c - 1)) > cutoff then break end
      ids[i] = string.sub(e, c + 1)
    end
    if #ids > 0 then
      callList('HDEL', dd, ids)
      redis.call('LTRIM', ord, #ids, -1)
    end
    if #ids < want then break end
    budget = budget - #ids
  end
end

local ids = {}
for i = 1, n do ids[i] = ARGV[i * 3 - 2] end
local recs = hmgetList(dd, ids)
-- Records created by this batch: a repeat later in the batch must see them.
local fresh = {}
local records, order = {}, {}
local added = 0
local out = { tostring(token) }
for i = 1, n do
  local id, msg, ts = ids[i], ARGV[i * 3 - 1], ARGV[i * 3]
  local rec = recs[i] or fresh[id]
  if rec then
    local c = string.find(rec, ',', 3, true)
    local x = string.find(rec, '\\031', c + 1, true)
    local was = string.sub(rec, c + 1, (x or 0) - 1)
    if msg ~= '' and was == msg then
      if x then
        out[i + 1] = 'R' .. string.sub(rec, 2, 2) .. string.sub(rec, x + 1)
      else
        out[i + 1] = 'P' .. string.sub(rec, 2, 2)
      end
    else
      out[i + 1] = 'D'
    end
  else
    local t = tonumber(ts)
    local late = '0'
    if max and t < max - LATENESS then late = '1' end
    if not max or t > max then max = t end
    rec = 'P' .. late .. ts .. ',' .. msg
    fresh[id] = rec
    records[#records + 1] = id
    records[#records + 1] = rec
    order[#order + 1] = ts .. ',' .. id
    if msg ~= '' then added = added + 1 end
    out[i + 1] = 'A' .. late
  end
end
if #records > 0 then
  callList('HSET', dd, records)
  callList('RPUSH', ord, order)
end
if added > 0 and pending == 0 then since = now end
local fields = { 'tok', tostring(token), 'pc', tostring(pending + added), 'pt', num(since) }
if max then
  fields[#fields + 1] = 'max'
  fields[#fields + 1] = num(max)
end
redis.call('HSET', st, unpack(fields))
redis.call('PEXPIRE', dd, DEDUP_TTL)
redis.call('PEXPIRE', ord, DEDUP_TTL)
return out
`;
}

/**
 * RT3, one call per batch on the partition's slot: stores the first outcome
 * of each accepted event (so a redelivery gets it back without touching the
 * entities) and lowers the pending counter. The client sends the final
 * records whole ('F', late flag, event_time, ',', messageId, US, values): it
 * knows every part, so nothing needs reading back.
 * KEYS: dedup hash, state hash. ARGV: the number of events leaving pending, then pairs (event_id, final record).
 */
export const FINALIZE_SCRIPT = `
${CHUNK_HELPERS}
local dd, st = KEYS[1], KEYS[2]
local records = {}
for i = 2, #ARGV do records[i - 1] = ARGV[i] end
callList('HSET', dd, records)
local pending = (tonumber(redis.call('HGET', st, 'pc')) or 0) - tonumber(ARGV[1])
if pending < 0 then pending = 0 end
redis.call('HSET', st, 'pc', tostring(pending))
return #records / 2
`;

/**
 * RT2, one call per slot (a single call on a standalone server): applies each
 * entity's accepted events of the batch in order and returns, per event, the
 * values of the entity's features joined by ','; the answers of all events
 * joined by newlines.
 *
 * Entity state is one string per entity: a header of one 4-byte length per
 * feature of the group, then one section per feature (empty: no state yet):
 * - count: the event times, 8-byte little-endian doubles, sorted;
 * - sum: (time, value) pairs of doubles, 16 bytes each, sorted by time;
 * - distinct: per entry the time (8 bytes), the value's length (2 bytes) and
 *   the value, sorted by time;
 * - changed: the latest known value's time (8 bytes), then the value.
 * A touch is one GET and one SET (or PEXPIRE when nothing changed). Sections
 * are searched, appended to and trimmed in place with string.sub and
 * struct.unpack, never decoded into tables; untouched sections are copied as
 * they are.
 *
 * Idempotent per (slot, partition, batch token): the applied record (KEYS[1])
 * holds, for the current token, each applied event's values; an event found
 * there returns its stored values and changes nothing, so a batch retried
 * after a crash between the steps is neither lost nor counted twice.
 *
 * KEYS: the applied record of this slot and partition, then per unit the entity key.
 * ARGV: token, the call's event keys ('length<TAB>group:event_id' per event
 * of each unit in order, for the applied record), then per unit: group index,
 * event count, and per event: event_time, event_type (only when a feature of
 * the group filters on it), the group's field values ('' = absent).
 */
export function applyScript(groups: readonly EntityGroup[], settings: StateSettings, pendingTimeoutMs: number): string {
  const table = groups
    .map((group) => {
      const features = group.features
        .map(({ definition }) => {
          const fieldIndex = definition.field === undefined ? 0 : group.fields.indexOf(definition.field) + 1;
          if (definition.aggregate === 'changed') return `{ k = 'c', fi = ${fieldIndex} }`;
          const types =
            definition.eventTypes === undefined ? 'false' : `{ ${definition.eventTypes.map((t) => `[${lua(t)}] = true`).join(', ')} }`;
          const horizon = definition.windowMs + settings.allowedLatenessMs;
          const width = definition.aggregate === 'count' ? 8 : definition.aggregate === 'sum' ? 16 : 0;
          return `{ k = '${definition.aggregate}', fi = ${fieldIndex}, types = ${types}, w = ${definition.windowMs}, h = ${horizon}, width = ${width} }`;
        })
        .join(',\n      ');
      return `  ['${group.index}'] = { nf = ${group.fields.length}, typed = ${group.typed}, ttl = '${group.ttlMs}', n = ${group.features.length}, hfmt = '<${'I4'.repeat(group.features.length)}',
    feats = {
      ${features}
    } }`;
    })
    .join(',\n');
  return `
local G = {
${table}
}
local AP_TTL = '${pendingTimeoutMs}'
local AP_MAX = 1000000
local spack, sunpack, ssub, tconcat, floor = struct.pack, struct.unpack, string.sub, table.concat, math.floor

-- Fixed-width sections (count: 8 bytes, sum: 16 bytes per entry, time first).
local function timeAt(s, width, i)
  return (sunpack('<d', s, (i - 1) * width + 1))
end
-- Index of the first entry in [lo, hi] whose time is > x (hi + 1 if none): upperBound.
local function firstAfter(s, width, x, lo, hi)
  hi = hi + 1
  while lo < hi do
    local mid = lo + hi
    mid = (mid - mid % 2) / 2
    if sunpack('<d', s, (mid - 1) * width + 1) <= x then lo = mid + 1 else hi = mid end
  end
  return lo
end
local function num(x)
  if x == floor(x) and x > -1e15 and x < 1e15 then return string.format('%d', x) end
  local s = string.format('%.15g', x)
  if tonumber(s) ~= x then s = string.format('%.17g', x) end
  return s
end
-- Counts are small integers: formatting each once per call is cheaper than tostring() per value.
local INTS = {}
local function int(x)
  local s = INTS[x]
  if not s then
    s = string.format('%d', x)
    INTS[x] = s
  end
  return s
end

local apkey, token, apkeys = KEYS[1], ARGV[1], ARGV[2]
-- Events already applied under the current token (a retried batch). The
-- record is the token, then one segment per call: the call's event keys
-- (ARGV[2]: per event 'length<TAB>group:event_id') and its answer lines.
local raw = redis.call('GET', apkey)
local applied
if raw then
  local nl = string.find(raw, '\\n', 1, true)
  if ssub(raw, 1, nl - 1) == token then
    applied = {}
    local pos = nl + 1
    while pos <= #raw do
      local x = string.find(raw, '\\n', pos, true)
      local kend = x + tonumber(ssub(raw, pos, x - 1))
      local y = string.find(raw, '\\n', kend + 1, true)
      local oend = y + tonumber(ssub(raw, kend + 1, y - 1))
      local kp, op = x + 1, y + 1
      while kp <= kend do
        local tab = string.find(raw, '\\t', kp, true)
        local len = tonumber(ssub(raw, kp, tab - 1))
        local e = string.find(raw, '\\n', op, true)
        if not e or e > oend then e = oend + 1 end
        applied[ssub(raw, tab + 1, tab + len)] = ssub(raw, op, e - 1)
        kp = tab + len + 1
        op = e + 1
      end
      pos = oend + 1
    end
  end
end
local kpos = 1

-- Every entity of the call read with one command.
local blobs = {}
for i = 2, #KEYS, 1000 do
  local part = redis.call('MGET', unpack(KEYS, i, math.min(i + 999, #KEYS)))
  for j = 1, #part do blobs[i + j - 2] = part[j] end
end

local a, k, nargs = 3, 2, #ARGV
-- Scratch tables, reused by every unit.
local out, res, cur, lt, lv, lens, found = {}, {}, {}, {}, {}, {}, {}
local nout = 0
local COUNTS = {}
while a <= nargs do
  local gi = ARGV[a]
  local g = G[gi]
  local count = ARGV[a + 1]
  local n = COUNTS[count]
  if not n then
    n = tonumber(count)
    COUNTS[count] = n
  end
  a = a + 2
  local key = KEYS[k]
  k = k + 1
  local feats, nfeat = g.feats, g.n

  local blob = blobs[k - 2]
  if blob then
    local pos = nfeat * 4 + 1
    local ls = { sunpack(g.hfmt, blob) }
    for i = 1, nfeat do
      local l = ls[i]
      if l > 0 then
        cur[i] = ssub(blob, pos, pos + l - 1)
        pos = pos + l
      else
        cur[i] = false
      end
      lt[i] = nil
    end
  else
    for i = 1, nfeat do
      cur[i] = false
      lt[i] = nil
    end
  end
  local dirty = false

  for _ = 1, n do
    local t = tonumber(ARGV[a])
    local typ, base
    if g.typed then
      typ = ARGV[a + 1]
      base = a + 1
    else
      base = a
    end
    a = base + g.nf + 1
    local done
    if applied then
      local tab = string.find(apkeys, '\\t', kpos, true)
      local len = tonumber(ssub(apkeys, kpos, tab - 1))
      done = applied[ssub(apkeys, tab + 1, tab + len)]
      kpos = tab + len + 1
    end
    nout = nout + 1
    if done then
      out[nout] = done
    else
      local tp = spack('<d', t)
      for fi = 1, nfeat do
        local f = feats[fi]
        local kind = f.k
        if kind == 'c' then
          local v = ARGV[base + f.fi]
          if v == '' then
            res[fi] = '0'
          else
            local kt = lt[fi]
            if kt == nil then
              local s = cur[fi]
              if s then
                kt = sunpack('<d', s, 1)
                lv[fi] = ssub(s, 9)
              else
                kt = false
              end
            end
            if kt and lv[fi] ~= v then res[fi] = '1' else res[fi] = '0' end
            -- Ties go to the later arrival (SPEC 3).
            if not kt or t >= kt then
              kt = t
              lv[fi] = v
              cur[fi] = tp .. v
              dirty = true
            end
            lt[fi] = kt
          end
        elseif kind == 'distinct' then
          local s = cur[fi]
          local v = ARGV[base + f.fi]
          local take = v ~= '' and (not f.types or f.types[typ])
          if not s and not take then
            res[fi] = '0'
          else
            -- One pass: distinct values in (t - W, t] (plus v), insertion point, newest time.
            local from = t - f.w
            local d = 0
            local set
            local last = -math.huge
            if take then
              d = 1
              found[1] = v
              last = t
            end
            local ins
            local pos, size = 1, s and #s or 0
            while pos <= size do
              -- One call per entry: time, value (c0 takes the length before it), next position.
              local et, x, nextpos = sunpack('<dHc0', s, pos)
              if et > t then
                if not ins then ins = pos end
              elseif et > from then
                if set then
                  if not set[x] then set[x] = true; d = d + 1 end
                else
                  local seen = false
                  for j = 1, d do
                    if found[j] == x then seen = true; break end
                  end
                  if not seen then
                    d = d + 1
                    found[d] = x
                    if d == 32 then
                      set = {}
                      for j = 1, d do set[found[j]] = true end
                    end
                  end
                end
              end
              if et > last then last = et end
              pos = nextpos
            end
            res[fi] = int(d)
            if take then
              local entry = spack('<dHc0', t, #v, v)
              if not s then
                s = entry
              elseif ins then
                s = ssub(s, 1, ins - 1) .. entry .. ssub(s, ins)
              else
                s = s .. entry
              end
              dirty = true
            end
            local cutoff = last - f.h
            if sunpack('<d', s, 1) <= cutoff then
              local p = 1
              while true do
                local et, el = sunpack('<dH', s, p)
                if et > cutoff then break end
                p = p + 10 + el
              end
              s = ssub(s, p)
              dirty = true
            end
            cur[fi] = s
          end
        else
          local width = f.width
          local s = cur[fi]
          local n = 0
          if s then n = #s / width end
          -- e: upperBound(t) once known; last: the newest time.
          local e, last
          if not f.types or f.types[typ] then
            local entry
            if width == 8 then
              entry = tp
            else
              entry = tp .. spack('<d', tonumber(ARGV[base + f.fi]) or 0)
            end
            if n == 0 then
              s = entry
              last = t
            else
              last = timeAt(s, width, n)
              if last <= t then
                s = s .. entry
                last = t
              else
                local at = firstAfter(s, width, t, 1, n - 1)
                local off = (at - 1) * width
                s = ssub(s, 1, off) .. entry .. ssub(s, off + 1)
                e = at + 1
              end
            end
            n = n + 1
            if not e then e = n + 1 end
            dirty = true
          end
          if n == 0 then
            res[fi] = '0'
          else
            if not e then
              last = timeAt(s, width, n)
              if last <= t then e = n + 1 else e = firstAfter(s, width, t, 1, n - 1) end
            end
            local b = firstAfter(s, width, t - f.w, 1, e - 1)
            if width == 8 then
              res[fi] = int(e - b)
            else
              local sum = 0
              for i = b, e - 1 do sum = sum + sunpack('<d', s, i * 16 - 7) end
              res[fi] = num(sum)
            end
            local cutoff = last - f.h
            if timeAt(s, width, 1) <= cutoff then
              s = ssub(s, (firstAfter(s, width, cutoff, 1, n) - 1) * width + 1)
              dirty = true
            end
            cur[fi] = s
          end
        end
      end
      out[nout] = tconcat(res, ',', 1, nfeat)
    end
  end

  -- All of the entity's writes happen after its whole share of the batch is computed.
  if dirty then
    for i = 1, nfeat do
      local s = cur[i]
      if s then lens[i] = #s else lens[i] = 0; cur[i] = '' end
    end
    redis.call('SET', key, spack(g.hfmt, unpack(lens, 1, nfeat)) .. tconcat(cur, '', 1, nfeat), 'PX', g.ttl)
  elseif blob then
    redis.call('PEXPIRE', key, g.ttl)
  end
end

local text = tconcat(out, '\\n', 1, nout)
local segment = #apkeys .. '\\n' .. apkeys .. #text .. '\\n' .. text
-- Under one token the record grows with every call: only while events stay pending,
-- which a redelivery ends. Past AP_MAX (events pending that nobody redelivers) it
-- restarts, so that no call copies an unbounded record.
if applied and #raw < AP_MAX then segment = raw .. segment else segment = token .. '\\n' .. segment end
redis.call('SET', apkey, segment, 'PX', AP_TTL)
return text
`;
}
